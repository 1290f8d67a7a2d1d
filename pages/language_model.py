"""Language model: does positional-LSH attention keep a trained ALiBi model's perplexity?

A small byte-level ALiBi transformer trained on Python's standard-library sources is run with
exact ALiBi attention and with the LSH approximation (R random block partitions per head).
The numbers come from ``alibi_lsh.lm`` through the cached wrappers of ``alibi_lsh.app.data.lm_cache``.
"""

from __future__ import annotations

import functools
import math

import pandas as pd
import streamlit as st

from alibi_lsh.app import figures
from alibi_lsh.app.data import lm_cache
from alibi_lsh.app.figures.narrow import stack_plotly_row
from alibi_lsh.app.ui import display, session
from alibi_lsh.lm.data import sample_text
from alibi_lsh.lm.figures import perplexity_chart
from alibi_lsh.samplers import SCHEMES

SAMPLE_CHOICES = [1, 2, 4, 8, 16, 64]
LECTURE_CHART_PX = 460  # legends and axes included; ends above a 720 px projector's fold
MAX_TEXT_BYTES = 512  # 4x the training context; keeps the n x n heatmaps and LSH runs quick

session.ensure_entry_point()
controls = session.current()
font = display.figure_font(controls.lecture)


def perplexity_section(context_length: int) -> None:
    # Lecture mode: the heading and the choice in one row, so that the whole chart fits the screen.
    heading, choice = st.columns(2, vertical_alignment="center") if controls.lecture else (st.container(), st)
    with heading:
        display.figure_heading("Held-out perplexity against R", controls.lecture)
    source = choice.radio(
        "Results",
        ["Cached full evaluation", "Compute a quick run now"],
        horizontal=True,
        key="lm_source",
        help="The cached tables come from `python -m alibi_lsh.lm eval` (3 seeds, 4096 bytes per length).",
        label_visibility="collapsed" if controls.lecture else "visible",
    )
    if source == "Cached full evaluation":
        results = lm_cache.stored_evaluation()
        if results is None:
            st.warning("No cached results found. Run `python -m alibi_lsh.lm eval`, or compute a quick run here.")
            return
        # Lecture mode: the whole chart above a 720 px projector's fold, under the page's head.
        height = LECTURE_CHART_PX if controls.lecture else None
        display.show_altair(lm_cache.stored_perplexity_spec(font), "lm_perplexity", results.summary, height=height)
        st.caption(
            "Perplexity divided by exact ALiBi's at the same length. Lines: mean over 3 seeds, band: min to "
            "max; one dash pattern per context length (1x, 4x and 8x the training length). Black rule at 1: "
            "exact ALiBi; coloured rules: exact attention truncated to a window of w positions."
        )
        st.dataframe(lm_cache.stored_gap_table())
        st.caption("Perplexity gap to exact attention, in percent, per context length (bytes).")
        with st.expander("Per-layer error of the attention output on real q, k, v"):
            display.show_altair(lm_cache.attention_error_spec(font), "lm_attention_error", results.errors)
        return

    multiple = st.select_slider("Context length (x training length)", [1, 4, 8], value=1, key="lm_multiple")
    schemes = st.multiselect("Schemes", SCHEMES, default=["binning"], key="lm_schemes")
    samples = st.multiselect("R values", SAMPLE_CHOICES, default=[1, 4, 16], key="lm_samples")
    if not st.button("Run", key="lm_run"):
        return
    length = multiple * context_length
    jobs = [("exact", "binning", 0)] + [("lsh", s, r) for s in schemes for r in sorted(samples)]
    bar = st.progress(0.0, text="Scoring held-out text...")
    rows = []
    for index, (kind, scheme, r) in enumerate(jobs):
        loss = lm_cache.held_out_loss(length, kind, scheme, r, 0)
        rows.append(
            {
                "method": kind,
                "scheme": scheme if kind == "lsh" else "",
                "R": r,
                "window": 0,
                "length": length,
                "ppl_mean": math.exp(loss),
            }
        )
        bar.progress((index + 1) / len(jobs), text=f"{kind} {scheme if kind == 'lsh' else ''} R={r}")
    frame = pd.DataFrame(rows)
    exact = frame.ppl_mean[0]
    frame = frame.assign(
        ppl_std=0.0, ppl_min=frame.ppl_mean, ppl_max=frame.ppl_mean, gap_pct=100 * (frame.ppl_mean / exact - 1)
    )
    display.show_altair(figures.style(perplexity_chart(frame), font), "lm_quick_perplexity", frame)
    st.dataframe(frame[["method", "scheme", "R", "ppl_mean", "gap_pct"]].round(4), hide_index=True)
    st.caption(f"One seed, {max(1, lm_cache.ON_DEMAND_TOKENS // length)} held-out windows of {length} bytes.")


