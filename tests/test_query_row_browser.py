"""The one-query figure (alibi_lsh/app/live/query_row.*) in headless Chromium.

What the browser computes for one query row i (its scores, the counts c_ij of its R blocks, the
weights of exact ALiBi, the blocks and the window, the output rows and their errors) must equal the
library on the same q, k, v and the same blocks: alibi_attention, window_alibi_attention and
lsh_alibi_attention_reference give the output rows, and, with v the identity, the weight rows
themselves; sample_partitions gives the counts. Both sides compute in float64 and differ only by
the order of sums (~1e-15), so 1e-6 is a loose bound. At score scale 0 the exact weights are the
normalised kernel exp(-m|i - j|) (analytic). In the tour (served by the real app) the numbers the
figure shows are checked the same way, dragging the query and R sliders redraws (R = 2 is reached
by a drag), the frame rate while dragging is printed (never asserted), and screenshots at
1280 x 720 and 1024 x 768 in lecture mode and at 390 x 844 go to ``screenshots/``.

Mandatory in CI (env CI set); locally skipped only when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alibi_lsh import alibi_attention, alibi_slopes, lsh_alibi_attention_reference, window_alibi_attention
from alibi_lsh.app.live.query_row import (
    HEAD_DIM,
    SCHEME,
    QueryRowStart,
    component_source,
    example_tensors,
    row_errors,
    union_keys,
)
from alibi_lsh.app.ui.tour import STEPS
from alibi_lsh.masks import sample_partitions

from .browser_support import SCREENSHOTS, WatchedBrowser, chromium_browser, require_chromium, streamlit_server
from .test_browser import FIGURE_BOX, LAYOUT_FACTS, check_figure_whole, check_projector_layout

require_chromium()

TOLERANCE = 1e-6
ROOT = ".alibi-qr"
HANDLE = f"document.querySelector('{ROOT}')?.queryRow"
STEP = next(index for index, step in enumerate(STEPS, 1) if step.key == "one_query")
FIGURE = ".st-key-tour_figure_one_query"

LOAD_MODULE = """async (source) => {
    const url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));
    window.qr = await import(url);
}"""

# The module's queryRow on its example (exampleTensors) and the head's blocks, as plain arrays.
RUN_ROW = """(a) => {
    const [q, k, v] = qr.exampleTensors(a.n, a.d);
    const bounds = qr.sampleBounds(qr.drawBlocks(a.n, a.slope, a.samples, a.scheme, a.seed, a.headIndex), a.n);
    const r = qr.queryRow({q, k, v, n: a.n, d: a.d, slope: a.slope, scale: a.scale, causal: a.causal, bounds,
                           samples: a.samples, window: a.window, query: a.query});
    const methods = (o) => Object.fromEntries(Object.entries(o).map(([name, x]) => [name, Array.from(x)]));
    return {
        settings: {...a, scoreScale: a.scale * Math.sqrt(a.d)},
        q: Array.from(q), k: Array.from(k), v: Array.from(v),
        scores: Array.from(r.scores, (x) => Number.isFinite(x) ? x : null),
        counts: Array.from(r.counts), bias: Array.from(r.bias, (x) => Number.isFinite(x) ? x : null),
        weights: methods(r.weights), out: methods(r.out), errors: r.errors, keys: r.keys, union: r.union,
    };
}"""


def library_row(q, k, v, settings: dict) -> dict:
    """Query row i of the library's three methods on q, k, v (n x d, float64), and its counts."""
    n, i, slope, samples = settings["n"], settings["query"], settings["slope"], settings["samples"]
    causal, window, head = settings["causal"], settings["window"], settings["headIndex"]
    seed = int(settings["seed"])
    q, k, v = (torch.tensor(x, dtype=torch.float64).reshape(1, 1, n, -1) for x in (q, k, v))
    scale = settings["scoreScale"] / math.sqrt(q.shape[-1])
    if scale == 0:  # the library takes scale > 0 only: zero queries give the positional weights alone
        q, scale = torch.zeros_like(q), 1.0
    identity = torch.eye(n, dtype=torch.float64).reshape(1, 1, n, n)  # v = I: the output rows are the weights
    methods = {
        "exact": lambda values: alibi_attention(q, k, values, [slope], causal, scale),
        "window": lambda values: window_alibi_attention(q, k, values, [slope], window, causal, scale=scale),
        "blocks": lambda values: lsh_alibi_attention_reference(
            q, k, values, [slope], samples, causal, SCHEME, seed, scale, head_offset=head
        ),
    }
    out = {name: method(v)[0, 0, i].numpy() for name, method in methods.items()}
    weights = {name: method(identity)[0, 0, i].numpy() for name, method in methods.items()}
    counts = np.zeros(n, dtype=np.int64)
    for partition in sample_partitions(n, slope, samples, SCHEME, seed, head=head):
        starts = partition.starts.tolist() + [n]
        block = next(b for b in range(len(starts) - 1) if starts[b] <= i < starts[b + 1])
        counts[starts[block] : starts[block + 1]] += 1
    if causal:
        counts[i + 1 :] = 0
    errors = {name: float(np.linalg.norm(out[name] - out["exact"]) / np.linalg.norm(out["exact"])) for name in out}
    scores = (scale * q[0, 0, i] @ k[0, 0].T).numpy()
    return {"out": out, "weights": weights, "counts": counts, "errors": errors, "scores": scores}


