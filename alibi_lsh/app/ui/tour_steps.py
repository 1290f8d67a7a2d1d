"""Drawing the guided tour: the navigation row, each step's controls and its one figure.

Step ``key`` draws its figure in a container keyed ``tour_figure_<key>`` (and names its CSV
``tour_<key>``), so a browser test can wait for exactly that figure.

Every figure comes from the cached builders the pages use, with the pages' own default settings,
so a step shares its cache entries with the page it summarises (and renders in well under a
second on a 2-core machine). The tour is meant for a projector, so it always uses lecture fonts.
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import pandas as pd
import streamlit as st

from ...samplers import SCHEMES
from .. import figures
from ..data import attention_data, cache, lm_cache, stored_bench, verdict
from ..figures.style import LECTURE_FONT_SIZE
from ..live import query_row
from . import display, live_panel, prediction, session
from .controls import R_MAX, Controls
from .tour import NUM_STEPS, STEPS, Step, parse_step

STEP_KEY = "tour_step"  # the last step shown in this session (the URL parameter "step" wins)
FONT = LECTURE_FONT_SIZE
ATTENTION_MAX_HEADS = 16  # as on the Attention page
ERROR_SEEDS = (0, 1, 2)  # as the Convergence page's default
NAV = "tour_nav"  # the container of Previous / title / Next
KEYS = "tour_keys"  # the container of the script that answers the keys
KEYS_HINT = "tour_keys_hint"  # the line that names the keys
# Steps whose figure is wider than tall (two heatmaps and their colour bars, the live figure's four
# panels, charts of two panels side by side): drawn across the whole width, under the sentences,
# instead of beside them.
WIDE_FIGURES = frozenset({"bias", "convergence", "error", "one_query", "scaling", "language_model", "verdict"})
# A step's figure in pixels, to end in the first screen of a 1280 x 720 projector: beside the
# sentences, or under them (charts of several panels keep their own panels' height).
HEIGHT = 480
WIDE_HEIGHT = 450
SECOND_HEIGHT = 260  # the chart under the live figure
PHONE_HEIGHT = 540  # a heatmap on a phone: its bar and title above a square as wide as the column
ATTENTION_WINDOW = 32  # the attention step's one window for every head (its question is about it)
SHRINK_CHOICES = {"it stays the same": 1.0, "about 2x smaller": 2.0, "about 4x smaller": 4.0, "about 16x smaller": 16.0}
RACE_CHOICES = ("the window", "the blocks", "a tie")
ASKS_BESIDE = frozenset({"attention"})  # steps whose question stands beside the figure, under the sentences
EQUAL_KEYS_CHOICES = ("the window", "the blocks", "about the same")
EQUAL_KEYS_TIE = 1.25  # errors within this factor of each other: "about the same"
SHRINK_SEEDS = tuple(range(8))  # the R x 4 answer: a mean over 8 seeds, so that one unlucky draw cannot decide it


def current_step() -> int:
    """The step of the URL (clamped, with a warning), else this session's last one, else 1."""
    raw = st.query_params.get("step", st.session_state.get(STEP_KEY))
    index, message = parse_step(raw)
    if message:
        st.warning(message, icon=":material/warning:")
    st.session_state[STEP_KEY] = index
    if st.query_params.get("step") != str(index):
        st.query_params["step"] = str(index)  # bookmarkable, and a clamped value shows as used
    return index


def _go(index: int) -> None:
    """Button callback: show step ``index`` (kept in range)."""
    index = min(max(index, 1), NUM_STEPS)
    st.session_state[STEP_KEY] = index
    st.query_params["step"] = str(index)


def navigation_row(index: int) -> None:
    """Previous / the step's title / Next, and the tour's keys (:func:`install_keys`)."""
    nav = st.container(key=NAV)  # one row on a phone too (page_setup.PAGE_CSS)
    left, middle, right = nav.columns([2, 5, 2], vertical_alignment="center")
    left.button(
        "Previous",
        key="tour_previous",
        on_click=_go,
        args=(index - 1,),
        disabled=index == 1,
        icon=":material/arrow_back:",
        width="stretch",
    )
    middle.subheader(f"{index} / {NUM_STEPS} · {STEPS[index - 1].title}", anchor=False)
    right.button(
        "Next",
        key="tour_next",
        on_click=_go,
        args=(index + 1,),
        disabled=index == NUM_STEPS,
        icon=":material/arrow_forward:",
        icon_position="right",
        width="stretch",
        type="primary",
    )
    install_keys()


