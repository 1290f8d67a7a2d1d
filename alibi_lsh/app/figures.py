"""Figure builders for the app: plain functions from arrays/tables to plotly or altair objects.

No Streamlit here, so each builder can be tested (and used in a notebook) on its own.
Conventions, chosen for a projector:

- every mask/kernel heatmap uses one colour scale, :data:`UNIT_COLORSCALE`, fixed to 0..1
  (white = 0, dark blue = 1), and every error heatmap the diverging :data:`ERROR_COLORSCALE`,
  symmetric around 0 (white = no error), so colours mean the same thing on every page;
- matrices are square, with the query position i down and the key position j across;
- fonts are at least 14 px; ``font_size`` scales everything up in lecture mode.
"""

from __future__ import annotations

import base64
import copy

import altair as alt
import numpy as np
import pandas as pd
import plotly.graph_objects as go

FONT_SIZE = 16
LECTURE_FONT_SIZE = 22
# White (0) to dark blue (1): a block mask reads as dark squares on white paper.
UNIT_COLORSCALE = [[0.0, "#ffffff"], [0.25, "#c6dbef"], [0.5, "#6baed6"], [0.75, "#2171b5"], [1.0, "#08306b"]]
# Orange (estimate below the kernel) - white (exact) - purple (above); distinct from the blues.
ERROR_COLORSCALE = [[0.0, "#b35806"], [0.25, "#f1a340"], [0.5, "#ffffff"], [0.75, "#998ec3"], [1.0, "#542788"]]
EDGE_COLOR = "#f16913"  # block outlines on the masks
SCHEME_COLORS = {"binning": "#1f77b4", "cuts": "#ff7f0e", "qmc": "#2ca02c"}
METHOD_COLORS = {"exact": "#222222", "approximate": "#1f77b4", "window": "#ff7f0e"}


# --- plotly heatmaps ------------------------------------------------------------------------
# The builders write plain dicts and wrap them with ``_figure`` (no per-property validation):
# plotly's validators and ``make_subplots`` cost 50-150 ms per figure, more than the numbers
# behind it at n = 256. tests/test_figures.py validates every builder's output once instead.
# Heatmap values are stored base64-encoded (:func:`typed_array`; read them with :func:`decode`).


def _figure(data: list[dict], layout: dict, frames: list[dict] | None = None) -> go.Figure:
    """A plotly Figure from plain trace/layout/frame dicts, skipping plotly's validation."""
    spec = {"data": data, "layout": layout}
    if frames is not None:
        spec["frames"] = frames
    return go.Figure(spec, _validate=False)


def typed_array(values: np.ndarray) -> dict:
    """A float32 array in plotly.js's typed-array form: {"dtype": "f4", "bdata": base64, "shape"}.

    This is what ``Figure.to_dict`` would turn a numpy array into on every call (and
    ``st.plotly_chart`` calls it on every rerun, ~25 ms for the animation's 80 frames); encoding
    once when the figure is built keeps cached figures cheap to draw again.
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    spec = {"dtype": "f4", "bdata": base64.b64encode(values.tobytes()).decode("ascii")}
    if values.ndim > 1:
        spec["shape"] = ", ".join(map(str, values.shape))
    return spec


def decode(value) -> np.ndarray:
    """The numpy array behind a trace property: a :func:`typed_array` dict, or a plain sequence."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = [int(size) for size in value.get("shape", str(array.size)).split(",")]
        return array.reshape(shape)
    return np.asarray(value)


def _centres(size: int, factor: int) -> np.ndarray:
    """Positions at the centres of the ``factor``-wide pixels, so axes stay in token positions."""
    return np.arange(size) * factor + (factor - 1) / 2