def assert_row_equals_the_library(shown: dict, example: dict) -> None:
    settings = shown["settings"]
    n, i = settings["n"], settings["query"]
    expected = library_row(example["q"], example["k"], example["v"], settings)
    assert np.array_equal(shown["counts"], expected["counts"]), "counts c_ij differ"
    for name in ("exact", "blocks", "window"):
        np.testing.assert_allclose(shown["weights"][name], expected["weights"][name], rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(shown["out"][name], expected["out"][name], rtol=0, atol=TOLERANCE)
    for name in ("blocks", "window"):
        assert shown["errors"][name] == pytest.approx(expected["errors"][name], rel=1e-6, abs=1e-12), name
    # The bias of the blocks: log(c_ij / R) where c_ij > 0, not read (-inf, null) elsewhere.
    counts = expected["counts"]
    bias = [math.log(c / settings["samples"]) if c else None for c in counts]
    assert [b is None for b in shown["bias"]] == [b is None for b in bias]
    np.testing.assert_allclose([b for b in shown["bias"] if b is not None], [b for b in bias if b is not None])
    end = i + 1 if settings["causal"] else n
    assert shown["scores"][end:] == [None] * (n - end)
    np.testing.assert_allclose(shown["scores"][:end], expected["scores"][:end], rtol=0, atol=TOLERANCE)
    # The union of i's blocks is one run of keys, all read; the keys read are its length.
    lo, hi = shown["union"]
    assert np.all(counts[lo:hi] > 0) and not counts[:lo].any() and not counts[hi:].any()
    assert shown["keys"] == {
        "exact": end,
        "blocks": hi - lo,
        "window": min(end, i + settings["window"]) - max(0, i - settings["window"] + 1),
    }


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield WatchedBrowser(chromium)


@pytest.fixture(scope="module")
def js(browser):
    """A blank page with the component's module (blocks.js, estimator.js, query_row.js) as ``qr``."""
    page = browser.new_page()
    page.set_content("<!doctype html><title>query row module</title>")
    page.evaluate(LOAD_MODULE, component_source()["js"])
    yield page.evaluate
    page.close()


SLOPES = [float(m) for m in alibi_slopes(8)]
CASES = [
    # n, query, R, head (0-based), window, score scale, causal, seed
    (96, 48, 8, 3, 16, 1.0, False, "0"),
    (96, 95, 1, 0, 1, 2.0, True, "7"),
    (64, 10, 64, 7, 64, 0.0, False, "0"),
    (128, 100, 512, 5, 33, 4.0, True, str(2**53 + 1)),
    (17, 0, 2, 2, 5, 0.25, False, "3"),
]


@pytest.mark.parametrize(("n", "query", "samples", "head", "window", "score_scale", "causal", "seed"), CASES)
def test_the_module_row_equals_the_library_on_shared_blocks(
    js, n, query, samples, head, window, score_scale, causal, seed
):
    shown = js(
        RUN_ROW,
        {
            "n": n, "d": HEAD_DIM, "query": query, "samples": samples, "headIndex": head, "slope": SLOPES[head],
            "window": window, "scale": score_scale / math.sqrt(HEAD_DIM), "causal": causal, "seed": seed,
            "scheme": SCHEME,
        },
    )  # fmt: skip
    assert_row_equals_the_library(shown, shown)
    if samples <= 2:  # few blocks: the estimate is visibly off exact ALiBi, so the check above is not vacuous
        assert shown["errors"]["blocks"] > 100 * TOLERANCE


def test_the_example_is_seeded_standard_normals(js):
    """q, k, v: 3 x 128 x 8 values from the seeded stream, the same at any n (n only slices), with the
    moments of standard normals (mean within 4 sigma = 4 / sqrt(3072) of 0, variance within 10 %)."""
    small, large = js("() => [qr.exampleTensors(16, 8), qr.exampleTensors(128, 8)].map(t => t.map(x => Array.from(x)))")
    for a, b in zip(small, large):
        assert a == b[: len(a)]
    values = np.concatenate(large)
    assert abs(values.mean()) < 4 / math.sqrt(values.size) and abs(values.var() - 1) < 0.1


@pytest.mark.parametrize(
    "start",
    [
        QueryRowStart(),
        QueryRowStart(n=64, head=8, samples=1, window=3, query=63, score_scale=2.5, causal=True, seed=11),
        QueryRowStart(n=128, heads=12, head=1, samples=512, window=100, query=0, score_scale=0.0),
    ],
    ids=["default", "causal", "scale0"],
)
def test_the_python_twins_equal_the_browser(js, start):
    """example_tensors (the answer's example) equals the browser's exampleTensors to the last bits of
    log, cos and sin; row_errors and union_keys equal the row the browser computes."""
    slope = float(alibi_slopes(start.heads)[start.head - 1])
    shown = js(
        RUN_ROW,
        {
            "n": start.n, "d": HEAD_DIM, "query": start.query, "samples": start.samples, "headIndex": start.head - 1,
            "slope": slope, "window": start.window, "scale": start.score_scale / math.sqrt(HEAD_DIM),
            "causal": start.causal, "seed": str(start.seed), "scheme": SCHEME,
        },
    )  # fmt: skip
    for name, tensor in zip("qkv", example_tensors(start.n)):
        np.testing.assert_allclose(shown[name], tensor.flatten().numpy(), rtol=1e-13, atol=1e-13)
    row = row_errors(start, start.window)
    assert row.blocks_keys == union_keys(start) == shown["keys"]["blocks"]
    assert row.window_keys == shown["keys"]["window"]
    assert row.blocks_error == pytest.approx(shown["errors"]["blocks"], rel=1e-6, abs=1e-12)
    assert row.window_error == pytest.approx(shown["errors"]["window"], rel=1e-6, abs=1e-12)


# --- the figure in the tour, served by the app --------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with streamlit_server("app.py", tmp_path_factory.mktemp("query_row_server")) as url:
        yield url


def open_step(browser, server, viewport: dict, touch: bool = False):
    context = browser.new_context(viewport=viewport, has_touch=touch, is_mobile=touch)
    page = context.new_page()
    page.goto(f"{server}/lecture?lecture=1&step={STEP}", wait_until="domcontentloaded")
    page.wait_for_function(f"() => {HANDLE}?.stats.frames > 0", timeout=90_000)
    assert page.locator("[data-testid='stException']").count() == 0
    return page


@pytest.fixture(scope="module")
def step(browser, server):
    page = open_step(browser, server, {"width": 1280, "height": 720})
    yield page
    page.context.close()


# Sets the controls (the values the sliders hold: R as log2 R), waits for the redraw, returns the snapshot.
SET = f"""async (values) => {{
    const figure = {HANDLE};
    const c = figure.ui.controls;
    for (const [name, value] of Object.entries(values)) {{
        if (c[name].type === "checkbox") c[name].checked = value; else c[name].value = String(value);
    }}
    const frames = figure.stats.frames;
    c.query.dispatchEvent(new Event("input"));
    while (figure.stats.frames === frames) await new Promise(r => requestAnimationFrame(r));
    return figure.snapshot();
}}"""

SETTINGS = [
    {"query": 48, "scale": 1, "samples": 3, "window": 16, "head": "4", "causal": False},
    {"query": 95, "scale": 2.5, "samples": 1, "window": 40, "head": "8", "causal": True},
    {"query": 0, "scale": 4, "samples": 9, "window": 1, "head": "1", "causal": False},
    {"query": 60, "scale": 0, "samples": 0, "window": 96, "head": "6", "causal": True},
]


@pytest.mark.parametrize("values", SETTINGS, ids=lambda v: f"i{v['query']}-R{2 ** v['samples']}-w{v['window']}")
def test_the_numbers_shown_equal_the_library(step, values):
    shown = step.evaluate(SET, values)
    settings = shown["settings"]
    assert (settings["query"], settings["samples"], settings["window"], settings["head"]) == (
        values["query"], 2 ** values["samples"], values["window"], int(values["head"]),
    )  # fmt: skip
    assert settings["slope"] == SLOPES[settings["head"] - 1] and settings["headIndex"] == settings["head"] - 1
    example = step.evaluate(f"{HANDLE}.exampleShown()")
    assert (example["n"], example["d"]) == (settings["n"], HEAD_DIM)
    assert_row_equals_the_library(shown, example)
    # The legend says what was computed: R, w and the errors as drawn.
    legend = " | ".join(shown["legend"])
    assert f"R = {settings['samples']}: error {as_shown(shown['errors']['blocks'])} " in legend, legend
    assert f"w = {settings['window']}: error {as_shown(shown['errors']['window'])} " in legend, legend


def as_shown(error: float) -> str:
    """An error as the legend writes it (query_row.js, formatError)."""
    if error < 1e-13:
        return "0"
    if error >= 1e-3:
        return f"{float(f'{error:.3g}'):.15g}"
    mantissa, exponent = f"{error:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def test_at_score_scale_0_exact_weights_are_the_normalised_kernel(step):
    shown = step.evaluate(SET, {"query": 30, "scale": 0, "samples": 3, "window": 8, "head": "5", "causal": False})
    settings = shown["settings"]
    n, i, slope = settings["n"], settings["query"], settings["slope"]
    kernel = np.exp(-slope * np.abs(np.arange(n) - i))
    np.testing.assert_allclose(shown["weights"]["exact"], kernel / kernel.sum(), rtol=0, atol=1e-12)
    # The window's weights are the kernel cut at |i - j| < w, normalised again; the blocks' are c_ij / sum c.
    cut = kernel * (np.abs(np.arange(n) - i) < settings["window"])
    np.testing.assert_allclose(shown["weights"]["window"], cut / cut.sum(), rtol=0, atol=1e-12)
    counts = np.array(shown["counts"], dtype=float)
    np.testing.assert_allclose(shown["weights"]["blocks"], counts / counts.sum(), rtol=0, atol=1e-12)
    assert all(score == 0 for score in shown["scores"])


# SET, failing after 10 s instead of waiting forever for a redraw that an error stopped.
SET_WITHIN_10_S = f"""(values) => Promise.race([({SET})(values),
    new Promise((_, fail) => setTimeout(() => fail(new Error("no redraw within 10 s")), 10000))])"""


def test_one_key_read_draws_on_a_log_axis(step):
    """Causal query 0 reads one key: every method's weight is 1. The log axis still spans a decade
    (a range of zero once looped forever) and the legend counts "1 key"."""
    errors = []

    def record(error) -> None:
        errors.append(error)

    step.on("pageerror", record)
    shown = step.evaluate(
        SET_WITHIN_10_S, {"query": 0, "scale": 1, "samples": 3, "window": 8, "head": "4", "causal": True, "log": True}
    )
    step.remove_listener("pageerror", record)
    assert not errors, errors
    assert shown["weights"]["exact"][0] == shown["weights"]["blocks"][0] == shown["weights"]["window"][0] == 1
    assert "(1 key)" in " | ".join(shown["legend"])
    step.evaluate(SET, {"causal": False, "log": False})  # back to the module's other tests' settings


def drag(page, control: str, fractions: list[float]) -> tuple[int, float]:
    """Drag a slider's thumb with the mouse through ``fractions`` of its width; (redraws, seconds)."""
    slider = page.locator(f"{ROOT} [data-control='{control}']")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + fractions[0] * box["width"], y)
    page.mouse.down()
    before = page.evaluate(f"[{HANDLE}.stats.frames, performance.now()]")
    for fraction in fractions[1:]:
        page.mouse.move(box["x"] + fraction * box["width"], y)
    after = page.evaluate(f"[{HANDLE}.stats.frames, performance.now()]")
    page.mouse.up()
    return after[0] - before[0], (after[1] - before[1]) / 1000


