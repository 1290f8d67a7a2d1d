"""Convergence: the running mean of r masks approaches the ALiBi kernel, errors shrink like 1/sqrt(R)."""

from __future__ import annotations

import streamlit as st

from alibi_lsh.app.data import cache, mask_data
from alibi_lsh.app.data.theory_data import BOUND_REASONS
from alibi_lsh.app.figures.narrow import stack_panels
from alibi_lsh.app.ui import display, live_panel, session
from alibi_lsh.app.ui.controls import Controls
from alibi_lsh.masks import mask_running_mean
from alibi_lsh.metrics import max_norm_bound, spectral_norm_bound, spectral_norm_error
from alibi_lsh.samplers import SCHEMES

MAX_HEADS_SHOWN = 16  # per-head view: H n^2 matrices; more heads would not fit the screen either
LIVE_KEY = "convergence_live"

session.ensure_entry_point()
controls = session.current()
font = display.figure_font(controls.lecture)
phone = live_panel.narrow(LIVE_KEY)  # reported by the live figure: a phone's first screen is the figure's

at_hand = display.page_head(
    "Convergence: averaging more masks",
    "Drag **R** in the figure to average the masks one after another: the mean fills in towards the kernel, "
    "and the error fades to white (your browser samples and draws them). Below, the error is measured "
    "for every R on log-log axes, where 'shrinks like 1/sqrt(R)' is a straight line of slope -1/2.",
    controls.lecture,
    beside=True,  # on a projector n shares the folded explanation's row: the figure starts higher
    folded=phone,
)
session.page_controls("n", container=at_hand)  # R and the head: the live figure's own, in step with the shared ones

if not phone:  # on a phone the folded explanation says it
    display.figure_heading(
        "Live in your browser: drag R and watch the mean of the first R masks fill in", controls.lecture
    )
# On a projector the figure's controls stand beside its panels: the whole figure in the first screen.
live_panel.show_with_numbers(controls, key=LIVE_KEY, controls_beside=controls.lecture)


@st.fragment
def error_against_r(controls: Controls, font: int) -> None:
    """The error-against-R comparison, in a fragment (its own controls redraw only this part of the page).
    Drawn at once: at the default n = 256 the max-norm and Frobenius curves take about 0.1 s; the
    spectral norm (Lanczos, the slow part) stays a switch."""
    st.subheader("Error against R")
    left, mid, right = st.columns([3, 2, 2])
    schemes = left.multiselect("Schemes", SCHEMES, default=list(SCHEMES), key="conv_schemes")
    num_seeds = mid.select_slider(
        "Seeds per scheme",
        [2, 3, 4, 6, 8],
        value=3,
        key="conv_seeds",
        help="Seeds 0..S-1 (independent of the sidebar seed); line = mean, band = min to max.",
    )
    spectral = right.toggle(
        "Spectral norm",
        value=False,
        key="conv_spectral",
        help="Adds the spectral-norm panel and its bound: Lanczos on every matrix, the slowest metric "
        "(about twice the rest of the measurement).",
    )
    if not schemes:
        st.info("Pick at least one scheme to draw the error curves.")
        return
    try:
        summary, references = cache.error_summary(
            controls.n,
            controls.slope,
            controls.samples,
            tuple(schemes),
            tuple(range(num_seeds)),
            spectral,
            controls.head_index,
        )
    except ValueError as error:
        display.error_box(error)
        return
    chart = cache.error_curves_spec(summary, references, controls.samples, tuple(schemes), font)
    if live_panel.narrow(LIVE_KEY):  # a phone: the panels one under the other, each wide enough to read
        chart = stack_panels(chart)
    display.show_altair(chart, "error_against_R", summary)
    st.caption(
        f"Dashed: 1/sqrt(R) from the mean error at R = 1. Dotted: the bound that holds with probability 95% "
        f"for independent samples (scheme {schemes[0]}; qmc samples are not independent, so there it is a "
        "reference line)."
    )
    reasons = [("Max-norm bound", BOUND_REASONS["max-norm error"])]
    if spectral:
        reasons.append(("Spectral bound", BOUND_REASONS["spectral-norm error"]))
    st.markdown("\n".join(f"- **{name}, why loose:** {reason}" for name, reason in reasons))


error_against_r(controls, font)

st.subheader("Every head of a standard ALiBi model")
heads = min(controls.heads, MAX_HEADS_SHOWN)
if controls.heads > MAX_HEADS_SHOWN:
    st.warning(f"H = {controls.heads} heads requested; showing the first {MAX_HEADS_SHOWN} (the steepest slopes).")
st.markdown(
    f"The {heads} heads of ALiBi have slopes 2^(-8h/H): steep heads look only at neighbours (thin diagonal), "
    f"flat heads far away. Each head averages R = {controls.samples} masks of its own width law."
)
try:
    per_head = cache.per_head_data(controls.n, heads, controls.samples, controls.scheme, controls.seed)
except ValueError as error:
    display.error_box(error)
else:
    narrow = live_panel.narrow(LIVE_KEY)  # a phone: one panel per row
    shown = None
    if narrow:  # and one head at a time (two panels, not 2H in one long column); the bars below show every head
        first = min(controls.head, heads) if controls.slope_mode == "alibi" else 1
        head_shown = st.selectbox("Head shown", range(1, heads + 1), index=first - 1, key="conv_head_shown")
        shown = (head_shown - 1,)
    heatmaps = cache.per_head_figure(
        controls.n, heads, controls.samples, controls.scheme, controls.seed, font, narrow, shown
    )
    display.show_plotly(heatmaps, "per_head_heatmaps")
    st.caption(
        f"Drawn at {per_head.kernels.shape[-1]} x {per_head.kernels.shape[-1]} pixels per head in 8-bit colours; "
        "the bars below give each head's exact errors (with a CSV)."
    )
    display.show_altair(cache.head_error_spec(per_head.table, font), "per_head_errors", per_head.table)

display.show_code(
    mask_running_mean,
    spectral_norm_error,
    max_norm_bound,
    spectral_norm_bound,
    mask_data.error_curves,
    lecture=controls.lecture,
)