def _heatmap(z: np.ndarray, kind: str, factor: int = 1, subplot: int = 1) -> dict:
    """One heatmap trace (z (p, p)) on subplot ``subplot`` (1-based, row-major), bound to the
    shared colour axis of its ``kind`` ('unit' or 'error')."""
    centres = _centres(z.shape[-1], factor)
    return {
        "type": "heatmap",
        "z": typed_array(z),
        "x": centres.tolist(),
        "y": centres.tolist(),
        **_subplot_axes(subplot),
        "coloraxis": "coloraxis" if kind == "unit" else "coloraxis2",
        "hovertemplate": "i=%{y}<br>j=%{x}<br>value=%{z:.3f}<extra></extra>",
    }


def _subplot_axes(subplot: int) -> dict:
    """The axis references of subplot ``subplot`` (1-based): x/y, x2/y2, ..."""
    suffix = "" if subplot == 1 else str(subplot)
    return {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}


def _grid(
    rows: int,
    cols: int,
    titles: list[str],
    font_size: int,
    horizontal_spacing: float,
    vertical_spacing: float,
    row_titles: list[str] | None = None,
) -> dict:
    """Layout entries of a rows x cols grid of subplots, as ``make_subplots`` lays them out.

    Axis domains in paper units (0..1), subplot titles centred above each panel, row titles
    turned 90 degrees at the right edge; empty titles are skipped.
    """
    span = 0.98 if row_titles else 1.0  # make_subplots keeps 2% at the right for row titles
    width = (span - horizontal_spacing * (cols - 1)) / cols
    height = (1 - vertical_spacing * (rows - 1)) / rows
    layout: dict = {}
    annotations = []
    text = dict(xref="paper", yref="paper", showarrow=False, font=dict(size=font_size))
    for index in range(rows * cols):
        row, col = divmod(index, cols)
        suffix = "" if index == 0 else str(index + 1)
        left, top = col * (width + horizontal_spacing), 1 - row * (height + vertical_spacing)
        # Clipped: rounding can put an edge a hair outside 0..1, which plotly rejects.
        layout[f"xaxis{suffix}"] = dict(anchor=f"y{suffix}", domain=[max(0.0, left), min(1.0, left + width)])
        layout[f"yaxis{suffix}"] = dict(anchor=f"x{suffix}", domain=[max(0.0, top - height), min(1.0, top)])
        if index < len(titles) and titles[index]:
            annotations.append(
                dict(text=titles[index], x=left + width / 2, y=top, xanchor="center", yanchor="bottom", **text)
            )
    for row, title in enumerate(row_titles or []):
        middle = 1 - row * (height + vertical_spacing) - height / 2
        right = (cols - 1) * (width + horizontal_spacing) + width
        annotations.append(dict(text=title, x=right, y=middle, xanchor="left", yanchor="middle", textangle=90, **text))
    layout["annotations"] = annotations
    return layout


def _colour_axes(error_range: float | None, font_size: int) -> dict:
    """Layout entries for the 0..1 colour bar and, if used, the symmetric error colour bar."""
    axes = {
        "coloraxis": dict(
            colorscale=UNIT_COLORSCALE,
            cmin=0.0,
            cmax=1.0,
            colorbar=dict(
                title=dict(text="value<br>(0 to 1)", font=dict(size=font_size)),
                tickfont=dict(size=font_size - 2),
                x=1.01,
                y=0.78,
                len=0.5,
                thickness=16,
            ),
        ),
    }
    if error_range is not None:
        bound = max(float(error_range), 1e-9)
        axes["coloraxis2"] = dict(
            colorscale=ERROR_COLORSCALE,
            cmin=-bound,
            cmax=bound,
            colorbar=dict(
                title=dict(text="error<br>(mean-kernel)", font=dict(size=font_size)),
                tickfont=dict(size=font_size - 2),
                x=1.01,
                y=0.22,
                len=0.5,
                thickness=16,
            ),
        )
    return axes