def test_dragging_the_query_and_r_sliders_redraws(step):
    page = step
    page.evaluate(SET, {"query": 0, "samples": 5, "causal": False})
    sweep = [0.02 + 0.96 * t / 40 for t in range(41)]
    frames, seconds = drag(page, "query", sweep)
    settings = page.evaluate(f"{HANDLE}.snapshot().settings")
    assert frames >= 10 and settings["query"] >= 80, (frames, settings)
    print(f"dragging the query: {frames} redraws for {len(sweep)} mouse moves, {frames / seconds:.0f} per second")
    # R on a log2 slider (positions 0..9): its second position is R = 2; a drag from the right gets there.
    steps = 9
    frames, _ = drag(page, "samples", [0.95, 0.7, 0.4, 0.2, (1 + 0.1) / steps])
    assert frames >= 3 and page.evaluate(f"{HANDLE}.snapshot().settings.samples") == 2
    # Paced by the browser's frames (one slider step per animation frame): the redraw rate itself.
    rate = page.evaluate(PACED_DRAG, "query")
    print(f"paced drag of the query: {rate['fps']:.0f} frames per second, median redraw {rate['median']:.2f} ms")
    assert rate["frames"] >= 30


PACED_DRAG = f"""async (control) => {{
    const figure = {HANDLE};
    const input = figure.ui.controls[control];
    const [low, high] = [Number(input.min), Number(input.max)];
    const first = figure.stats.frames;
    const started = performance.now();
    for (let t = 0; t < 120; t++) {{
        input.value = String(low + ((high - low) * (t % 60)) / 59);
        input.dispatchEvent(new Event("input"));
        await new Promise(r => requestAnimationFrame(r));
    }}
    const frames = figure.stats.frames - first;
    const times = figure.stats.drawMs.slice(-frames).sort((a, b) => a - b);
    return {{frames, fps: frames / ((performance.now() - started) / 1000), median: times[times.length >> 1]}};
}}"""


