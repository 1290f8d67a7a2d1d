"""Charts for the language-model results: plain functions, no Streamlit, so tests can call them.

Line charts are altair, heatmaps are plotly (as in the rest of the app).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

R_TICKS = [1, 2, 4, 8, 16, 32, 64, 128, 256]
SCHEME_COLORS = alt.Scale(domain=["binning", "cuts", "qmc"], range=["#1f77b4", "#ff7f0e", "#2ca02c"])


EXACT_LABEL = "exact ALiBi"
WINDOW_COLORS = ["#8c564b", "#9467bd", "#7f7f7f", "#e377c2"]  # apart from the schemes' blue, orange, green
LENGTH_DASHES = [[1, 0], [8, 4], [2, 3], [12, 3, 2, 3]]  # 1x, 4x, 8x, ... the training length
NARROW_PX = 560  # a plot narrower than this is a phone's column
HEIGHT = 400  # legends and axes included (a container's width fits the whole chart to this height)
RATIO_TICKS = [0.8, 1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 16]


def perplexity_chart(summary: pd.DataFrame, width: int | str = "container") -> alt.LayerChart:
    """Held-out perplexity relative to exact ALiBi's against R (log-log), in one panel that takes
    its container's width (a phone's column or a projector's screen).

    One colour per scheme, with a band for the spread over seeds (min to max); one dash pattern per
    context length. Exact ALiBi is the black rule at 1; each window truncation a rule in its own
    colour, named with its width in positions in the legend. ``summary`` is ``evaluate.summarize``'s
    table (one row per method, scheme, R, window and length, with exact rows at every length);
    ``width`` in pixels for a saved PNG.
    """
    exact = summary[summary.method == "exact"].set_index("length").ppl_mean
    windows = sorted(int(w) for w in summary.loc[summary.method == "window", "window"].unique())
    window_labels = [f"window w={w}" for w in windows]
    schemes = [s for s in ("binning", "cuts", "qmc") if s in set(summary.scheme)]
    lengths = sorted(int(n) for n in summary.length.unique())
    training = min(lengths)
    length_labels = [f"{n} bytes ({n // training}x)" for n in lengths]

    def series(row) -> str:
        if row.method == "exact":
            return EXACT_LABEL
        return f"window w={int(row.window)}" if row.method == "window" else row.scheme

    frame = summary.assign(
        series=summary.apply(series, axis=1),
        context=summary.length.map(dict(zip(lengths, length_labels))),
        ratio=summary.ppl_mean / summary.length.map(exact),
        ratio_min=summary.ppl_min / summary.length.map(exact),
        ratio_max=summary.ppl_max / summary.length.map(exact),
    )
    domain = schemes + [EXACT_LABEL] + window_labels
    palette = [SCHEME_COLORS.range[SCHEME_COLORS.domain.index(s)] for s in schemes]
    palette += ["#000000"] + WINDOW_COLORS[: len(windows)]
    colors = alt.Scale(domain=domain, range=palette)
    # Legends in one row on a projector; on a phone (``width``, the plot's, under NARROW_PX) in
    # smaller type, the colours in two columns and the lengths without "bytes", so the plot keeps
    # its height.
    narrow = f"width < {NARROW_PX}"
    small = {"labelFontSize": {"expr": f"{narrow} ? 14 : 18"}, "rowPadding": {"expr": f"{narrow} ? 2 : 6"}}
    color = alt.Color(
        "series:N",
        scale=colors,
        title=None,
        legend=alt.Legend(orient="top", columns={"expr": f"{narrow} ? 2 : 6"}, **small),
    )
    dash = alt.StrokeDash(
        "context:N",
        scale=alt.Scale(domain=length_labels, range=LENGTH_DASHES[: len(lengths)]),
        title=None,
        legend=alt.Legend(
            orient="bottom",
            columns=len(lengths),
            labelExpr=f"{narrow} ? replace(datum.label, ' bytes', '') : datum.label",
            symbolType="stroke",
            symbolStrokeColor="black",
            symbolStrokeWidth=2.5,
            symbolSize={"expr": f"{narrow} ? 300 : 500"},
            **small,
        ),
    )
    low, high = min(0.95, float(frame.ratio_min.min())), max(1.2, float(frame.ratio_max.max()))
    ticks = [t for t in RATIO_TICKS if low <= t <= high]
    scale = alt.Scale(type="log", domain=[low, high], nice=False)
    axis = alt.Axis(values=ticks, format="~g")
    y_title = "perplexity / exact ALiBi's"
    y = alt.Y("ratio:Q", scale=scale, axis=axis, title=y_title)
    x = alt.X("R:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(values=R_TICKS), title="samples R")
    lsh = alt.datum.method == "lsh"
    band = (
        alt.Chart()
        .mark_area(opacity=0.12)
        .encode(
            x=x,
            y=alt.Y("ratio_min:Q", scale=scale, axis=axis, title=y_title),
            y2="ratio_max:Q",
            color=color,
            detail="context:N",
        )
    )
    lines = alt.Chart().mark_line(strokeWidth=2.5).encode(x=x, y=y, color=color, strokeDash=dash, detail="context:N")
    # The points apart from the lines: a line with points would draw the dash legend as dots.
    points = (
        alt.Chart()
        .mark_circle(size=50, opacity=1)
        .encode(
            x=x,
            y=y,
            color=color,
            tooltip=[
                "length",
                "scheme",
                "R",
                alt.Tooltip("ppl_mean:Q", format=".4f", title="perplexity"),
                alt.Tooltip("ppl_std:Q", format=".4f"),
                alt.Tooltip("gap_pct:Q", format="+.2f", title="gap %"),
            ],
        )
    )
    rules = (
        alt.Chart()
        .mark_rule(strokeWidth=2.5)
        .encode(
            y=y,
            color=color,
            strokeDash=dash,
            tooltip=[
                "series:N",
                "length",
                alt.Tooltip("ppl_mean:Q", format=".4f", title="perplexity"),
                alt.Tooltip("gap_pct:Q", format="+.2f", title="gap %"),
            ],
        )
    )
    return alt.layer(
        band.transform_filter(lsh),
        lines.transform_filter(lsh),
        points.transform_filter(lsh),
        rules.transform_filter(alt.datum.method != "lsh"),
        data=frame,
    ).properties(width=width, height=HEIGHT)


def attention_error_chart(errors: pd.DataFrame) -> alt.Chart:
    """Relative error of each layer's attention output against R (log-log), per scheme and length."""
    frame = errors.assign(layer=errors.layer.astype(str))
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("R:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(values=R_TICKS), title="samples R"),
            y=alt.Y("err_mean:Q", scale=alt.Scale(type="log"), title="relative error of attention output"),
            color=alt.Color("layer:N", title="layer"),
            strokeDash=alt.StrokeDash("scheme:N", title="scheme"),
            tooltip=["length", "layer", "scheme", "R", alt.Tooltip("err_mean:Q", format=".4f")],
        )
        .properties(width=260, height=220)
    )
    return chart.facet(column=alt.Column("length:O", title="context length (bytes)"))


