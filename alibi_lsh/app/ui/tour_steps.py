"""Drawing the guided tour: the navigation row, each step's controls and its one figure.

Step ``key`` draws its figure in a container keyed ``tour_figure_<key>`` (and names its CSV
``tour_<key>``), so a browser test can wait for exactly that figure.

Every figure comes from the cached builders the pages use, with the pages' own default settings,
so a step shares its cache entries with the page it summarises (and renders in well under a
second on a 2-core machine). The tour is meant for a projector, so it always uses lecture fonts.
"""

from __future__ import annotations

import functools
from importlib import resources

import pandas as pd
import streamlit as st

from ...kernels import PositionalKernel
from ...samplers import SCHEMES
from .. import figures
from ..data import attention_data, cache, lm_cache, stored_bench
from ..figures.style import LECTURE_FONT_SIZE
from . import display, live_panel, session
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
WIDE_FIGURES = frozenset({"bias", "convergence", "error", "scaling", "language_model"})
# A step's figure in pixels, to end in the first screen of a 1280 x 720 projector: beside the
# sentences, or under them (charts of several panels keep their own panels' height).
HEIGHT = 480
WIDE_HEIGHT = 450
SECOND_HEIGHT = 260  # the chart under the live figure


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
    panels = figures.bias_kernel_panels(data.bias, data.kernel, data.factor, FONT, WIDE_HEIGHT)
    left, right = st.columns(2)
    with left:
        display.show_plotly(panels[0], "tour_bias", height=WIDE_HEIGHT)
    with right:
        display.show_plotly(panels[1], "tour_kernel", height=WIDE_HEIGHT)
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
    """The live figure (R dragged in the browser), then the error of its very masks against r."""
    view = live_panel.show(controls, key="tour_live", lecture=True)
    summary, references = cache.error_summary(
        view.n, view.slope, view.samples, (view.scheme,), (view.seed,), False, view.head
    )
    summary = summary[summary["metric"] == "max-norm"]
    references = references[references["metric"] == "max-norm"]
    spec = cache.error_curves_spec(summary, references, view.samples, (view.scheme,), FONT)
    display.show_altair(spec, "tour_convergence", summary, height=SECOND_HEIGHT)


def _error(controls: Controls) -> None:
    summary, references = cache.error_summary(
        controls.n, controls.slope, controls.samples, SCHEMES, ERROR_SEEDS, False, controls.head_index
    )
    spec = cache.error_curves_spec(summary, references, controls.samples, SCHEMES, FONT)
    display.show_altair(spec, "tour_error", summary)


def _attention(controls: Controls) -> None:
    heads = min(controls.heads, ATTENTION_MAX_HEADS)
    head = min(controls.head, heads) if controls.slope_mode == "alibi" else 1
    setup = cache.attention_setup(controls.n, heads, controls.samples, controls.scheme, controls.seed, 1.0, True)
    window = min(controls.n, max(1, round(PositionalKernel.alibi(setup.slopes[head - 1]).mean_width())))
    query = controls.n // 2
    row = attention_data.attention_row(setup, head - 1, query, window)
    st.caption(f"Head {head} of {heads}, query i = {query}, R = {controls.samples}, window w = {window}.")
    display.show_altair(cache.attention_row_spec(row, query, FONT), "tour_attention", row, height=HEIGHT)


def _scaling(controls: Controls) -> None:
    results = cache.stored_results("cpu")
    if results is None:
        st.info("No stored benchmark ships with this installation; the Scaling page measures one.")
        return
    labels = set(results.frame["label"])
    cases = tuple(case for case in stored_bench.DEFAULT_CASES if case in labels)
    errors = block_errors(results.frame, cases)
    if errors:  # the numbers to say out loud, above the chart: in the first screen of a projector
        st.markdown(errors)
    display.show_altair(cache.scaling_spec(results.frame, cases, FONT), "tour_scaling", results.frame)
    st.caption(f"Stored run: {results.machine}, torch {results.torch}, {results.created}.")


def block_errors(frame: pd.DataFrame, cases: tuple[str, ...]) -> str:
    """The blocks' relative error at each R drawn (median over n), read from the stored run, in words."""
    rows = frame[frame["label"].isin(cases) & (frame["method"] == "lsh")].dropna(subset=["rel_error"])
    errors = rows.groupby("samples")["rel_error"].median()
    if errors.empty:
        return ""
    listed = ", ".join(f"{error:.2f} at R = {samples}" for samples, error in errors.items())
    return f"Relative error of the blocks (median over n): {listed}; like 1/sqrt(R), 4x the samples halve it."


def _language_model(controls: Controls) -> None:
    spec = lm_cache.stored_perplexity_spec(FONT)
    if spec is None:
        st.info("The language model's evaluation tables are missing (`python -m alibi_lsh.lm eval` writes them).")
        return
    display.show_altair(spec, "tour_language_model", lm_cache.stored_evaluation().summary)


DRAW = {
    "bias": _bias,
    "binning": lambda controls: _mask(controls, "binning"),
    "cuts": lambda controls: _mask(controls, "cuts"),
    "triangles": _triangles,
    "convergence": _convergence,
    "error": _error,
    "attention": _attention,
    "scaling": _scaling,
    "language_model": _language_model,
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
    with at_hand:
        _controls_row(step, stacked=step.key not in WIDE_FIGURES)
    with figure, st.container(key=f"tour_figure_{step.key}"):
        try:
            DRAW[step.key](controls)
        except ValueError as error:
            display.error_box(error)
    words = st if step.key in WIDE_FIGURES else words
    words.page_link(step.page, label="The whole story on its page", icon=":material/open_in_new:")
    with words.container(key=KEYS_HINT):  # hidden on touch screens (page_setup.PAGE_CSS)
        st.caption("Keys: PageDown or → for the next step, PageUp or ← for the previous one.")