def text_section(n_layer: int, n_head: int, slopes: list[float]) -> None:
    st.subheader("Your text: per-byte loss and attention")
    text = st.text_area(f"Text (up to {MAX_TEXT_BYTES} bytes, UTF-8)", value=sample_text(), height=180, key="lm_text")
    cols = st.columns(3)
    # The scheme starts from the shared control's; the seed is this section's own (default 0), so
    # the model's losses on the sample text are computed once per server, not once per seed that
    # a student picked for the mask pages.
    scheme = cols[0].selectbox("Scheme", SCHEMES, index=SCHEMES.index(controls.scheme), key="lm_scheme")
    samples = cols[1].select_slider("Samples R", SAMPLE_CHOICES, value=8, key="lm_R")
    seed = int(cols[2].number_input("Seed", min_value=0, max_value=10_000, value=0, key="lm_seed"))
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        st.error(
            f"The text is {size} bytes long; the limit is {MAX_TEXT_BYTES} bytes "
            f"(4x the model's training context). Shorten it to see the losses and attention."
        )
        return
    if size < 2:
        st.info("Enter at least two characters: the model scores each byte from the ones before it.")
        return
    exact, approx = lm_cache.text_losses(text, scheme, samples, seed)
    label = f"LSH {scheme} R={samples}"
    mean_exact, mean_approx = sum(exact) / len(exact), sum(approx) / len(approx)
    cols = st.columns(3)
    cols[0].metric("Loss, exact (nats/byte)", f"{mean_exact:.3f}")
    delta = f"{mean_approx - mean_exact:+.3f}"
    cols[1].metric(f"Loss, {label}", f"{mean_approx:.3f}", delta=delta, delta_color="inverse")
    cols[2].metric("Perplexity ratio", f"{math.exp(mean_approx - mean_exact):.3f}")
    predicted = [chr(b) if 32 <= b < 127 else repr(bytes([b]))[2:-1] for b in text.encode("utf-8")[1:]]
    losses = pd.DataFrame({"position": range(1, len(predicted) + 1), "byte": predicted, "exact": exact, label: approx})
    spec = lm_cache.token_loss_spec(text, scheme, samples, seed, font)
    display.by_screen(  # a phone: the legend under the plot, which then takes the column's width
        "lm_token_losses",
        functools.partial(display.show_altair, spec, "lm_token_losses"),
        functools.partial(display.show_altair, figures.legends_under(spec), "lm_token_losses_phone"),
    )
    display.csv_download(lambda: losses, "lm_token_losses")

    cols = st.columns(2)
    layer = cols[0].selectbox("Layer", list(range(1, n_layer + 1)), key="lm_layer")
    # Default: the last head, whose small slope spreads attention far enough to see the blocks.
    head = cols[1].selectbox(
        "Head",
        list(range(1, n_head + 1)),
        index=n_head - 1,
        format_func=lambda h: f"{h} (slope {slopes[h - 1]:.4g})",
        key="lm_head",
        help="Numbered from 1, steepest slope first, as in the sidebar.",
    )
    exact_maps, approx_maps = lm_cache.text_attention(text, layer - 1, scheme, samples, seed)
    figure = lm_cache.attention_figure(text, layer, head, scheme, samples, seed, font)
    display.by_screen(  # a phone: the two maps one under the other, each the screen's width
        "lm_attention_maps",
        lambda: display.show_plotly(figure, "lm_attention_maps"),
        lambda: display.show_plotly(stack_plotly_row(figure), "lm_attention_maps_phone"),
    )
    display.csv_download(
        lambda: display.matrix_table(exact=exact_maps[head - 1], approximate=approx_maps[head - 1]),
        "lm_attention_maps",
    )
    st.caption(
        "Row i: the weights query i puts on keys j <= i. The approximate weights are those the LSH "
        "estimate gives with the same q and k (computed with v = identity). Colours top out at the "
        "99th percentile of the weights."
    )


at_hand = display.page_head(
    "Language model",
    "A byte-level ALiBi transformer (no positional embeddings) trained on Python's standard-library "
    "sources. Replacing its exact ALiBi attention by the positional-LSH estimate with R samples "
    "changes the held-out perplexity by the amounts below, at the training context length and "
    "beyond it, where ALiBi extrapolates.",
    controls.lecture,
    beside=True,  # in lecture mode the model's line goes beside the folded explanation
)
try:
    model, info = lm_cache.model()
except (FileNotFoundError, ValueError) as err:
    st.error(str(err))
    st.stop()
config = model.config
at_hand.caption(
    f"{model.num_params():,} parameters, {config.n_layer} layers, {config.n_head} heads, trained on "
    f"{config.context_length}-byte windows; held-out perplexity {info.get('val_ppl', float('nan')):.3f} per byte."
)
perplexity_section(config.context_length)
text_section(config.n_layer, config.n_head, model.slopes.tolist())
