"""Masks: individual random partitions, drawn as binary block-diagonal masks."""

from __future__ import annotations

import streamlit as st

from alibi_lsh.app import app_cache, app_data, app_state
from alibi_lsh.kernels import PositionalKernel
from alibi_lsh.partition import Partition
from alibi_lsh.samplers import BinningSampler, CutsSampler

app_state.ensure_entry_point()
controls = app_state.current()
font = app_cache.figure_font(controls.lecture)

st.title("Random block masks")
st.markdown(
    "Each sample cuts positions 0..n-1 into contiguous blocks; its mask is 1 (dark) where i and j share a block "
    "and 0 (white) elsewhere. With **binning** every block has the same random width W, shifted by a random s; "
    "with **cuts** each gap between neighbours is cut independently with probability 1 - exp(-m)."
)

left, mid, right = st.columns([2, 2, 3])
count = left.select_slider("Masks shown", [4, 8, 12], value=8, key="masks_count")
mid.button("Resample (next seed)", on_click=app_state.resample, icon=":material/casino:", key="masks_resample")
right.markdown(
    f"**n = {controls.n}**, {controls.slope_label()}, scheme **{controls.scheme}**, seed **{controls.seed}** "
    "(change n in the sidebar: 8 to 1024)"
)

try:
    sampled = app_cache.mask_samples(controls.n, controls.slope, count, controls.scheme, controls.seed)
except ValueError as error:
    app_cache.error_box(error)
else:
    figure = app_cache.mask_grid(controls.n, controls.slope, count, controls.scheme, controls.seed, font)
    app_cache.show_plotly(figure, "masks_grid", sampled["table"])
    caption = "Orange squares outline the blocks (drawn for masks with at most 128 blocks)."
    if sampled["factor"] > 1:
        caption += (
            f" Each pixel averages {sampled['factor']} x {sampled['factor']} positions, so block edges look grey."
        )
    st.caption(caption)
    st.subheader("The draws")
    columns = ["sample", "draw", "blocks", "longest block", "block starts"]
    st.dataframe(sampled["table"][columns], hide_index=True, width="stretch")

st.subheader("Block widths over 1000 samples against the theoretical law")
st.markdown(
    "The width W is random: small widths are common, and the law's mean is E[W] = (1+q)/(1-q) with q = exp(-m). "
    "The bars are what the sampler produced; the red line is the formula."
    if controls.scheme != "cuts"
    else "With cuts, the length of a block away from the ends is geometric: P(L = l) = q^(l-1) (1-q) with q = exp(-m). "
    "The bars are what the sampler produced; the red line is the formula."
)
try:
    law = app_cache.block_width_law(controls.n, controls.slope, controls.scheme, controls.seed)
except ValueError as error:
    app_cache.error_box(error)
else:
    spec = app_cache.width_law_spec(controls.n, controls.slope, controls.scheme, controls.seed, font)
    app_cache.show_altair(spec, "block_width_law", law)

app_cache.show_code(
    Partition.from_binning,
    BinningSampler._sample,
    CutsSampler._sample,
    PositionalKernel.width_pmf,
    app_data.block_width_law,
    lecture=controls.lecture,
)
