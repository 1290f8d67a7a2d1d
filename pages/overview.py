"""Overview: the whole claim in one row of pictures."""

from __future__ import annotations

import math

import streamlit as st

from alibi_lsh.app import app_cache, app_data, app_state
from alibi_lsh.masks import mask_running_mean
from alibi_lsh.slopes import alibi_kernel

app_state.ensure_entry_point()
controls = app_state.current()
font = app_cache.figure_font(controls.lecture)

st.title("ALiBi is an average of random block masks")
st.markdown(
    "ALiBi lowers the attention between positions i and j by a penalty that grows with their distance; "
    "after the softmax this multiplies the attention by **exp(-m|i-j|)**. "
    "That number is exactly the chance that i and j land in the same block when we cut the sequence into "
    "random contiguous blocks, so the average of R random block masks (left to right: target, average, "
    "difference) approaches the ALiBi matrix as R grows."
)
st.latex(
    r"e^{-m|i-j|} \;=\; \Pr\big[\,i \text{ and } j \text{ in the same block}\,\big] \;=\; \mathbb{E}\,[M_{ij}],"
    r"\qquad \hat M = \frac{1}{R}\sum_{r=1}^{R} M_r \;\longrightarrow\; e^{-m|i-j|}"
)

try:
    data = app_cache.claim_data(controls.n, controls.slope, controls.samples, controls.scheme, controls.seed)
except ValueError as error:
    app_cache.error_box(error)
else:
    st.subheader(
        f"n = {controls.n} positions, {controls.slope_label()}, R = {controls.samples} {controls.scheme} samples"
    )
    figure = app_cache.claim_figure(controls.n, controls.slope, controls.samples, controls.scheme, controls.seed, font)
    app_cache.show_plotly(
        figure,
        "overview_kernel_mean_difference",
        lambda: app_cache.matrix_table(
            kernel=data["kernel"], mean=data["mean"], difference=data["mean"] - data["kernel"]
        ),
    )
    if data["factor"] > 1:
        st.caption(
            f"Drawn at {data['kernel'].shape[0]} x {data['kernel'].shape[0]} pixels: each pixel averages "
            f"{data['factor']} x {data['factor']} positions. Errors below use the full n x n matrices."
        )
    cols = st.columns(4)
    cols[0].metric("max |mean - kernel|", f"{data['max']:.3f}", help="Largest error of any single entry.")
    cols[1].metric("spectral-norm error", f"{data['spectral']:.3f}", help="||mean - kernel||_2 (Lanczos).")
    cols[2].metric("relative Frobenius error", f"{data['frobenius']:.3f}", help="||mean - kernel||_F / ||kernel||_F")
    cols[3].metric("1 / sqrt(R)", f"{1 / math.sqrt(controls.samples):.3f}", help="How fast the errors shrink with R.")

st.subheader("Explore")
links = [
    ("pages/masks.py", "Masks", "single random block masks, their widths and the law they follow"),
    ("pages/convergence.py", "Convergence", "watch the average approach the kernel as R grows; errors against R"),
    ("pages/attention.py", "Attention", "exact ALiBi attention against R short-block attentions and a window"),
    ("pages/scaling.py", "Scaling", "time and error as the context length grows"),
    ("pages/theory.py", "Theory", "the width law, the error bounds and other kernels, each with a live check"),
    ("pages/language_model.py", "Language model", "does a trained ALiBi model keep its perplexity?"),
]
for path, label, what in links:
    left, right = st.columns([1, 4])
    left.page_link(path, label=label)
    right.markdown(what)

app_cache.show_code(app_data.claim_data, mask_running_mean, alibi_kernel, lecture=controls.lecture)