# With the controls set to ``values``: the texts of the figure (labels, legends) that stick out of
# its box or of their own column.
OUTSIDE = f"""async (values) => {{
    await ({SET})(values);
    const root = document.querySelector('{ROOT}').getBoundingClientRect();
    const out = [];
    for (const e of document.querySelectorAll('{ROOT} span, {ROOT} label, {ROOT} select')) {{
        const range = document.createRange();  // the text's own extent, not its (stretched) box
        range.selectNodeContents(e);
        const r = e.tagName === "SELECT" ? e.getBoundingClientRect() : range.getBoundingClientRect();
        const column = e.closest('.alibi-qr__control, .alibi-qr__legend').getBoundingClientRect();
        if (r.width && (r.left < root.left - 1 || r.right > root.right + 1 || r.right > column.right + 1))
            out.push(e.textContent.trim());
    }}
    return out;
}}"""


def test_the_step_fits_a_projector_and_a_phone_and_screenshots(browser, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = open_step(browser, server, {"width": 1280, "height": 720})
    for (width, height), name in (((1280, 720), "one_query_1280x720_lecture"), ((1024, 768), "one_query_1024x768")):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(800)
        where = f"one-query step at {width} x {height}"
        check_projector_layout(page, where)
        check_figure_whole(page, where, FIGURE)
        assert page.evaluate(f"document.querySelector('{ROOT}').dataset.layout") == "wide"
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
        assert page.evaluate(OUTSIDE, {"scale": 0}) == [], where  # the longest labels stay in the figure
        # The positional weights alone on a log axis: the kernel's tail, the window's cut, the blocks' steps.
        page.evaluate(SET, {"scale": 0, "log": True})
        page.screenshot(path=str(SCREENSHOTS / f"{name}_positions_log.png"))
        page.evaluate(SET, {"scale": 1, "log": False})
    page.evaluate(SET, {"query": 95, "causal": True, "samples": 0, "head": "8", "window": 40})
    page.screenshot(path=str(SCREENSHOTS / "one_query_1024x768_causal_R1.png"))
    page.set_viewport_size({"width": 1280, "height": 720})
    page.get_by_text("Predict first", exact=False).first.evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / "one_query_1280x720_question.png"))
    page.context.close()
    page = open_step(browser, server, {"width": 390, "height": 844}, touch=True)
    page.wait_for_timeout(800)
    box = page.evaluate(FIGURE_BOX, FIGURE)
    shown = min(box["bottom"], 844) - max(box["top"], 0)
    assert shown >= (box["bottom"] - box["top"]) / 2, f"phone: figure {box['top']:.0f}..{box['bottom']:.0f} px"
    facts = page.evaluate(LAYOUT_FACTS)
    assert facts["pageWidth"] <= facts["viewportWidth"] + 1 and not facts["wide"], facts
    widths = page.evaluate(f"[...document.querySelectorAll('{ROOT} [data-panel] canvas')].map(c => c.clientWidth)")
    assert len(widths) == 3 and min(widths) >= 300, widths
    assert page.evaluate(f"document.querySelector('{ROOT}').dataset.layout") == "single"
    assert page.evaluate(OUTSIDE, {"scale": 0}) == []
    page.screenshot(path=str(SCREENSHOTS / "one_query_390x844.png"))
    page.locator(f"{ROOT} [data-control='causal']").evaluate("e => e.scrollIntoView({block: 'end'})")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / "one_query_390x844_controls.png"))
    page.context.close()
    assert browser.foreign_requests(server) == []