def _heatmap_row_spec(
    panels: list[tuple[str, np.ndarray, str]],
    factor: int,
    font_size: int,
    height: int,
    error_range: float | None,
) -> tuple[list[dict], dict]:
    """Traces and layout of :func:`heatmap_row` (plain dicts, for builders that add to them)."""
    errors = [np.abs(z).max() for _, z, kind in panels if kind == "error"]
    if error_range is None and errors:
        error_range = float(max(errors))
    data = [_heatmap(z, kind, factor, subplot) for subplot, (_, z, kind) in enumerate(panels, start=1)]
    layout = _grid(1, len(panels), [p[0] for p in panels], font_size + 2, horizontal_spacing=0.06, vertical_spacing=0)
    layout.update(_square_axes(layout, rows=1, cols=len(panels), font_size=font_size))
    layout.update(
        height=height,
        font=dict(size=font_size),
        margin=dict(l=60, r=110, t=60, b=60),
        **_colour_axes(error_range if errors or error_range else None, font_size),
    )
    return data, layout


def heatmap_row(
    panels: list[tuple[str, np.ndarray, str]],
    factor: int = 1,
    font_size: int = FONT_SIZE,
    height: int = 420,
    error_range: float | None = None,
) -> go.Figure:
    """Square heatmaps side by side: ``panels`` are (title, z (p, p), kind) with kind 'unit' or 'error'.

    ``factor`` is the number of positions per pixel (axes are labelled in positions either way).
    The error colour bar spans +-``error_range`` (default: the largest |error| shown).
    """
    return _figure(*_heatmap_row_spec(panels, factor, font_size, height, error_range))


def _square_axes(grid: dict, rows: int, cols: int, font_size: int, titles: bool = True, ticks: bool = True) -> dict:
    """The grid's axes (from :func:`_grid`) in matrix orientation: row 0 at the top, equal scales,
    axis titles in token positions on the left column and the bottom row."""
    axes: dict[str, dict] = {}
    tick_font = dict(size=font_size - 2)
    title_font = dict(size=font_size)
    for index in range(1, rows * cols + 1):
        suffix = "" if index == 1 else str(index)
        row, col = (index - 1) // cols + 1, (index - 1) % cols + 1
        axes[f"yaxis{suffix}"] = dict(
            grid[f"yaxis{suffix}"],
            autorange="reversed",
            scaleanchor=f"x{suffix}",
            constrain="domain",
            tickfont=tick_font,
            showticklabels=ticks,
        )
        axes[f"xaxis{suffix}"] = dict(
            grid[f"xaxis{suffix}"], constrain="domain", tickfont=tick_font, showticklabels=ticks
        )
        if titles and col == 1:
            axes[f"yaxis{suffix}"]["title"] = dict(text="query position i", font=title_font)
        if titles and row == rows:
            axes[f"xaxis{suffix}"]["title"] = dict(text="key position j", font=title_font)
    return axes


def claim_figure(
    kernel: np.ndarray, mean: np.ndarray, samples: int, factor: int = 1, font_size: int = FONT_SIZE
) -> go.Figure:
    """The claim in one row: exp(-m|i-j|), the mean of R masks, and their difference (all (p, p))."""
    return heatmap_row(
        [
            ("ALiBi kernel exp(-m|i-j|)", kernel, "unit"),
            (f"mean of R = {samples} masks", mean, "unit"),
            ("difference (mean - kernel)", mean - kernel, "error"),
        ],
        factor=factor,
        font_size=font_size,
    )


def block_outline(starts: list[int], n: int, factor: int = 1) -> tuple[list, list]:
    """x, y of closed squares around each block [a, b) on the diagonal, None between squares."""
    xs: list = []
    ys: list = []
    ends = [*starts[1:], n]
    for a, b in zip(starts, ends):
        lo, hi = a - 0.5, b - 0.5
        xs += [lo, hi, hi, lo, lo, None]
        ys += [lo, lo, hi, hi, lo, None]
    return xs, ys


