"""The live masks component inside a real Streamlit page (tests/live_masks_app.py) in headless Chromium.

What the browser draws must be what the library computes: the mask counts on screen equal
mask_running_mean's for the same settings, and after the reader moves a control the max-norm
error the component reports equals the one the server computes for the settings it reports. The
frame rate while a script drags R is measured and printed (not asserted: it depends on the
machine). Screenshots at 390 x 844 (a phone, by touch), 1280 x 720 and 1600 x 1000 go to
``screenshots/`` (or ``$ALIBI_LSH_SCREENSHOTS``).
"""

from __future__ import annotations

import json
import math
import statistics
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
import torch

from alibi_lsh import alibi_kernel, mask_running_mean, max_norm_error, sample_partitions

from .browser_support import SCREENSHOTS, chromium_browser, require_chromium, streamlit_server

require_chromium()

from playwright.sync_api import expect  # noqa: E402  (after the skip: only needed with a browser)

LIVE = ".alibi-live"
SNAPSHOT = "document.querySelector('.alibi-live').liveMasks.snapshot()"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run tests/live_masks_app.py` on a free localhost port (logging to a file)."""
    with streamlit_server("tests/live_masks_app.py", tmp_path_factory.mktemp("live_server")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield chromium


def open_live(context_or_browser, server: str, viewport: dict, **settings):
    page = context_or_browser.new_page(viewport=viewport) if viewport else context_or_browser.new_page()
    page.goto(f"{server}/?{urllib.parse.urlencode(settings)}", wait_until="domcontentloaded")
    page.wait_for_function(
        "() => document.querySelector('.alibi-live')?.liveMasks?.stats.frames > 0",
        timeout=90_000,
    )
    shown = page_json(page)  # the server's run finished too
    assert page.locator("[data-testid='stException']").count() == 0
    return page, shown


def page_json(page, **expected) -> dict:
    """The JSON the test page prints under the figure, once it shows the ``expected`` values."""
    deadline = time.time() + 60
    while True:
        code = page.locator("[data-testid='stCode'] code")
        if code.count():
            try:
                shown = json.loads(code.first.inner_text())
            except json.JSONDecodeError:
                shown = None
            if shown and all(shown.get(name) == value for name, value in expected.items()):
                return shown
        if time.time() > deadline:
            raise AssertionError(f"the page did not show {expected}; last: {shown if code.count() else None}")
        page.wait_for_timeout(200)


def library_counts(settings: dict) -> np.ndarray:
    """Integer counts of 'i and j share a block' over the R masks, from alibi_lsh.mask_running_mean."""
    samples = settings["samples"]
    means, _ = mask_running_mean(
        settings["n"],
        settings["slope"],
        samples,
        settings["scheme"],
        seed=int(settings["seed"]),
        head=settings["head"],
        checkpoints=[samples],
    )
    return torch.round(means[0].double() * samples).numpy().astype(np.int64)


def check_drawn_equals_library(page, shown: dict) -> None:
    """The masks in the browser are the library's, and so is the error beside them."""
    snapshot = page.evaluate(SNAPSHOT)
    settings = snapshot["settings"]
    for name in ("n", "slope", "samples", "scheme", "head"):
        assert settings[name] == shown[name], name
    assert settings["seed"] == shown["seed"]
    n, samples = settings["n"], settings["samples"]
    expected = library_counts(settings)
    assert np.array_equal(np.array(snapshot["counts"]).reshape(n, n), expected)
    seed, head = int(settings["seed"]), settings["head"]
    partitions = sample_partitions(n, settings["slope"], samples, settings["scheme"], seed, head=head)
    assert snapshot["starts"] == [p.starts.tolist() for p in partitions]
    kernel = alibi_kernel(n, [settings["slope"]])[0]
    library_error = float(max_norm_error(torch.from_numpy(expected / samples), kernel))
    # The server's mean is float32 (mask_running_mean), the browser's float64: 1e-6 covers that.
    assert abs(snapshot["maxError"] - library_error) < 1e-6
    assert abs(shown["server_max_norm_error"] - library_error) < 1e-6
    if shown["from_browser"]:
        assert abs(shown["max_norm_error"] - shown["server_max_norm_error"]) < 1e-6


def test_the_masks_drawn_are_the_library_masks(server, browser):
    seed = 2**53 + 1  # not a float64: the browser must carry it as a string and a BigInt
    settings = {"n": 96, "slope": 0.1, "R": 24, "scheme": "qmc", "seed": seed, "head": 5}
    page, shown = open_live(browser, server, {"width": 1600, "height": 1000}, **settings)
    assert shown["from_browser"] is False and shown["max_norm_error"] is None
    check_drawn_equals_library(page, shown)

    # R's slider holds log2(R) in eighths: 24 sits at the nearest eighth, three presses go up 3/8 of an octave.
    samples = page.locator(f'{LIVE} [data-control="samples"]')
    samples.focus()
    for _ in range(3):
        samples.press("ArrowRight")
    moved = round(2 ** ((round(8 * math.log2(24)) + 3) / 8))
    assert moved == 32
    check_drawn_equals_library(page, page_json(page, from_browser=True, samples=moved))

    # Moving the figure in the page mounts it anew: it must come back with the R moved to, which the
    # server holds, not with the R = 24 of the arguments.
    page.locator(LIVE).evaluate("e => { e.liveMasks.before = true; }")
    page.get_by_text("Put the figure in a box").click()
    page.get_by_text("The figure was mounted again").wait_for()
    page.wait_for_function(  # one figure left (the old one is gone), drawn by a new instance
        "(all => all.length === 1 && all[0].liveMasks?.stats.frames > 0 && !all[0].liveMasks.before)"
        "(document.querySelectorAll('.alibi-live'))"
    )
    check_drawn_equals_library(page, page_json(page, from_browser=True, samples=moved))

    page.locator(f"{LIVE} [data-scheme='cuts']").click()
    check_drawn_equals_library(page, page_json(page, scheme="cuts", samples=moved))

    slope = page.locator(f'{LIVE} [data-control="slope"]')
    slope.focus()
    for _ in range(20):
        slope.press("ArrowLeft")
    moved = page.evaluate(SNAPSHOT)["settings"]["slope"]  # the thumb is on the grid of 2^(k/64)
    assert moved < 0.1
    check_drawn_equals_library(page, page_json(page, slope=moved))

    seed_box = page.locator(f'{LIVE} [data-control="seed-text"]')
    seed_box.fill(str(2**63 - 1))
    seed_box.press("Enter")
    check_drawn_equals_library(page, page_json(page, seed=str(2**63 - 1)))

    seed_box.fill("-4")  # refused in place, with a message; nothing is reported
    seed_box.press("Enter")
    assert "seed must be an integer from 0 to 2^63 - 1" in page.locator(f"{LIVE} [data-out='error']").inner_text()
    assert page.evaluate(SNAPSHOT)["settings"]["seed"] == str(2**63 - 1)

    page.locator(f'{LIVE} [data-control="head"]').select_option("1")  # ALiBi head 2 of 8: m = 2^-2, head index 1
    check_drawn_equals_library(page, page_json(page, head=1, slope=0.25))

    # The canvas shows it: the diagonal of the mean is the darkest colour, a far corner white.
    corner_colours = page.evaluate(
        """() => {
        const canvas = document.querySelector('.alibi-live [data-panel="mean"] canvas');
        const context = canvas.getContext('2d');
        const pixel = (x, y) => Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3));
        return [pixel(1, 1), pixel(canvas.width - 2, 1)];
    }"""
    )
    assert corner_colours == [[0x08, 0x30, 0x6B], [0xFF, 0xFF, 0xFF]]
    assert page.locator("[data-testid='stException']").count() == 0
    page.close()


def visible_panels(page) -> list[dict]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.alibi-live [data-panel]')].filter(p => !p.hidden).map(p => {
            const box = p.querySelector('canvas').getBoundingClientRect();
            const caption = p.querySelector('figcaption');
            return {name: p.dataset.panel, x: box.x, y: box.y, width: box.width,
                    captionFits: caption.scrollWidth <= caption.clientWidth};
        })"""
    )


def test_wide_windows_show_four_panels_in_a_row_and_redraw_while_R_is_dragged(server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, _ = open_live(browser, server, {"width": 1280, "height": 720}, n=256, slope=1 / 16, R=64, scheme="binning")
    for width, height in [(1280, 720), (1600, 1000)]:  # a projector, a laptop
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)  # the resize observer lays the panels out again
        assert page.locator(LIVE).get_attribute("data-layout") == "wide"
        panels = visible_panels(page)
        assert [p["name"] for p in panels] == ["sample", "mean", "kernel", "error"]
        assert len({round(p["y"]) for p in panels}) == 1 and min(p["width"] for p in panels) >= 200
        assert all(p["captionFits"] for p in panels)
        page.locator(LIVE).evaluate("e => e.style.setProperty('--alibi-live-font-scale', '1.35')")  # lecture mode
        assert all(p["captionFits"] for p in visible_panels(page)), "a caption is cut off in lecture mode"
        page.locator(LIVE).evaluate("e => e.style.setProperty('--alibi-live-font-scale', '1')")
        assert page.locator(LIVE).evaluate("e => e.scrollWidth <= e.clientWidth"), "the figure overflows sideways"
        page.screenshot(path=str(SCREENSHOTS / f"live_masks_{width}x{height}.png"))

    # The frame rate: a script drags the R thumb back and forth for 3 s at n = 256.
    track = page.locator(f'{LIVE} [data-control="samples"]').bounding_box()
    y = track["y"] + track["height"] / 2
    page.mouse.move(track["x"] + 0.125 * track["width"], y)
    page.mouse.down()
    before = page.evaluate("document.querySelector('.alibi-live').liveMasks.stats.frames")
    page.evaluate("document.querySelector('.alibi-live').liveMasks.stats.drawMs = []")
    moves, started = 0, time.perf_counter()
    while time.perf_counter() - started < 3.0:
        phase = (moves % 200) / 100  # 0 .. 2: right, then back left
        fraction = phase if phase <= 1 else 2 - phase
        page.mouse.move(track["x"] + (0.02 + 0.96 * fraction) * track["width"], y)
        moves += 1
    elapsed = time.perf_counter() - started
    page.mouse.up()
    stats = page.evaluate("document.querySelector('.alibi-live').liveMasks.stats")
    frames = stats["frames"] - before
    print(
        f"\nlive masks, n = 256, binning, dragging R over 1..512 for {elapsed:.1f} s: {frames / elapsed:.0f} frames/s "
        f"({moves / elapsed:.0f} pointer moves/s); compute and draw per frame: median "
        f"{statistics.median(stats['drawMs']):.1f} ms, max {max(stats['drawMs']):.1f} ms"
    )
    assert frames > 10, "dragging R did not redraw"  # behaviour, not speed: the rate is reported above
    shown = page_json(page, from_browser=True)  # letting go reports the settings once
    assert shown["samples"] != 64
    check_drawn_equals_library(page, shown)
    page.close()


def test_a_phone_shows_one_panel_at_a_time_and_works_by_touch(server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
    context = browser.new_context(**phone)
    page, _ = open_live(context, server, None, n=256, slope=1 / 16, R=64)
    assert page.locator(LIVE).get_attribute("data-layout") == "single"
    panels = visible_panels(page)
    assert [p["name"] for p in panels] == ["mean"] and panels[0]["width"] >= 300 and panels[0]["captionFits"]
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.alibi-live__label')).fontSize)")
    assert size >= 13, f"labels at {size}px are too small to read on a phone"

    for scale in ("1.35", "1"):  # lecture mode, then normal text: tabs and caption fit the phone
        page.locator(LIVE).evaluate(f"e => e.style.setProperty('--alibi-live-font-scale', '{scale}')")
        tabs = page.locator(f"{LIVE} [data-show]").evaluate_all(
            "tabs => tabs.map(t => t.scrollWidth <= t.clientWidth && t.getBoundingClientRect().right <= innerWidth)"
        )
        assert tabs == [True] * 4 and visible_panels(page)[0]["captionFits"], scale

    page.locator(f"{LIVE} [data-show='error']").tap()
    page.wait_for_timeout(100)
    assert [p["name"] for p in visible_panels(page)] == ["error"]

    slider = page.locator(f'{LIVE} [data-control="samples"]')
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    page.touchscreen.tap(box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2)
    shown = page_json(page, from_browser=True)
    assert 100 <= shown["samples"] <= 220  # 80 % of the way along log2(R) in 0..9: R about 2^7.2 = 147
    check_drawn_equals_library(page, shown)
    page.locator(f"{LIVE} [data-show='error']").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "live_masks_390x844.png"))
    context.close()


def test_small_r_is_reachable_on_the_log_scale(server, browser):
    """R = 1, 2, 4, 8 each a few key presses apart (a linear 1..512 slider skipped them when dragged),
    and the slider names R for a screen reader."""
    page, _ = open_live(browser, server, {"width": 1280, "height": 720}, n=64, slope=1 / 16, R=64)
    slider = page.locator(f'{LIVE} [data-control="samples"]')
    slider.focus()
    slider.press("Home")
    check_drawn_equals_library(page, page_json(page, from_browser=True, samples=1))
    for expected in (2, 4, 8):
        slider.focus()  # the report of the last move reran the page
        for _ in range(8):  # one octave: eight eighths
            slider.press("ArrowRight")
        check_drawn_equals_library(page, page_json(page, from_browser=True, samples=expected))
        assert slider.get_attribute("aria-valuetext") == f"R = {expected}"
    # A drag to a ninth of the track (log2 R from 0 to 9) lands on R = 2.
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    x_of = lambda value: box["x"] + 8 + value / 9 * (box["width"] - 16)  # noqa: E731  (thumb about 16 px)
    page.mouse.move(x_of(5), y)
    page.mouse.down()
    page.mouse.move(x_of(1), y, steps=6)
    page.mouse.up()
    check_drawn_equals_library(page, page_json(page, from_browser=True, samples=2))
    page.close()


def test_a_clicked_entry_is_followed_as_r_grows(server, browser):
    """Click an entry of the mean: its running fraction against r is drawn, and equals, sample by
    sample, whether the library's partitions put i and j in one block; a new R extends it."""
    settings = {"n": 64, "slope": 1 / 16, "R": 16, "scheme": "binning", "seed": 3, "head": 2}
    page, _ = open_live(browser, server, {"width": 1280, "height": 720}, **settings)
    assert page.locator(f"{LIVE} [data-out='follow']").is_hidden()
    canvas = page.locator(f"{LIVE} [data-panel='mean'] canvas")
    box = canvas.bounding_box()
    i, j = 40, 31
    canvas.click(position={"x": (j + 0.5) / 64 * box["width"], "y": (i + 0.5) / 64 * box["height"]})
    page.locator(f"{LIVE} [data-out='follow']").wait_for(state="visible")
    title = page.locator(f"{LIVE} [data-out='follow-title']").inner_text()
    assert title.startswith(f"entry (i, j) = ({i}, {j})"), title

    def expected(samples: int) -> list[float]:
        partitions = sample_partitions(64, 1 / 16, samples, "binning", 3, head=2)
        shared = [int(torch.searchsorted(p.starts, i, right=True) == torch.searchsorted(p.starts, j, right=True))
                  for p in partitions]  # fmt: skip
        return [sum(shared[: r + 1]) / (r + 1) for r in range(samples)]

    series = page.evaluate("document.querySelector('.alibi-live').liveMasks.followSeries()")
    assert (series["i"], series["j"]) == (i, j) and series["kernel"] == pytest.approx(math.exp(-9 / 16))
    assert series["fractions"] == pytest.approx(expected(16), abs=1e-12)
    slider = page.locator(f'{LIVE} [data-control="samples"]')
    slider.focus()
    for _ in range(8):  # one octave up: R = 32
        slider.press("ArrowRight")
    page_json(page, from_browser=True, samples=32)
    series = page.evaluate("document.querySelector('.alibi-live').liveMasks.followSeries()")
    assert series["fractions"] == pytest.approx(expected(32), abs=1e-12)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(f"{LIVE} [data-out='follow']").screenshot(path=str(SCREENSHOTS / "live_follow_entry.png"))
    page.close()


@pytest.mark.parametrize("scheme", ["binning", "cuts"])
def test_step_makes_one_mask_in_stages_then_adds_it_to_the_mean(server, browser, scheme):
    """Step: W, then s (binning) or the cuts, then the blocks painted, then R + 1 with the library's
    next mask in the mean; the draws named on the way are the library's for sample r = R."""
    settings = {"n": 64, "slope": 1 / 8, "R": 8, "scheme": scheme, "seed": 5, "head": 1}
    page, _ = open_live(browser, server, {"width": 1280, "height": 720}, **settings)
    step = page.locator(f'{LIVE} [data-control="step"]')
    title = page.locator(f"{LIVE} [data-out='sample-title']")
    nxt = sample_partitions(64, 1 / 8, 9, scheme, 5, head=1)[8]
    if scheme == "binning":
        expect(step).to_have_text("Step: draw W")
        step.click()
        expect(title).to_contain_text(f"mask r = 8: W = {nxt.width} drawn")
        expect(step).to_have_text("Step: draw s")
        step.click()
        expect(title).to_contain_text(f"W = {nxt.width}, then s = {nxt.shift} drawn")
    else:
        expect(step).to_have_text("Step: cut the gaps")
        step.click()
        expect(title).to_contain_text(f"mask r = 8: {nxt.num_blocks - 1} gaps cut")
    expect(step).to_have_text("Step: paint the blocks")
    blank = page.evaluate("document.querySelector('.alibi-live').liveMasks.rasters.sample.pixels.slice(0, 1)[0]")
    step.click()
    expect(title).to_contain_text("blocks painted")
    expect(step).to_have_text("Step: add to the mean (R = 9)")
    painted = page.evaluate("Array.from(document.querySelector('.alibi-live').liveMasks.rasters.sample.pixels)")
    assert painted[0] != blank  # entry (0, 0) is always in a block
    assert page.evaluate("document.querySelector('.alibi-live').liveMasks.settings.samples") == 8  # not yet added
    step.click()
    check_drawn_equals_library(page, page_json(page, from_browser=True, samples=9, scheme=scheme))
    page.close()
