"""Overview: the whole claim in one row of pictures."""

from __future__ import annotations

import math

import streamlit as st

from alibi_lsh.app import cache, display, mask_data, session
from alibi_lsh.masks import mask_running_mean
from alibi_lsh.slopes import alibi_kernel

session.ensure_entry_point()
controls = session.current()
font = display.figure_font(controls.lecture)

display.page_head(
    "ALiBi is an average of random block masks",
    "ALiBi lowers the attention between positions i and j by a penalty that grows with their distance; "
    "after the softmax this multiplies the attention by **exp(-m|i-j|)**. "
    "That number is exactly the chance that i and j land in the same block when we cut the sequence into "
    "random contiguous blocks, so the average of R random block masks (left to right: target, average, "
    "difference) approaches the ALiBi matrix as R grows.",
    controls.lecture,
)
st.latex(
    r"e^{-m|i-j|} = \Pr\big[\,i \text{ and } j \text{ in the same block}\,\big] = \mathbb{E}\,[M_{ij}],"
    r"\qquad \hat M = \frac{1}{R}\sum_{r=1}^{R} M_r \to e^{-m|i-j|}"
)
session.page_controls("samples", "n", "head")

try:
    data = cache.claim_data(
        controls.n, controls.slope, controls.samples, controls.scheme, controls.seed, controls.head_index
    )
except ValueError as error:
    display.error_box(error)
else:
    display.figure_heading(
        f"n = {controls.n} positions, {controls.slope_label()}, R = {controls.samples} {controls.scheme} samples",
        controls.lecture,
    )
    figure = cache.claim_figure(
        controls.n, controls.slope, controls.samples, controls.scheme, controls.seed, font, controls.head_index
    )
    display.show_plotly(
        figure,
        "overview_kernel_mean_difference",
        lambda: display.matrix_table(kernel=data.kernel, mean=data.mean, difference=data.mean - data.kernel),
    )
    if data.factor > 1:
        st.caption(
            f"Drawn at {data.kernel.shape[0]} x {data.kernel.shape[0]} pixels: each pixel averages "
            f"{data.factor} x {data.factor} positions. Errors below use the full n x n matrices."
        )
    cols = st.columns(4)
    cols[0].metric("max |mean - kernel|", f"{data.max_error:.3f}", help="Largest error of any single entry.")
    cols[1].metric("spectral-norm error", f"{data.spectral_error:.3f}", help="||mean - kernel||_2 (Lanczos).")
    cols[2].metric("relative Frobenius error", f"{data.frobenius_error:.3f}", help="||mean - kernel||_F / ||kernel||_F")
    cols[3].metric("1 / sqrt(R)", f"{1 / math.sqrt(controls.samples):.3f}", help="How fast the errors shrink with R.")

st.subheader("Explore")
links = [
    ("pages/lecture.py", "Lecture (guided tour)", "the story step by step, one figure per step, for a projector"),
    ("pages/masks.py", "Masks", "single random block masks, their widths and the law they follow"),
    ("pages/convergence.py", "Convergence", "watch the average approach the kernel as R grows; errors against R"),
    ("pages/attention.py", "Attention", "exact ALiBi attention against R short-block attentions and a window"),
    ("pages/scaling.py", "Scaling", "time and error as the context length grows"),
    ("pages/theory.py", "Theory", "the width law, the error bounds and other kernels, each with a live check"),
    ("pages/language_model.py", "Language model", "does a trained ALiBi model keep its perplexity?"),
]
for path, label, what in links:
    left, right = st.columns([1, 3])
    left.page_link(path, label=label)
    right.markdown(what)

display.show_code(mask_data.claim_data, mask_running_mean, alibi_kernel, lecture=controls.lecture)
