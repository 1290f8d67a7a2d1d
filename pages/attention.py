"""Attention: exact ALiBi attention against the mean-of-masks approximation and a window."""

from __future__ import annotations

import functools

import streamlit as st

from alibi_lsh import alibi_attention, lsh_alibi_attention, window_alibi_attention
from alibi_lsh.app import figures
from alibi_lsh.app.data import attention_data, cache, verdict_bench
from alibi_lsh.app.ui import display, session
from alibi_lsh.app.ui.controls import Controls
from alibi_lsh.kernels import PositionalKernel
from alibi_lsh.slopes import alibi_slopes

MAX_HEADS = 16  # this page keeps H n^2 scores and mask means in memory
PER_HEAD, ONE_WIDTH = "per head, for a tail mass", "one w for every head"
WINDOW_SIZINGS = (PER_HEAD, ONE_WIDTH)
TAIL_MASSES = (0.3, 0.1, 0.03, 0.01, 1e-3, 1e-4)
LECTURE_ROW_HEIGHT = 390  # the row chart on a projector: >= 380 px and whole above a 720 px fold

session.ensure_entry_point()
controls = session.current()
font = display.figure_font(controls.lecture)

display.page_head(
    "Attention: exact, approximate, window",
    "Random queries, keys and values stand in for a model. Exact ALiBi attention weighs every key by "
    "exp(score) x exp(-m|i-j|); the approximation replaces exp(-m|i-j|) by the mean of R block masks, which is the "
    "same as R ordinary attentions inside short blocks. The window baseline keeps exact ALiBi but drops keys w or "
    "more positions away.",
    controls.lecture,
)

heads = min(controls.heads, MAX_HEADS)
if controls.heads > MAX_HEADS:
    st.warning(f"H = {controls.heads} heads requested; this page uses H = {MAX_HEADS}.")
head_default = min(controls.head, heads) if controls.slope_mode == "alibi" else 1
if controls.slope_mode == "custom":
    st.info("This page uses the standard ALiBi slopes of H heads; the custom slope applies to the other pages.")

# The head and the query are the controls a lecture needs at hand; the rest is folded in lecture mode.
c1, c2, c3 = st.columns([1, 3, 2] if controls.lecture else [1, 3, 1])
head = c1.selectbox("Head", list(range(1, heads + 1)), index=head_default - 1, key="att_head")
query = c2.slider("Query position i", 0, controls.n - 1, value=controls.n // 2, key=f"att_query_{controls.n}")
if controls.lecture:
    session.control_widget("samples", session.ON_PAGE, c3)
    figure_place = st.container()  # the figure before the folded settings: whole in a projector's first screen
    more = st.expander("Score scale, causal, how the window is sized")
else:
    more = figure_place = st.container()
slope = float(Controls(heads=heads, head=head).slope)
default_window = min(controls.n, max(1, round(PositionalKernel.alibi(slope).mean_width())))
with more:
    c4, c5, c6, c7 = st.columns(4)
    score_scale = c4.slider(
        "Score scale",
        0.0,
        6.0,
        1.0,
        0.25,
        key="att_scale",
        help="Standard deviation of the scores q.k/sqrt(d): 0 = only ALiBi, large = peaked attention.",
    )
    causal = c5.toggle("Causal (decoder)", value=True, key="att_causal", help="Off: bidirectional (encoder).")
    sizing = c6.radio(
        "Window sized",
        WINDOW_SIZINGS,
        key="att_window_sizing",
        help="Per head: each head's w drops the same share t = exp(-m w) of its kernel. One w: the same width "
        "for every head, too short for flat heads.",
    )
    if sizing == PER_HEAD:
        tail_mass = c7.select_slider(
            "Kernel tail mass t", TAIL_MASSES, value=1e-3, key="att_tail_mass", format_func=lambda t: f"{t:g}"
        )
        windows = tuple(verdict_bench.tail_mass_windows(alibi_slopes(heads).tolist(), controls.n, tail_mass))
        window = windows[head - 1]
        window_setting: int | tuple[int, ...] = windows
    else:
        window = int(
            c7.number_input(
                "Window w",
                1,
                controls.n,
                value=default_window,
                key=f"att_window_{head}_{controls.n}",
                help="Keys with |i-j| >= w are dropped. Default: the mean block width E[W] of this head.",
            )
        )
        window_setting = window

try:
    setup = cache.attention_setup(
        controls.n, heads, controls.samples, controls.scheme, controls.seed, score_scale, causal
    )
    errors = cache.head_output_errors(
        controls.n, heads, controls.samples, controls.scheme, controls.seed, score_scale, causal, window_setting
    )
except ValueError as error:
    display.error_box(error)
else:
    row = attention_data.attention_row(setup, head - 1, query, int(window))
    with figure_place:
        heading = f"Head {head} (m = {slope:.4g}), query i = {query}: weight on each key"
        display.figure_heading(heading, controls.lecture)
        spec = cache.attention_row_spec(row, query, font, int(window))
        display.show_altair(spec, "attention_row", row, height=LECTURE_ROW_HEIGHT if controls.lecture else None)
    st.subheader(
        f"Relative output error of every head (R = {controls.samples}, {controls.scheme}, "
        f"{attention_data.window_label(window_setting)})"
    )
    st.markdown(attention_data.window_verdict(errors))
    spec = cache.output_error_spec(errors, font)
    display.show_altair(spec, "output_error", errors)
    st.subheader(f"How the blocks compute query i = {query} of head {head}")
    st.markdown(
        "Each of the R masks is an ordinary attention inside one short block. Together they are one softmax over "
        "the union of the query's blocks, with the bias **log c_ij** (c_ij: in how many of the R masks i and j "
        "share a block; log R cancels in the softmax). Panel 2 shows that bias scattering around ALiBi's -m|i-j|, "
        "panel 3 the weights it gives."
    )
    mechanism = attention_data.query_mechanism(setup, head - 1, query, int(window), controls.samples)
    row_errors = attention_data.row_output_errors(setup, mechanism, head - 1)
    spec = cache.mechanism_spec(mechanism, controls.samples, int(window), font)
    display.by_screen(  # a phone: the legends under the panels, which then take the column's width
        "attention_mechanism",
        functools.partial(display.show_altair, spec, "attention_mechanism"),
        functools.partial(display.show_altair, figures.legends_under(spec), "attention_mechanism_phone"),
    )
    display.csv_download(lambda: mechanism, "attention_mechanism")
    st.caption(
        f"Output error of this query against exact ALiBi: blocks {row_errors['blocks']:.4f}, window w = {window} "
        f"{row_errors['window']:.4f} (relative, ||o - o_exact|| / ||o_exact||)."
    )
    if st.button("Check with the block algorithm", key="att_check", icon=":material/fact_check:"):
        difference = cache.block_algorithm_check(
            controls.n, heads, controls.samples, controls.scheme, controls.seed, score_scale, causal
        )
        st.success(
            f"lsh_alibi_attention (one count-weighted pass over the union of the R blocks, never an n x n matrix) "
            f"differs from the bars' "
            f"dense mean-of-masks computation by at most {difference:.2e}: the same numbers up to float32 rounding."
        )
    else:
        st.caption(
            "The bars compute the approximation densely from the mean of the R masks (the same algebra); "
            "the button runs the real block algorithm on the same partitions."
        )

display.show_code(
    lsh_alibi_attention,
    alibi_attention,
    window_alibi_attention,
    attention_data.head_mask_means,
    lecture=controls.lecture,
)
