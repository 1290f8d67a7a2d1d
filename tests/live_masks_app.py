"""A one-figure page for the browser test of the live masks component (tests/test_live_component.py).

The settings come from the URL (n, slope, R, scheme, seed, head, lecture); a checkbox above the
figure puts it in a box, which makes the browser mount it anew. Below the figure the page prints,
as JSON, what the component returned and the max-norm error that the library computes on the
server for those settings, as an app page would next to the live picture.
"""

import contextlib
import json

import streamlit as st

from alibi_lsh import alibi_kernel, mask_running_mean, max_norm_error
from alibi_lsh.app.live import live_masks

st.set_page_config(page_title="Live masks", layout="wide")  # as app.py
params = st.query_params
st.title("Live masks")
st.caption("Drag R, the slope or the seed: the browser samples and draws; the server checks on release.")
moved = st.checkbox("Put the figure in a box")  # a new parent element: the browser mounts the figure anew
with st.container(border=True) if moved else contextlib.nullcontext():
    if moved:
        st.info("The figure was mounted again; it must still show the masks the server describes.")
    view = live_masks(
        n=int(params.get("n", 256)),
        slope=float(params.get("slope", 1 / 16)),
        samples=int(params.get("R", 64)),
        scheme=params.get("scheme", "binning"),
        seed=int(params.get("seed", 0)),
        head=int(params.get("head", 0)),
        lecture=params.get("lecture") == "1",
        key="live",
    )
means, _ = mask_running_mean(**view.mask_arguments(), checkpoints=[view.samples])
server_error = float(max_norm_error(means[0], alibi_kernel(view.n, [view.slope])[0]))
st.code(json.dumps({**view.__dict__, "seed": str(view.seed), "server_max_norm_error": server_error}), language="json")