def mask_grid(
    masks: np.ndarray,
    starts: list[list[int]],
    cols: int = 4,
    font_size: int = FONT_SIZE,
    factor: int = 1,
    max_outlined_blocks: int = 128,
    titles: list[str] | None = None,
) -> go.Figure:
    """Sampled block masks in a grid (bool or 0..1, (c, p, p)), each block outlined in orange.

    Outlines are drawn for masks with at most ``max_outlined_blocks`` blocks (beyond that they
    would merge into a line); ``starts`` are block starts in positions.
    """
    count = masks.shape[0]
    rows = -(-count // cols)
    n = masks.shape[-1] * factor
    titles = titles or [f"mask {k + 1}" for k in range(count)]
    data = []
    for k in range(count):
        data.append(_heatmap(masks[k].astype(np.float32), "unit", factor, subplot=k + 1))
        if len(starts[k]) <= max_outlined_blocks:
            xs, ys = block_outline(starts[k], n)
            data.append(
                dict(
                    type="scatter",
                    x=xs,
                    y=ys,
                    mode="lines",
                    line=dict(color=EDGE_COLOR, width=1.5),
                    hoverinfo="skip",
                    showlegend=False,
                    **_subplot_axes(k + 1),
                )
            )
    layout = _grid(rows, cols, titles, font_size, horizontal_spacing=0.05, vertical_spacing=0.1)
    layout.update(_square_axes(layout, rows, cols, font_size, titles=False))
    layout.update(
        height=320 * rows + 60,
        font=dict(size=font_size),
        margin=dict(l=50, r=110, t=50, b=20),
        **_colour_axes(None, font_size),
    )
    return _figure(data, layout)


def convergence_animation(
    kernel: np.ndarray,
    frames: np.ndarray,
    checkpoints: list[int],
    max_error: np.ndarray,
    factor: int = 1,
    font_size: int = FONT_SIZE,
    frame_ms: int = 80,
) -> go.Figure:
    """Kernel | running mean of the first r masks | error, animated over r in the browser.

    ``frames`` (C, p, p) are the running means at ``checkpoints``; ``max_error`` (C,) the
    full-resolution max-norm errors shown in the title. Play/pause buttons and a slider come with
    the figure, so playing needs no round trip to the server (``frame_ms`` per frame).
    The error colour range is fixed at +-1 for all frames so that the error visibly fades.
    """

    def title(index: int) -> str:
        return f"r = {checkpoints[index]} masks averaged: max |error| = {max_error[index]:.3f}"

    data, layout = _heatmap_row_spec(
        [
            ("ALiBi kernel", kernel, "unit"),
            ("running mean of r masks", frames[0], "unit"),
            ("error (mean - kernel)", frames[0] - kernel, "error"),
        ],
        factor=factor,
        font_size=font_size,
        height=560,
        error_range=1.0,
    )
    # Each frame replaces only the z of traces 1 and 2 (mean, error); x, y and colours stay.
    animation = [
        dict(
            name=str(r),
            data=[
                dict(type="heatmap", z=typed_array(frames[index])),
                dict(type="heatmap", z=typed_array(frames[index] - kernel)),
            ],
            traces=[1, 2],
            layout=dict(title=dict(text=title(index))),
        )
        for index, r in enumerate(checkpoints)
    ]
    play = dict(
        frame=dict(duration=frame_ms, redraw=True), transition=dict(duration=0), fromcurrent=True, mode="immediate"
    )
    layout.update(
        title=dict(text=title(0), font=dict(size=font_size + 2)),
        margin=dict(layout["margin"], t=90, b=190),
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=-0.36,
                xanchor="left",
                yanchor="top",
                font=dict(size=font_size),
                pad=dict(r=10, t=10),
                buttons=[
                    dict(label="▶ Play", method="animate", args=[None, play]),
                    dict(
                        label="❚❚ Pause",
                        method="animate",
                        args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")],
                    ),
                ],
            )
        ],
        sliders=[
            dict(
                active=0,
                x=0.2,
                y=-0.3,
                len=0.8,
                pad=dict(t=10),
                currentvalue=dict(prefix="r = ", font=dict(size=font_size)),
                font=dict(size=font_size - 2),
                steps=[
                    dict(
                        label=str(r),
                        method="animate",
                        args=[[str(r)], dict(frame=dict(duration=0, redraw=True), mode="immediate")],
                    )
                    for r in checkpoints
                ],
            )
        ],
    )
    return _figure(data, layout, animation)