def install_keys() -> None:
    """PageUp / PageDown always press Previous / Next, whatever has the focus; the arrow keys do
    when the focus is not in a control (tour_keys.js). Streamlit's own button shortcuts are not used:
    they are ignored while an input has the focus, so a clicked slider would swallow a remote's keys."""
    with st.container(key=KEYS):  # out of the layout: the script takes no height
        st.html(f"<style>.st-key-{KEYS} {{ display: none; }}</style>")
        st.html(f"<script>{_keys_script()}</script>", unsafe_allow_javascript=True)


@functools.cache
def _keys_script() -> str:
    return resources.files(__package__).joinpath("tour_keys.js").read_text(encoding="utf-8")


def _double_samples() -> None:
    """Button callback: twice the shared R, which is the R on screen (a drag in the live figure sets
    it when let go)."""
    session.set_samples(2 * session.current().samples)


def _controls_row(step: Step, stacked: bool = False) -> None:
    """The step's live controls (at most two): side by side at the left, or one under the other."""
    if not step.controls:
        return
    columns = [st.container() for _ in step.controls] if stacked else st.columns(2, vertical_alignment="bottom")
    for field, column in zip(step.controls, columns):
        if field == "seed":
            column.button("Draw another", key="tour_resample", on_click=session.resample, icon=":material/casino:")
        elif field == "double_samples":
            column.button(
                "R × 2",
                key="tour_double_samples",
                on_click=_double_samples,
                disabled=session.current().samples >= R_MAX,
                icon=":material/fast_forward:",
                help=f"Twice the masks drawn in the figure, up to {R_MAX}: a click instead of a drag.",
            )
        else:
            session.control_widget(field, session.ON_PAGE, column)


def _bias(controls: Controls) -> None:
    """Bias and kernel in two columns: side by side on a projector, one under the other on a phone."""
    data = cache.bias_kernel(controls.n, controls.slope)
    wide = figures.bias_kernel_panels(data.bias, data.kernel, data.factor, FONT, WIDE_HEIGHT)
    # A phone: each square the column's width, its colour bar above it instead of beside it.
    phone = figures.bias_kernel_panels(data.bias, data.kernel, data.factor, FONT, PHONE_HEIGHT, narrow=True)
    left, right = st.columns(2)
    for column, index, name in ((left, 0, "tour_bias"), (right, 1, "tour_kernel")):
        with column:
            display.by_screen(
                name,
                functools.partial(display.show_plotly, wide[index], name, height=WIDE_HEIGHT),
                functools.partial(display.show_plotly, phone[index], f"{name}_phone", height=PHONE_HEIGHT),
            )
    display.csv_download(lambda: display.matrix_table(bias=data.bias, kernel=data.kernel), "tour_bias")


def _mask(controls: Controls, scheme: str) -> None:
    sampled = cache.mask_samples(controls.n, controls.slope, 1, scheme, controls.seed, controls.head_index)
    figure = cache.mask_grid(
        controls.n, controls.slope, 1, scheme, controls.seed, FONT, cols=1, head=controls.head_index
    )
    display.show_plotly(figure, f"tour_{scheme}", sampled.table, height=HEIGHT)


def _triangles(controls: Controls) -> None:
    profile = cache.distance_profile(
        controls.n, controls.slope, controls.samples, controls.scheme, controls.seed, head=controls.head_index
    )
    spec = cache.distance_profile_spec(profile, "exp(-m d)", 1e-3, False, FONT)
    display.show_altair(spec, "tour_triangles", profile, height=HEIGHT)


def _convergence(controls: Controls) -> None:
    """The live figure (R dragged in the browser), then the question how much 4x the masks shrink
    the error; once revealed, the error of these very masks against r answers it (drawn before the
    guess, its slope of -1/2 would give the answer away)."""
    view = live_panel.show(controls, key="tour_live", lecture=True, controls_beside=True)
    base = _shrink_base(view.samples)
    prediction.ask(
        "shrink",
        f"from R = {base} to R = {4 * base} masks, how much will the error of the mean shrink?",
        tuple(SHRINK_CHOICES),
        lambda: shrink_answer(view.n, view.slope, base, view.scheme, view.head),
    )
    if not prediction.is_revealed("shrink"):
        return
    summary, references = cache.error_summary(
        view.n, view.slope, view.samples, (view.scheme,), (view.seed,), False, view.head
    )
    summary = summary[summary["metric"] == "max-norm"]
    references = references[references["metric"] == "max-norm"]
    spec = cache.error_curves_spec(summary, references, view.samples, (view.scheme,), FONT)
    display.show_altair(spec, "tour_convergence", summary, height=SECOND_HEIGHT)


