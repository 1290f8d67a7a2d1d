"""Charts for the language-model results: plain functions, no Streamlit, so tests can call them.

Line charts are altair, heatmaps are plotly (as in the rest of the app).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

SCHEME_COLORS = alt.Scale(domain=["binning", "cuts", "qmc"], range=["#1f77b4", "#ff7f0e", "#2ca02c"])


def perplexity_chart(summary: pd.DataFrame) -> alt.Chart:
    """Held-out perplexity against R (log axis), one line per scheme with a band for the spread
    over seeds (min to max), one panel per context length; exact ALiBi as a solid black rule,
    window truncation as dashed grey rules."""
    lsh = summary[summary.method == "lsh"]
    base = alt.Chart(lsh).encode(
        x=alt.X("R:Q", scale=alt.Scale(type="log", base=2), title="samples R"),
        color=alt.Color("scheme:N", scale=SCHEME_COLORS, title="scheme"),
    )
    lines = base.mark_line(point=True).encode(
        y=alt.Y("ppl_mean:Q", scale=alt.Scale(zero=False), title="perplexity (per byte)"),
        tooltip=["length", "scheme", "R", alt.Tooltip("ppl_mean:Q", format=".3f"),
                 alt.Tooltip("ppl_std:Q", format=".3f"), alt.Tooltip("gap_pct:Q", format="+.2f")],
    )
    band = base.mark_area(opacity=0.2).encode(y="ppl_min:Q", y2="ppl_max:Q")
    exact = alt.Chart(summary[summary.method == "exact"]).mark_rule(color="black").encode(
        y="ppl_mean:Q", tooltip=[alt.Tooltip("ppl_mean:Q", title="exact", format=".3f")]
    )
    windows = summary[summary.method == "window"].assign(label=lambda d: "window w=" + d.window.astype(str))
    window_rules = alt.Chart(windows).mark_rule(color="grey", strokeDash=[4, 4]).encode(
        y="ppl_mean:Q", tooltip=["label", alt.Tooltip("ppl_mean:Q", format=".3f")]
    )
    layered = alt.layer(band, lines, exact, window_rules, data=summary).properties(width=220, height=220)
    return layered.facet(column=alt.Column("length:O", title="context length (bytes)")).resolve_scale(y="independent")


def attention_error_chart(errors: pd.DataFrame) -> alt.Chart:
    """Relative error of each layer's attention output against R (log-log), per scheme and length."""
    frame = errors.assign(layer=errors.layer.astype(str))
    chart = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("R:Q", scale=alt.Scale(type="log", base=2), title="samples R"),
        y=alt.Y("err_mean:Q", scale=alt.Scale(type="log"), title="relative error of attention output"),
        color=alt.Color("layer:N", title="layer"),
        strokeDash=alt.StrokeDash("scheme:N", title="scheme"),
        tooltip=["length", "layer", "scheme", "R", alt.Tooltip("err_mean:Q", format=".4f")],
    ).properties(width=260, height=220)
    return chart.facet(column=alt.Column("length:O", title="context length (bytes)"))


def token_loss_chart(tokens: list[str], exact: torch.Tensor, approx: torch.Tensor, approx_label: str) -> alt.Chart:
    """Per-byte loss (nats) of one text under exact and approximate attention.

    ``tokens[t]`` is the byte predicted at step t; ``exact`` and ``approx`` are (n - 1,) losses.
    """
    frame = pd.DataFrame({"position": range(1, len(tokens) + 1), "byte": tokens,
                          "exact": exact.tolist(), approx_label: approx.tolist()})
    long = frame.melt(id_vars=["position", "byte"], var_name="attention", value_name="loss")
    return alt.Chart(long).mark_line(strokeWidth=1.2).encode(
        x=alt.X("position:Q", title="position of the predicted byte"),
        y=alt.Y("loss:Q", title="loss (nats)"),
        color=alt.Color("attention:N", title="attention", sort=["exact", approx_label]),
        tooltip=["position", "byte", "attention", alt.Tooltip("loss:Q", format=".3f")],
    ).properties(height=260)


def attention_heatmaps(exact: torch.Tensor, approx: torch.Tensor, approx_label: str, title: str = "") -> go.Figure:
    """Side-by-side heatmaps of two (n, n) attention-weight matrices (rows: queries, columns:
    keys) on one colour scale; the upper triangle is blank because the model is causal."""
    high = float(max(exact.max(), approx.max()))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("exact ALiBi", approx_label), horizontal_spacing=0.08)
    for col, matrix in ((1, exact), (2, approx)):
        n = matrix.shape[-1]
        causal = torch.ones(n, n, dtype=torch.bool).tril()
        z = matrix.masked_fill(~causal, float("nan")).numpy()
        fig.add_trace(
            go.Heatmap(z=z, zmin=0.0, zmax=high, colorscale="Viridis", showscale=col == 2,
                       hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>"),
            row=1, col=col,
        )
        fig.update_yaxes(autorange="reversed", title_text="query position", row=1, col=col)
        fig.update_xaxes(title_text="key position", row=1, col=col)
    fig.update_layout(title=title, height=460, margin={"l": 40, "r": 20, "t": 60, "b": 40})
    return fig
