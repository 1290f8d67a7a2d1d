"""Theory: the width law, the bounds and other kernels, each formula next to a live check."""

from __future__ import annotations

import streamlit as st

from alibi_lsh.app.data import cache
from alibi_lsh.app.ui import display, session
from alibi_lsh.kernels import PositionalKernel
from alibi_lsh.metrics import block_size_bound, max_norm_bound, spectral_norm_bound

LECTURE_CHART_PX = 400  # the first chart, legend and axes included, above a 720 px projector's fold

session.ensure_entry_point()
controls = session.current()
font = display.figure_font(controls.lecture)
n, m, R = controls.n, controls.slope, controls.samples

at_hand = display.page_head(
    "Theory, with live checks",
    "Each formula below is checked on the spot against the sampler for the sidebar's values "
    f"(n = {n}, {controls.slope_label()}, R = {R}, scheme {controls.scheme}). Write q = exp(-m) and d = |i - j|.",
    controls.lecture,
    beside=True,  # on a projector the controls share the folded explanation's row: the figure fits the screen
)
session.page_controls("samples", "head", container=at_hand)

st.header("1. Why a random width gives exp(-m d)")
# The check first, the whole width (a half-width chart beside the formulas was 600 px on a projector),
# then the derivation beside the table of widths.
try:
    profile = cache.distance_profile(n, m, R, controls.scheme, controls.seed, head=controls.head_index)
    law = cache.width_law_check(n, m, controls.scheme, controls.seed, head=controls.head_index)
except ValueError as error:
    display.error_box(error)
    law = None
else:
    spec = cache.distance_profile_spec(profile, "exp(-m d)", 1e-3, False, font)
    display.show_altair(spec, "theory_alibi_profile", profile, height=LECTURE_CHART_PX if controls.lecture else None)
    st.caption(f"Sampled mean: the mean of R = {R} masks averaged along each diagonal |i-j| = d.")
left, right = st.columns([1, 1])
with left:
    st.markdown(
        "Blocks of a fixed width W with a uniform shift s in {0..W-1} put two positions d apart in one block "
        "with probability (1 - d/W)+, a triangle. Mixing triangles with weights pi(W):"
    )
    st.latex(r"\sum_{W\ge1}\pi(W)\Big(1-\frac{d}{W}\Big)_+ = q^{d}\quad\Longleftrightarrow")
    st.latex(
        r"\begin{aligned}\pi(W) &= W\,\big(k(W-1)-2k(W)+k(W+1)\big)\\ &= W q^{W-1}(1-q)^2,\quad W = 1, 2, \dots"
        r"\end{aligned}"
    )
    st.markdown(
        "because the second difference of the mixture in d is pi(d+1)/(d+1) and that of q^d is "
        "q^d (1-q)^2. The mean width is"
    )
    st.latex(
        r"\begin{gathered}\mathbb{E}[W] = \frac{1+q}{1-q} \approx \frac{2}{m},\\"
        r"\Pr[W > w] = q^{w}\,\big(1 + w(1-q)\big).\end{gathered}"
    )
if law is not None:
    right.dataframe(law, hide_index=True, width="stretch")

st.header("2. How far is the mean of R masks from the kernel?")
left, right = st.columns([1, 1])
with left:
    st.markdown(
        "Each entry of the mean is an average of R coin flips with success probability exp(-m d). "
        "Hoeffding's inequality and a union bound over the n(n-1)/2 pairs give, with probability 1 - delta,"
    )
    st.latex(r"\max_{ij} |\hat M_{ij} - K_{ij}| \le \sqrt{\frac{\log\big(n(n-1)/\delta\big)}{2R}}.")
    st.markdown(
        "For the spectral norm, every mask is PSD with norm equal to its longest block, below a length L "
        "(with high probability), and ||K|| <= kappa = (1+q)/(1-q). Matrix Bernstein with B = max(L, kappa)/R, "
        "sigma^2 = L kappa / R and lambda = log(4n/delta) gives"
    )
    st.latex(
        r"\begin{aligned}\|\hat M - K\|_2 \le{} & \frac{B\lambda}{3} + \sqrt{\Big(\frac{B\lambda}{3}\Big)^2"
        r" + 2\sigma^2\lambda}\\ & + \frac{\delta}{2R}.\end{aligned}"
    )
    st.markdown("Both fall like 1/sqrt(R); the spectral one also grows with the mean block width (about 2/m).")
with right:
    try:
        bounds = cache.bounds_table(n, m, R, controls.scheme, controls.seed, head=controls.head_index)
    except ValueError as error:
        display.error_box(error)
    else:
        st.dataframe(
            bounds.style.format({"bound (95%)": "{:.4g}", "measured": "{:.4g}"}), hide_index=True, width="stretch"
        )
        st.caption(
            "Measured: one run with the sidebar's seed. A bound must be above the measured value "
            "(in at least 95% of runs)."
        )

st.header("3. Any decreasing convex kernel works")
left, right = st.columns([1, 1])
with left:
    st.markdown(
        "Nothing above used the exponential except to compute pi. For any kernel k(d) that is decreasing and "
        "convex with k(0) = 1 and k(d) -> 0, the weights pi(W) = W (k(W-1) - 2k(W) + k(W+1)) are >= 0 "
        "(that is what convex means) and sum to 1, so random widths drawn from pi reproduce k exactly. "
        "Example: the power law, with a heavier tail than ALiBi:"
    )
    st.latex(r"k(d) = (1+d)^{-a}, \qquad a > 0.")
    exponent = st.slider("Exponent a", 0.25, 3.0, 1.0, 0.25, key="theory_power")
with right:
    try:
        power = cache.distance_profile(n, exponent, R, "binning", controls.seed, "power")
    except ValueError as error:
        display.error_box(error)
    else:
        spec = cache.distance_profile_spec(power, f"(1+d)^-{exponent:g}", 0.0, True, font)
        display.show_altair(spec, "theory_power_profile", power)
        st.caption(
            f"Binning with the power law's width distribution, R = {R} samples (cuts only fit the exponential). "
            "The far tail is carried by rare, very wide blocks: with few samples none reaches far, so the dots fall "
            "below the line at large d. Raise R to watch them follow it."
        )

display.show_code(
    PositionalKernel.width_pmf,
    PositionalKernel.width_tail,
    max_norm_bound,
    spectral_norm_bound,
    block_size_bound,
    lecture=controls.lecture,
)