def _shrink_base(samples: int) -> int:
    """The R the question starts from: the R drawn, kept so that 4R stays within the cap."""
    return max(1, min(samples, R_MAX // 4))


def shrink_answer(n: int, slope: float, samples: int, scheme: str, head: int) -> prediction.Answer:
    """The measured ratio error(R) / error(4R) of the mean of masks (relative Frobenius, mean over
    :data:`SHRINK_SEEDS`) and the choice nearest to it on a log scale."""
    summary, _ = cache.error_summary(n, slope, 4 * samples, (scheme,), SHRINK_SEEDS, False, head)
    errors = summary[summary["metric"] == "relative Frobenius"].set_index("R")["mean"]
    before, after = float(errors[samples]), float(errors[4 * samples])
    ratio = before / after if after > 0 else math.inf
    choice = min(SHRINK_CHOICES, key=lambda name: abs(math.log(SHRINK_CHOICES[name]) - math.log(ratio)))
    return prediction.Answer(
        choice,
        f"Measured on masks like these (relative error, mean over {len(SHRINK_SEEDS)} seeds): {before:.3f} at "
        f"R = {samples}, {after:.3f} at R = {4 * samples}, {ratio:.2f}x smaller. "
        "Each entry is an average of coin flips: its error falls like 1/sqrt(R), so 4x the masks halve it.",
    )


def _error(controls: Controls) -> None:
    summary, references = cache.error_summary(
        controls.n, controls.slope, controls.samples, SCHEMES, ERROR_SEEDS, False, controls.head_index
    )
    spec = cache.error_curves_spec(summary, references, controls.samples, SCHEMES, FONT)
    display.show_panels(spec, "tour_error", summary, height=HEIGHT - 40)


def _attention(controls: Controls, aside=None) -> None:
    """Scores off (scale 0): the weights are the positional kernel, its blocks' estimate and a window's
    cut, on a log axis; then the question which head a window of 32 fails on."""
    heads = min(controls.heads, ATTENTION_MAX_HEADS)
    head = min(controls.head, heads) if controls.slope_mode == "alibi" else 1
    window = min(controls.n, ATTENTION_WINDOW)
    setup = cache.attention_setup(controls.n, heads, controls.samples, controls.scheme, controls.seed, 0.0, True)
    query = controls.n - 1  # the last row sees the whole causal past: the longest tail
    row = attention_data.attention_row(setup, head - 1, query, window)
    st.caption(
        f"Head {head} of {heads} (m = {setup.slopes[head - 1]:.4g}), query i = {query}, R = {controls.samples}, "
        f"score scale 0, window w = {window}."
    )
    display.show_altair(cache.attention_log_spec(row, query, window, FONT), "tour_attention", row, height=HEIGHT)
    prediction.ask(
        "window_head",
        f"which head will a window of {window} fail on (the largest output error, score scale 1)?",
        tuple(f"head {h}" for h in range(1, heads + 1)),
        lambda: window_head_answer(controls, heads, window),
        place=aside,
        narrow=aside is not None,
    )


def window_head_answer(controls: Controls, heads: int, window: int) -> prediction.Answer:
    """The head whose output error under a window of ``window`` is the largest (scores of scale 1)."""
    errors = cache.head_output_errors(
        controls.n, heads, controls.samples, controls.scheme, controls.seed, 1.0, True, window
    )
    windowed = errors[errors["method"].str.startswith("window")].set_index("head")
    blocks = errors[~errors["method"].str.startswith("window")].set_index("head")
    worst = int(windowed["relative error"].idxmax())
    slope = float(windowed.loc[worst, "slope"])
    return prediction.Answer(
        f"head {worst}",
        f"A window of {window} drops the share exp(-m w) = {math.exp(-slope * window):.0%} of head {worst}'s kernel "
        f"(m = {slope:.4g}); its output error is {windowed.loc[worst, 'relative error']:.3f} against "
        f"{windowed.loc[1, 'relative error']:.1e} on head 1, and the blocks' error there is "
        f"{blocks.loc[worst, 'relative error']:.3f} (R = {controls.samples}). A window sized per head avoids this.",
    )


def _one_query(controls: Controls) -> None:
    """One query row computed in the browser: scores, the blocks' bias against ALiBi's, the weights of
    the three methods and their output errors, on the component's own small example. It starts at
    the shared head and seed, with a few blocks (R = 8) so that the steps of log(c_ij / R) show."""
    heads = min(controls.heads, query_row.MAX_HEADS)
    head = min(controls.head, heads) if controls.slope_mode == "alibi" else min(4, heads)
    start = query_row.QueryRowStart(heads=heads, head=head, seed=controls.seed)
    query_row.query_row(start, key="tour_one_query", lecture=True)
    window = query_row.equal_keys_window(start)
    prediction.ask(
        "equal_keys",
        f"for query i = {start.query} of head {head}, the R = {start.samples} blocks read "
        f"{query_row.union_keys(start)} keys; a window of w = {window} reads "
        f"{query_row.window_keys(start.n, start.query, window, start.causal)}. Which has the smaller output error?",
        EQUAL_KEYS_CHOICES,
        lambda: equal_keys_answer(start, window),
    )


def equal_keys_answer(start: query_row.QueryRowStart, window: int) -> prediction.Answer:
    """The method with the smaller output error for the start's query at (about) equal keys, from the
    library on the figure's example and blocks; within a factor EQUAL_KEYS_TIE of each other, a tie."""
    row = query_row.row_errors(start, window)
    why = {
        "the window": "the window keeps the kernel exactly up to its cut, the blocks spend as many keys on a noisy "
        "estimate of it.",
        "the blocks": "here the kernel beyond the window's cut weighs more than the noise of the blocks' estimate.",
        "about the same": "the kernel the window cuts off weighs about as much as the noise of the blocks' estimate.",
    }
    if row.window_error * EQUAL_KEYS_TIE < row.blocks_error:
        choice = "the window"
    elif row.blocks_error * EQUAL_KEYS_TIE < row.window_error:
        choice = "the blocks"
    else:
        choice = "about the same"
    return prediction.Answer(
        choice,
        f"Computed by the library on the figure's example (score scale {start.score_scale:g}): the blocks read "
        f"{row.blocks_keys} keys for an output error of {row.blocks_error:.3g}, the window of w = {window} reads "
        f"{row.window_keys} for {row.window_error:.3g}. Set w = {window} in the figure to see both: {why[choice]}",
    )


SCALING_NUMBERS = "tour_scaling_numbers"


def _scaling(controls: Controls) -> None:
    results = cache.stored_results("cpu")
    if results is None:
        st.info("No stored benchmark ships with this installation; the Scaling page measures one.")
        return
    labels = set(results.frame["label"])
    cases = tuple(case for case in stored_bench.DEFAULT_CASES if case in labels)
    errors = block_errors(results.frame, cases)
    if errors:  # the numbers to say out loud, above the chart: in the first screen of a projector
        with st.container(key=SCALING_NUMBERS):  # after the chart on a phone (page_setup.PAGE_CSS)
            st.markdown(errors + " " + window_against_blocks(results.frame))
    # 380 px with titles and axes (a slide's chart at least): under the two paragraphs, half a gap
    # below the numbers (page_setup.PAGE_CSS), it ends at 704 px, 16 px above a 720 px fold.
    spec = cache.scaling_spec(results.frame, cases, FONT)
    display.show_panels(spec, "tour_scaling", results.frame, height=380)
    std = stored_bench.score_std(results)
    scores = f"; random scores with standard deviation {std:g}" if std is not None else ""
    st.caption(f"Stored run: {results.machine}, torch {results.torch}, {results.created}{scores}.")


def block_errors(frame: pd.DataFrame, cases: tuple[str, ...]) -> str:
    """The blocks' relative error at each R drawn (median over n), read from the stored run, in words."""
    rows = frame[frame["label"].isin(cases) & (frame["method"] == "lsh")].dropna(subset=["rel_error"])
    errors = rows.groupby("samples")["rel_error"].median()
    if errors.empty:
        return ""
    listed = ", ".join(f"{error:.2f} at R = {samples}" for samples, error in errors.items())
    return f"Relative error of the blocks (median over n): {listed}; like 1/sqrt(R), 4x the samples halve it."


def window_against_blocks(frame: pd.DataFrame) -> str:
    """The window's error and time against the blocks' at their largest R (binning), over n, in words."""
    ok = frame[frame["status"] == "ok"]
    window = ok[ok["method"] == "window"].set_index("n")
    blocks = ok[(ok["method"] == "lsh") & (ok["scheme"] == "binning")]
    largest = int(blocks["samples"].max())
    blocks = blocks[blocks["samples"] == largest].set_index("n")
    common = window.index.intersection(blocks.index)
    speedup = blocks.loc[common, "time_ms"] / window.loc[common, "time_ms"]
    return (
        f"The window (sized per head) has error {window.loc[common, 'rel_error'].min():.3f}-"
        f"{window.loc[common, 'rel_error'].max():.3f} at n = {common.min()}-{common.max()}, and takes "
        f"{speedup.min():.1f}-{speedup.max():.1f}x less time than the blocks at R = {largest}."
    )


def perplexity_gaps(summary: pd.DataFrame) -> str:
    """The stored perplexity gaps of the blocks at their largest R (binning) and of each window, in words."""
    lengths = sorted(summary["length"].unique())
    blocks = summary[(summary["method"] == "lsh") & (summary["scheme"] == "binning")]
    largest = int(blocks["R"].max())
    gaps = blocks[blocks["R"] == largest]["gap_pct"]
    raise_by = f"**{gaps.min():+.1f} to {gaps.max():+.1f} %**"
    parts = [f"At R = {largest} the blocks (binning) raise the perplexity by {raise_by}"]
    windows = summary[summary["method"] == "window"]
    for width, rows in sorted(windows.groupby("window"), key=lambda item: -item[0]):
        low, high = rows["gap_pct"].min(), rows["gap_pct"].max()
        parts.append(f"a window of {width} changes it by {low:+.1f} to {high:+.1f} %")
    return "; ".join(parts) + f" (lengths {lengths[0]}-{lengths[-1]})."


def _language_model(controls: Controls) -> None:
    spec = lm_cache.stored_perplexity_spec(FONT)
    if spec is None:
        st.info("The language model's evaluation tables are missing (`python -m alibi_lsh.lm eval` writes them).")
        return
    st.markdown(perplexity_gaps(lm_cache.stored_evaluation().summary))
    display.show_altair(spec, "tour_language_model", lm_cache.stored_evaluation().summary)


def _verdict(controls: Controls) -> None:
    """The question, the stored race at one n, and once revealed, the verdict in numbers."""
    run = cache.stored_verdict()
    if run is None:
        st.info("No verdict run ships with this installation (`python -m alibi_lsh.app.data.verdict_bench` writes it).")
        return
    prediction.ask("race", "at equal time, which has the lower error?", RACE_CHOICES, lambda: race_answer(run))
    display.show_panels(cache.verdict_spec(run.frame, FONT), "tour_verdict", run.frame, height=388)
    if prediction.is_revealed("race"):
        st.markdown(" ".join(verdict.verdict_sentences(run)))
    st.caption(f"{verdict.LABELS_NOTE} Stored run: {run.machine}, {run.created}; `{run.command}`.")
    # (a page link does not wrap: short enough for a phone's line)
    st.page_link("pages/playground.py", label="Try other inputs: the cost playground", icon=":material/tune:")


def race_answer(run: verdict.VerdictRun) -> prediction.Answer:
    race = verdict.equal_time(run)
    return prediction.Answer(f"the {race.winner}", verdict.race_sentence(run))


DRAW = {
    "bias": _bias,
    "binning": lambda controls: _mask(controls, "binning"),
    "cuts": lambda controls: _mask(controls, "cuts"),
    "triangles": _triangles,
    "convergence": _convergence,
    "error": _error,
    "attention": _attention,
    "one_query": _one_query,
    "scaling": _scaling,
    "language_model": _language_model,
    "verdict": _verdict,
}


def show_step(index: int, controls: Controls) -> None:
    """Step ``index`` (1-based): its sentences, controls and figure, and a link to its page.

    Laid out for a projector's one screen: the figure at the left, two thirds of the width, with the
    sentences and controls beside it; a figure wider than tall (:data:`WIDE_FIGURES`) takes the whole
    width under them, the sentences beside the controls. On a phone the figure comes first.
    """
    step = STEPS[index - 1]
    if step.key in WIDE_FIGURES:
        words, at_hand = (
            st.columns([3, 2], vertical_alignment="bottom") if step.controls else (st.container(), st.container())
        )
        figure = st.container(key=f"tour_wide_{step.key}")  # first on a phone (page_setup.PAGE_CSS)
    else:
        figure, words = st.columns([2, 1])
        at_hand = words
    words.markdown(step.text)
    aside = words.container()  # a question asked beside a narrow figure, right under the sentences
    with at_hand:
        _controls_row(step, stacked=step.key not in WIDE_FIGURES)
    with figure, st.container(key=f"tour_figure_{step.key}"):
        try:
            if step.key in ASKS_BESIDE:
                DRAW[step.key](controls, aside)
            else:
                DRAW[step.key](controls)
        except ValueError as error:
            display.error_box(error)
    words = st if step.key in WIDE_FIGURES else words
    words.page_link(step.page, label="The whole story on its page", icon=":material/open_in_new:")
    with words.container(key=KEYS_HINT):  # hidden on touch screens (page_setup.PAGE_CSS)
        st.caption("Keys: PageDown or → for the next step, PageUp or ← for the previous one.")
