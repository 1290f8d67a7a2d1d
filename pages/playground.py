"""Cost playground: drag n, m, w and R and find where random blocks pay off (computed in the browser)."""

from __future__ import annotations

import streamlit as st

from alibi_lsh.app.live.playground import (
    HEAD_DIM,
    PlaygroundStart,
    cost_playground,
    followed_controls,
    starting_point,
    to_query_params,
)
from alibi_lsh.app.ui import display, session

session.ensure_entry_point()
controls = session.current()

display.page_head(
    "Cost playground: when do random blocks pay off?",
    "Drag the positions **n**, the slope **m**, a window **w** and the number of block samples **R** (all on "
    "log scales). Your browser computes, on its own small example (random q, k, v, d = "
    f"{HEAD_DIM}), how many keys each query reads, the multiply-adds, and how far each output lies from exact "
    "ALiBi. The chart sweeps every w and R = 1, 2, 4, ... and circles every point where the two curves cross at "
    "equal cost; the blocks' curve is one draw: **draw again** for another.",
    controls.lecture,
)


REPORTED = "cost_playground_reported"  # the browser's last report, until this page's run writes the URL


def follow(start: PlaygroundStart) -> None:
    """The playground's report: its n, m and R become the app's, the rest goes in the URL (written
    by the page's run below: a URL change made inside a callback does not reach the browser)."""
    session.follow_controls(followed_controls(session.current(), start))
    st.session_state[REPORTED] = to_query_params(start)


params = {**st.query_params.to_dict(), **st.session_state.pop(REPORTED, {})}
start, notes = starting_point(controls.n, controls.slope, controls.samples, params, controls.seed)
for note in notes:
    st.warning(note, icon=":material/warning:")
st.query_params.update(to_query_params(start))  # bookmarkable; a value moved shows as used
cost_playground(start, key="cost_playground", lecture=controls.lecture, on_report=follow)
st.caption(
    "Every setting is in the page's address (bookmark it): n, m and R are the app's; w, the score std "
    "and causal follow. Without a w in the address, the window starts where exp(-m w) falls to about 1e-3. "
    "Error: ||out - exact|| / ||exact|| over all queries. Keys of the blocks: the union of each query's R blocks "
    "(binning, the app's seed, head index 0), measured on the blocks drawn; **draw again** takes the next seed "
    "(one draw of the blocks can be lucky: compare a few). Crossings: where the blocks' error at R = 1, 2, 4, ... "
    "crosses the window's, read off the window's curve (every w of its slider) on log-log axes. Multiply-adds: "
    "q.k and the weighted v per key read, plus R counts for the blocks."
)
