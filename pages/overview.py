"""Overview: the whole claim in one row of pictures."""

from __future__ import annotations

import streamlit as st

from alibi_lsh.app.data import cache, mask_data
from alibi_lsh.app.ui import display, live_panel, session
from alibi_lsh.masks import mask_running_mean
from alibi_lsh.slopes import alibi_kernel

LIVE_KEY = "overview_live"

session.ensure_entry_point()
controls = session.current()
font = display.figure_font(controls.lecture)
phone = live_panel.narrow(LIVE_KEY)  # reported by the live figure: its first screen is the figure's

# The claim in two lines (two formulas, so that each fits a half-width column in lecture mode).
CLAIM = (
    r"e^{-m|i-j|} = \Pr\big[\,i, j \text{ in one block}\,\big] = \mathbb{E}\,[M_{ij}]",
    r"\hat M = \frac{1}{R}\sum_{r=1}^{R} M_r \;\to\; e^{-m|i-j|}",
)
at_hand = display.page_head(
    "ALiBi is an average of random block masks",
    "ALiBi lowers the attention between positions i and j by a penalty that grows with their distance; "
    "after the softmax this multiplies the attention by **exp(-m|i-j|)**. "
    "That number is exactly the chance that i and j land in the same block when we cut the sequence into "
    "random contiguous blocks, so the average of R random block masks approaches the ALiBi matrix as R grows. "
    "The figure below samples and draws in your browser: drag R, the slope or the seed.",
    controls.lecture,
    formulas=CLAIM,
    beside=True,  # on a projector the controls share the folded explanation's row: the figure fits the screen
    folded=phone,
)
# R and the head are the live figure's own controls (kept in step with the shared ones); n is not.
session.page_controls("n", container=at_hand)

if not (controls.lecture or phone):  # on a projector or a phone the folded explanation says it
    st.subheader("Live in your browser: one mask, the mean of R masks, the kernel and their difference")
view = live_panel.show_with_numbers(controls, key=LIVE_KEY)
if view is not None:
    st.subheader("Along each diagonal: the mean of the masks against exp(-m d)")
    st.markdown(
        "Positions d apart share a block with probability exp(-m d): the mean of the R masks above, averaged "
        "along each diagonal (dots), falls on the formula; the dashed line is the same law written as a mixture "
        "of triangles, one per block width (the Theory page derives it)."
    )
    profile = cache.distance_profile(view.n, view.slope, view.samples, view.scheme, view.seed, head=view.head)
    spec = cache.distance_profile_spec(profile, "exp(-m d)", 1e-3, False, font)
    display.show_altair(spec, "overview_distance_profile", profile)
    display.csv_download(
        lambda: mask_data.claim_table(view.n, view.slope, view.samples, view.scheme, view.seed, view.head),
        "overview_kernel_mean_difference",
        "Download the kernel, the mean and their difference (CSV, every i, j)",
    )

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
