"""Cost playground: drag n, m, w and R and find where random blocks pay off (computed in the browser)."""

from __future__ import annotations

import streamlit as st

from alibi_lsh.app.live.playground import HEAD_DIM, cost_playground, starting_point
from alibi_lsh.app.ui import display, session

session.ensure_entry_point()
controls = session.current()

display.page_head(
    "Cost playground: when do random blocks pay off?",
    "Drag the positions **n**, the slope **m**, a window **w** and the number of block samples **R** (all on "
    "log scales). Your browser computes, on its own small example (random q, k, v, d = "
    f"{HEAD_DIM}), how many keys each query reads, the multiply-adds, and how far each output lies from exact "
    "ALiBi. The chart sweeps every w and R = 1, 2, 4, ... and circles where one method overtakes the other at "
    "equal cost, if it does.",
    controls.lecture,
)

start, notes = starting_point(controls.n, controls.slope, controls.samples)
for note in notes:
    st.warning(note, icon=":material/warning:")
cost_playground(start, key="cost_playground", lecture=controls.lecture)
st.caption(
    "Starts from the app's n, m and R, with the window where exp(-m w) falls to about 1e-3 "
    f"(w = {start.window}, on the slider's steps). "
    "Error: ||out - exact|| / ||exact|| over all queries. Keys of the blocks: the union of each query's R blocks "
    "(binning, seed 0, head index 0), measured on the blocks drawn. Multiply-adds: q.k and the weighted v per key "
    "read, plus R counts for the blocks."
)
