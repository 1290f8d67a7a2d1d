"""Masks: individual random partitions, drawn as binary block-diagonal masks."""

from __future__ import annotations

import streamlit as st

from alibi_lsh.app import figures
from alibi_lsh.app.data import cache, mask_data
from alibi_lsh.app.ui import display, live_panel, session
from alibi_lsh.kernels import PositionalKernel
from alibi_lsh.partition import Partition
from alibi_lsh.samplers import BinningSampler, CutsSampler

LIVE_KEY = "masks_live"
COUNTS = (4, 8, 12)
LECTURE_COUNTS = (3, 6, 12)
LECTURE_PANEL_PX = 392  # one row of three square masks (about 385 px wide each) on a 1280 x 720 projector

session.ensure_entry_point()
controls = session.current()
font = display.figure_font(controls.lecture)

phone = live_panel.narrow(LIVE_KEY)  # reported by the live figure below
at_hand = display.page_head(
    "Random block masks",
    "Each sample cuts positions 0..n-1 into contiguous blocks; its mask is 1 (dark) where i and j share a block "
    "and 0 (white) elsewhere. With **binning** every block has the same random width W, shifted by a random s; "
    "with **cuts** each gap between neighbours is cut independently with probability 1 - exp(-m).",
    controls.lecture,
    beside=True,  # on a projector the controls share the folded explanation's row: the grid fits the screen
    folded=phone,
)
# A phone sees a mask first and the controls under it; a projector the controls, then the grid.
grid_area = st.container() if phone else None
left, mid, right = at_hand.columns([2, 2, 3], vertical_alignment="bottom")
# Lecture mode: one row of three masks, each about 385 px on a 1280 x 720 projector (four would be 290).
choices = LECTURE_COUNTS if controls.lecture else COUNTS
if st.session_state.get("masks_count", choices[0]) not in choices:  # kept from the other layout
    del st.session_state["masks_count"]
count = left.select_slider("Masks shown", choices, value=choices[0] if controls.lecture else 8, key="masks_count")
mid.button(
    "Resample" if controls.lecture else "Resample (next seed)",
    on_click=session.resample,
    icon=":material/casino:",
    key="masks_resample",
)
if controls.lecture:
    session.control_widget("scheme", session.ON_PAGE, right)
else:
    right.markdown(
        f"**n = {controls.n}**, {controls.slope_label()}, scheme **{controls.scheme}**, seed **{controls.seed}** "
        "(change n in the sidebar: 8 to 1024)"
    )
grid_area = grid_area or st.container()

try:
    sampled = cache.mask_samples(controls.n, controls.slope, count, controls.scheme, controls.seed, controls.head_index)
except ValueError as error:
    with grid_area:
        display.error_box(error)
else:
    with grid_area:
        if phone:
            # One mask at a time, the column's width, chosen in a menu (one per row would be a column
            # of ~3400 px at 8 masks); the table lists every draw.
            if st.session_state.get("masks_shown", 1) > count:
                st.session_state["masks_shown"] = count
            shown = st.selectbox(
                f"Mask shown (of {count})",
                range(1, count + 1),
                format_func=lambda k: f"{k}: {sampled.table['short'][k - 1]}",
                key="masks_shown",
            )
            title = f"{shown}: {sampled.table['short'][shown - 1]}"
            figure = figures.mask_grid([sampled.starts[shown - 1]], controls.n, cols=1, font_size=font, titles=[title])
        elif controls.lecture:
            titles = [f"{k}: {short}" for k, short in zip(sampled.table["sample"], sampled.table["short"])]
            figure = figures.mask_grid(
                sampled.starts,
                controls.n,
                cols=3,
                font_size=font,
                titles=titles,
                panel_height=LECTURE_PANEL_PX,
                compact=True,
            )
        else:
            figure = cache.mask_grid(
                controls.n,
                controls.slope,
                count,
                controls.scheme,
                controls.seed,
                font,
                cols=4,
                head=controls.head_index,
            )
        display.show_plotly(figure, "masks_grid", sampled.table)
        st.caption(
            "Dark squares are the blocks (mask value 1: i and j in one block), white is 0; orange lines outline "
            "the blocks of masks with at most 128 blocks. Drawn exactly from the block starts at every n."
        )
    st.subheader("The draws")
    table_columns = ["sample", "draw", "blocks", "longest block", "block starts"]
    st.dataframe(sampled.table[table_columns], hide_index=True, width="stretch")

st.subheader("Live: sample masks in your browser")
st.markdown(
    "The same sampler runs in your browser: drag the seed or the slope to draw other masks (the newest one is "
    "on the left), R to average more of them. The numbers below are the library's for the masks drawn."
)
live_panel.show_with_numbers(controls, key=LIVE_KEY)

st.subheader("Block widths over 1000 samples against the theoretical law")
st.markdown(
    "The width W is random: small widths are common, and the law's mean is E[W] = (1+q)/(1-q) with q = exp(-m). "
    "The bars are what the sampler produced; the red line is the formula."
    if controls.scheme != "cuts"
    else "With cuts, the length of a block away from the ends is geometric: P(L = l) = q^(l-1) (1-q) with q = exp(-m). "
    "The bars are what the sampler produced; the red line is the formula."
)
try:
    law = cache.block_width_law(controls.n, controls.slope, controls.scheme, controls.seed, head=controls.head_index)
except ValueError as error:
    display.error_box(error)
else:
    spec = cache.width_law_spec(controls.n, controls.slope, controls.scheme, controls.seed, font, controls.head_index)
    display.show_altair(spec, "block_width_law", law)

display.show_code(
    Partition.from_binning,
    BinningSampler._sample,
    CutsSampler._sample,
    PositionalKernel.width_pmf,
    mask_data.block_width_law,
    lecture=controls.lecture,
)