def token_loss_chart(tokens: list[str], exact: torch.Tensor, approx: torch.Tensor, approx_label: str) -> alt.Chart:
    """Per-byte loss (nats) of one text under exact and approximate attention.

    ``tokens[t]`` is the byte predicted at step t; ``exact`` and ``approx`` are (n - 1,) losses.
    """
    frame = pd.DataFrame(
        {"position": range(1, len(tokens) + 1), "byte": tokens, "exact": exact.tolist(), approx_label: approx.tolist()}
    )
    long = frame.melt(id_vars=["position", "byte"], var_name="attention", value_name="loss")
    return (
        alt.Chart(long)
        .mark_line(strokeWidth=1.2)
        .encode(
            x=alt.X("position:Q", title="position of the predicted byte"),
            y=alt.Y("loss:Q", title="loss (nats)"),
            color=alt.Color("attention:N", title="attention", sort=["exact", approx_label]),
            tooltip=["position", "byte", "attention", alt.Tooltip("loss:Q", format=".3f")],
        )
        .properties(height=260)
    )


def _blank_then_viridis() -> list:
    """A colour scale for 8-bit codes: code 0 (the causal mask's blank upper triangle) is white,
    codes 1..255 (weights 0..top) run through plotly's Viridis."""
    from plotly.colors import sequential

    colours = sequential.Viridis
    first = 1 / 255
    scale = [[0.0, "#ffffff"], [0.5 / 255, "#ffffff"]]
    scale += [[first + (1 - first) * k / (len(colours) - 1), colour] for k, colour in enumerate(colours)]
    return scale


def attention_heatmaps(
    exact: torch.Tensor, approx: torch.Tensor, approx_label: str, title: str = "", font_size: int = 14
) -> go.Figure:
    """Side-by-side heatmaps of two (n, n) attention-weight matrices (rows: queries, columns:
    keys) on one colour scale; the upper triangle is blank because the model is causal.

    The colour scale tops out at the 99th percentile of the causal weights (larger weights show
    in the top colour): a few near-1 weights on the diagonal would otherwise leave the rest dark.
    Colours are sent as 8-bit codes (a quarter of float32's bytes; the page's CSV has the exact
    weights), so the hover names the query and the key. ``font_size`` (px) sizes every text;
    ticks are two points smaller.
    """
    causal = torch.ones_like(exact, dtype=torch.bool).tril()
    weights = torch.cat([exact[causal], approx[causal]]).float()
    high = float(torch.quantile(weights[: 2**24], 0.99)) or float(weights.max()) or 1.0
    fig = make_subplots(rows=1, cols=2, subplot_titles=("exact ALiBi", approx_label), horizontal_spacing=0.08)
    ticks = [0.0, high / 2, high]
    for col, matrix in ((1, exact), (2, approx)):
        codes = (1 + torch.round(254 * (matrix.float() / high).clamp(0, 1))).to(torch.uint8).masked_fill(~causal, 0)
        fig.add_trace(
            go.Heatmap(
                z=codes.numpy(),
                zmin=0,
                zmax=255,
                colorscale=_blank_then_viridis(),
                showscale=col == 2,
                colorbar=dict(
                    title=dict(text="weight", side="top"),
                    tickvals=[1 + 254 * t / high for t in ticks],
                    ticktext=[f"{t:.2g}" for t in ticks],
                    ticklabelposition="outside bottom",  # the top label just below its tick, clear of the title
                ),
                hovertemplate="query %{y}<br>key %{x}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(autorange="reversed", title_text="query i", row=1, col=col)
        fig.update_xaxes(title_text="key j", row=1, col=col)
    fig.update_xaxes(tickfont=dict(size=font_size - 2), nticks=6)
    fig.update_yaxes(tickfont=dict(size=font_size - 2), nticks=6)
    fig.update_annotations(font=dict(size=font_size))  # the subplot titles
    fig.update_layout(
        title=dict(text=title, font=dict(size=font_size + 2)),
        height=480,
        font=dict(size=font_size),
        margin={"l": 60, "r": 20, "t": 90, "b": 50},
    )
    return fig