def per_head_figure(
    kernels: np.ndarray,
    means: np.ndarray,
    slopes: list[float],
    samples: int,
    factor: int = 1,
    font_size: int = FONT_SIZE,
) -> go.Figure:
    """Two rows of small heatmaps, kernel above and mean of R masks below, one column per head."""
    heads = kernels.shape[0]
    titles = [f"head {h + 1}<br>m={slopes[h]:.3g}" for h in range(heads)]
    data = [_heatmap(kernels[h], "unit", factor, subplot=h + 1) for h in range(heads)]
    data += [_heatmap(means[h], "unit", factor, subplot=heads + h + 1) for h in range(heads)]
    layout = _grid(
        2,
        heads,
        titles,
        font_size - 2,
        horizontal_spacing=0.015,
        vertical_spacing=0.06,
        row_titles=["kernel", f"mean, R={samples}"],
    )
    layout.update(_square_axes(layout, 2, heads, font_size, titles=False, ticks=False))
    layout.update(
        height=max(320, 2 * 1100 // heads + 120),
        font=dict(size=font_size),
        margin=dict(l=20, r=110, t=80, b=20),
        **_colour_axes(None, font_size),
    )
    return _figure(data, layout)


# --- altair line and bar charts -------------------------------------------------------------
# Each chart comes in two parts: a *layout* that reads named datasets (``alt.NamedData``) and
# depends only on a few labels, and the *tables* that fill them. Building an altair chart costs
# 20-300 ms (schema objects, copies), so the app builds each layout once per label set and only
# swaps the tables when the numbers change (:func:`spec_with_data`). ``*_chart`` functions join
# both, for tests and notebooks.


def with_data(chart: alt.TopLevelMixin, tables: dict[str, pd.DataFrame]) -> alt.TopLevelMixin:
    """The layout ``chart`` with its named datasets filled from ``tables`` (name -> table)."""
    return chart.properties(datasets={name: table.to_dict("records") for name, table in tables.items()})


def spec_with_data(layout: dict, tables: dict[str, pd.DataFrame]) -> dict:
    """A private copy of a layout's Vega-Lite dict with its named datasets set to ``tables``.

    Streamlit converts the tables to Arrow itself, so they are passed as DataFrames.
    """
    spec = copy.deepcopy(layout)  # the layout may be shared (cached); Streamlit edits specs in place
    spec["datasets"] = dict(tables)
    return spec


def style(chart: alt.TopLevelMixin, font_size: int = FONT_SIZE, legend_orient: str | None = None) -> alt.TopLevelMixin:
    """Projector-friendly fonts (>= 14 px) on any altair chart; optionally move every legend."""
    legend = dict(labelFontSize=max(14, font_size - 2), titleFontSize=font_size, symbolSize=160, labelLimit=400)
    if legend_orient:
        legend.update(orient=legend_orient, direction="horizontal")
    return (
        chart.configure_axis(labelFontSize=max(14, font_size - 2), titleFontSize=font_size)
        .configure_legend(**legend)
        .configure_title(fontSize=font_size + 2)
        .configure_header(labelFontSize=font_size, titleFontSize=font_size)
    )


def _width_law_names(scheme: str) -> tuple[str, str]:
    what = "block length L (interior blocks)" if scheme == "cuts" else "block width W"
    law = "geometric q^(L-1)(1-q)" if scheme == "cuts" else "pi(W) = W q^(W-1) (1-q)^2"
    return what, law


def width_law_tables(table: pd.DataFrame, scheme: str) -> dict[str, pd.DataFrame]:
    """``block_width_law``'s table in long form (width, series, probability) as dataset "law"."""
    _, law = _width_law_names(scheme)
    long = table.melt("width", ["sampled", "theory"], var_name="series", value_name="probability")
    long["series"] = long["series"].map({"sampled": "sampled", "theory": f"theory: {law}"})
    return {"law": long}


def width_law_layout(scheme: str, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Bars: sampled frequency of each block width; line: the theoretical law (dataset "law")."""
    what, _ = _width_law_names(scheme)
    color = alt.Color(
        "series:N", title=None, legend=alt.Legend(orient="top"), scale=alt.Scale(range=["#9ecae1", "#d62728"])
    )
    x = alt.X("width:Q", title=f"{what} (positions)")
    y = alt.Y("probability:Q", title="probability")
    tooltip = ["width:Q", alt.Tooltip("probability:Q", format=".4f")]
    source = alt.NamedData("law")
    bars = (
        alt.Chart(source)
        .transform_filter(alt.datum.series == "sampled")
        .mark_bar(opacity=0.9)
        .encode(x=x, y=y, color=color, tooltip=tooltip)
    )
    line = (
        alt.Chart(source)
        .transform_filter(alt.datum.series != "sampled")
        .mark_line(strokeWidth=3)
        .encode(x=x, y=y, color=color, tooltip=tooltip)
    )
    return style(alt.layer(bars, line).properties(height=340), font_size)


def width_law_chart(table: pd.DataFrame, scheme: str, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Sampled block widths against the law (``block_width_law``'s table)."""
    return with_data(width_law_layout(scheme, font_size), width_law_tables(table, scheme))


def error_curves_layout(
    schemes: tuple[str, ...], ticks: tuple[int, ...], metrics: tuple[str, ...], font_size: int = FONT_SIZE
) -> alt.TopLevelMixin:
    """Log-log error against R, one panel per metric: a line per scheme (mean over seeds) with a
    min-max band, the 1/sqrt(R) guide (dashed grey) and the bound (dotted red) where one exists.

    Datasets: "summary" (``summarize_errors``) and "references" (``reference_lines``); ``ticks``
    are the R values marked on the x axis.
    """
    panels = []
    schemes = tuple(sorted(schemes))
    scheme_scale = alt.Scale(domain=list(schemes), range=[SCHEME_COLORS[s] for s in schemes])
    # Lines and bands share this encoding: a layer with legend=None would hide the merged scheme legend.
    color = alt.Color("scheme:N", scale=scheme_scale, title="scheme")
    x = alt.X("R:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(values=list(ticks)), title="samples R")
    ref_y = alt.Y("value:Q", scale=alt.Scale(type="log"))
    dash = alt.StrokeDash(
        "line:N",
        title="reference",
        scale=alt.Scale(domain=["1/sqrt(R) guide", "bound (95%)"], range=[[6, 4], [2, 2]]),
    )
    tooltip = [
        "scheme:N",
        "R:Q",
        alt.Tooltip("mean:Q", format=".4f"),
        alt.Tooltip("low:Q", format=".4f"),
        alt.Tooltip("high:Q", format=".4f"),
    ]
    for metric in metrics:
        summary = alt.Chart(alt.NamedData("summary")).transform_filter(alt.datum.metric == metric)
        y = alt.Y("mean:Q", scale=alt.Scale(type="log"), title=f"{metric} error")
        band = summary.mark_area(opacity=0.18).encode(x=x, y="low:Q", y2="high:Q", color=color)
        line = summary.mark_line(point=True, strokeWidth=2.5).encode(x=x, y=y, color=color, tooltip=tooltip)
        # Every metric has the 1/sqrt(R) guide; max-norm and spectral also a bound.
        references = (
            alt.Chart(alt.NamedData("references"))
            .transform_filter(alt.datum.metric == metric)
            .mark_line(color="#555555", strokeWidth=2)
            .encode(
                x=x,
                y=ref_y,
                strokeDash=dash,
                detail="line:N",
                tooltip=["line:N", "R:Q", alt.Tooltip("value:Q", format=".4f")],
            )
        )
        panels.append(alt.layer(band, line, references).properties(title=metric, width=280, height=300))
    chart = alt.hconcat(*panels).resolve_scale(y="independent")
    return style(chart, font_size, legend_orient="bottom")


def error_curves_chart(
    summary: pd.DataFrame, references: pd.DataFrame, metrics: tuple[str, ...], font_size: int = FONT_SIZE
) -> alt.TopLevelMixin:
    """:func:`error_curves_layout` filled with ``summary`` and ``references``."""
    layout = error_curves_layout(
        tuple(summary["scheme"].unique()), tuple(sorted(summary["R"].unique().tolist())), metrics, font_size
    )
    return with_data(layout, {"summary": summary, "references": references})


def head_error_tables(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``per_head_data``'s table in long form (head, slope, metric, error) as dataset "errors"."""
    long = table.melt(["head", "slope"], ["max-norm", "relative Frobenius"], var_name="metric", value_name="error")
    return {"errors": long}


def head_error_layout(font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Grouped bars: error of the mean of R masks per head (dataset "errors")."""
    chart = (
        alt.Chart(alt.NamedData("errors"))
        .mark_bar()
        .encode(
            x=alt.X("head:O", title="head (slope halves each step)"),
            xOffset="metric:N",
            y=alt.Y("error:Q", title="error of the mean of R masks"),
            color=alt.Color("metric:N", legend=alt.Legend(orient="top", title=None)),
            tooltip=["head:O", alt.Tooltip("slope:Q", format=".4g"), "metric:N", alt.Tooltip("error:Q", format=".4f")],
        )
        .properties(height=300)
    )
    return style(chart, font_size)


def head_error_bars(table: pd.DataFrame, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Grouped bars: error of the mean of R masks per head (``per_head_data``'s table, wide)."""
    return with_data(head_error_layout(font_size), head_error_tables(table))


def attention_row_tables(row: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``attention_row``'s table in long form (key, method, weight) as dataset "row"."""
    return {"row": row.melt("key", ["exact", "approximate", "window"], var_name="method", value_name="weight")}


def attention_row_layout(query: int, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Attention weight of one query against key position: exact, approximate and window (dataset "row")."""
    methods = list(METHOD_COLORS)
    chart = (
        alt.Chart(alt.NamedData("row"))
        .mark_line(strokeWidth=2.5, interpolate="step-after")
        .encode(
            x=alt.X("key:Q", title="key position j"),
            y=alt.Y("weight:Q", title=f"attention weight of query i = {query}"),
            color=alt.Color(
                "method:N",
                scale=alt.Scale(domain=methods, range=list(METHOD_COLORS.values())),
                legend=alt.Legend(orient="top", title=None),
            ),
            strokeDash=alt.StrokeDash(
                "method:N", scale=alt.Scale(domain=methods, range=[[1, 0], [1, 0], [6, 3]]), legend=None
            ),
            tooltip=["method:N", "key:Q", alt.Tooltip("weight:Q", format=".4f")],
        )
        .properties(height=360)
    )
    return style(chart, font_size)


def attention_row_chart(row: pd.DataFrame, query: int, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Attention weight of one query against key position: exact, approximate and window."""
    return with_data(attention_row_layout(query, font_size), attention_row_tables(row))


def output_error_layout(font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Relative output error per head for each method (dataset "errors": ``head_output_errors``)."""
    chart = (
        alt.Chart(alt.NamedData("errors"))
        .mark_bar()
        .encode(
            x=alt.X("head:O", title="head (slope halves each step)"),
            xOffset="method:N",
            y=alt.Y("relative error:Q", title="relative output error ||o - o_exact|| / ||o_exact||"),
            color=alt.Color(
                "method:N",
                legend=alt.Legend(orient="top", title=None),
                scale=alt.Scale(range=[METHOD_COLORS["approximate"], METHOD_COLORS["window"]]),
            ),
            tooltip=[
                "head:O",
                alt.Tooltip("slope:Q", format=".4g"),
                "method:N",
                alt.Tooltip("relative error:Q", format=".4f"),
            ],
        )
        .properties(height=330)
    )
    return style(chart, font_size)


def output_error_chart(table: pd.DataFrame, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Relative output error per head for each method (``head_output_errors``'s table)."""
    return with_data(output_error_layout(font_size), {"errors": table})


def distance_profile_tables(
    profile: pd.DataFrame, what: str = "exp(-m d)", cutoff: float = 1e-3, log_y: bool = False
) -> dict[str, pd.DataFrame]:
    """``distance_profile``'s table in long form (distance, curve, value) as dataset "profile".

    Distances beyond the point where the formula drops below ``cutoff`` are left out (all ~0).
    """
    visible = profile[profile["formula"] >= cutoff]
    if len(visible) < 2:
        visible = profile.head(2)
    long = visible.melt(
        "distance", ["formula", "triangle mixture", "sampled mean"], var_name="curve", value_name="value"
    )
    long["curve"] = long["curve"].replace({"formula": f"formula {what}"})
    if log_y:  # heavy tails: a log axis shows the whole curve; zeros (no sample reached d) have no place on it
        long = long[long["value"] > 0]
    return {"profile": long}


def distance_profile_layout(what: str = "exp(-m d)", font_size: int = FONT_SIZE, log_y: bool = False):
    """k(d) against distance d: the formula, the triangle mixture (dashed) and the sampled mean
    (dots), from dataset "profile"."""
    domain = [f"formula {what}", "triangle mixture", "sampled mean"]
    color = alt.Color(
        "curve:N",
        scale=alt.Scale(domain=domain, range=["#222222", "#d62728", "#1f77b4"]),
        legend=alt.Legend(orient="top", title=None),
    )
    x = alt.X("distance:Q", title="distance d = |i - j| (positions)")
    y = alt.Y(
        "value:Q",
        title="k(d) = P(same block)" + (" (log scale)" if log_y else ""),
        scale=alt.Scale(type="log") if log_y else alt.Undefined,
    )
    source = alt.NamedData("profile")
    lines = (
        alt.Chart(source)
        .transform_filter(alt.datum.curve != "sampled mean")
        .mark_line(strokeWidth=2.5)
        .encode(
            x=x,
            y=y,
            color=color,
            strokeDash=alt.StrokeDash(
                "curve:N", scale=alt.Scale(domain=domain, range=[[1, 0], [6, 4], [1, 0]]), legend=None
            ),
        )
    )
    dots = (
        alt.Chart(source)
        .transform_filter(alt.datum.curve == "sampled mean")
        .mark_circle(size=36)
        .encode(x=x, y=y, color=color, tooltip=["distance:Q", alt.Tooltip("value:Q", format=".4f")])
    )
    return style(alt.layer(lines, dots).properties(height=320), font_size)


def distance_profile_chart(
    profile: pd.DataFrame,
    what: str = "exp(-m d)",
    font_size: int = FONT_SIZE,
    cutoff: float = 1e-3,
    log_y: bool = False,
) -> alt.TopLevelMixin:
    """k(d) against distance d: the formula, the triangle mixture (dashed) and the sampled mean (dots).

    Distances beyond the point where the formula drops below ``cutoff`` are left out (all ~0).
    """
    return with_data(
        distance_profile_layout(what, font_size, log_y), distance_profile_tables(profile, what, cutoff, log_y)
    )
