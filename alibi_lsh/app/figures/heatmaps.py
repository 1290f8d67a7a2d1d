"""Plotly heatmaps of n x n matrices: kernels, masks, running means and their errors.

Matrices are square, with the query position i down and the key position j across; heatmap
values are stored base64-encoded (:func:`~alibi_lsh.app.figures.grid.typed_array`; read them back
with :func:`~alibi_lsh.app.figures.grid.decode`). Panel titles are kept short (two lines at most)
so that three panels side by side stay apart on a 1024-pixel-wide projector in lecture mode.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .grid import COLOUR_LEVELS, colour_levels, grid, plain_figure, square_axes, subplot_axes, typed_array
from .style import BIAS_COLORSCALE, EDGE_COLOR, ERROR_COLORSCALE, FONT_SIZE, UNIT_COLORSCALE, tick_size

# Colour axis of each kind of matrix: its layout key, scale and colour-bar title.
COLOUR_AXES = {
    "unit": ("coloraxis", UNIT_COLORSCALE, "value"),
    "error": ("coloraxis2", ERROR_COLORSCALE, "error"),
    "bias": ("coloraxis3", BIAS_COLORSCALE, "bias"),
}


def _centres(size: int, factor: int) -> np.ndarray:
    """Positions at the centres of the ``factor``-wide pixels, so axes stay in token positions."""
    return np.arange(size) * factor + (factor - 1) / 2


def heatmap_trace(
    z: np.ndarray, kind: str, factor: int = 1, subplot: int = 1, coded: tuple[float, float] | None = None
) -> dict:
    """One heatmap trace (z (p, p)) on subplot ``subplot`` (1-based, row-major), bound to the
    shared colour axis of its ``kind`` ('unit', 'error' or 'bias').

    ``coded=(low, high)`` sends 8-bit colour codes on that range instead of float32 values
    (:func:`~alibi_lsh.app.figures.grid.colour_levels`); its hover then names the position only,
    since a code is not the value (the exact values are in the figure's CSV).
    """
    centres = _centres(z.shape[-1], factor)
    if coded is None:
        values, hover = typed_array(z), "i=%{y}<br>j=%{x}<br>value=%{z:.3f}<extra></extra>"
    else:
        values, hover = colour_levels(z, *coded), "i=%{y}<br>j=%{x}<extra></extra>"
    return {
        "type": "heatmap",
        "z": values,
        "x": centres.tolist(),
        "y": centres.tolist(),
        **subplot_axes(subplot),
        "coloraxis": COLOUR_AXES[kind][0],
        "hovertemplate": hover,
    }


def _tick_label(value: float) -> str:
    """A colour-bar label: two significant digits, a true minus sign, 0 without a sign."""
    return "0" if abs(value) < 1e-12 else f"{value:.2g}".replace("-", "\u2212")


def colour_axes(
    ranges: dict[str, tuple[float, float]],
    font_size: int,
    coded: bool = False,
    horizontal: bool = False,
    bar_y: float = 1.0,
) -> dict:
    """Layout entries of the colour axes in ``ranges`` (kind -> (min, max)), their colour bars
    stacked at the right edge, top to bottom in the order given (``horizontal``: one bar above
    the panels at ``bar_y`` in paper units, for a phone's narrow column, where bars at the side
    would take half the width).

    Tick labels sit just below their ticks, so that the top one stays clear of the bar's title,
    and the bars leave room between them for the bottom label of one and the title of the next.
    ``coded``: the traces hold 8-bit codes, so the axis spans 0..255, labelled in values.
    """
    axes = {}
    count = len(ranges)
    for index, (kind, (low, high)) in enumerate(ranges.items()):
        key, scale, title = COLOUR_AXES[kind]
        ticks = [low, (low + high) / 2, high]  # three labels: more would crowd a short bar
        positions = [0, COLOUR_LEVELS / 2, COLOUR_LEVELS] if coded else ticks
        bar = dict(
            title=dict(text=title, font=dict(size=font_size), side="top" if not horizontal else "right"),
            tickfont=dict(size=tick_size(font_size)),
            tickvals=positions,
            ticktext=[_tick_label(value) for value in ticks],
            thickness=14,
        )
        if horizontal:
            bar.update(orientation="h", x=0.5, xanchor="center", y=bar_y, yanchor="bottom", len=0.8, ypad=0)
        else:
            bar.update(
                ticklabelposition="outside bottom",
                x=1.02,
                xanchor="left",
                y=1 - (index + 0.5) / count,
                len=0.62 / count,
            )
        axes[key] = dict(
            colorscale=scale, cmin=0 if coded else low, cmax=COLOUR_LEVELS if coded else high, colorbar=bar
        )
    return axes


def _ranges(panels: list[tuple[str, np.ndarray, str]], error_range: float | None) -> dict[str, tuple[float, float]]:
    """Colour range of each kind used, in order of appearance: 0..1 for values, +-``error_range``
    (default: the largest |error| shown) for errors, the smallest bias..0 for biases."""
    kinds = dict.fromkeys(kind for _, _, kind in panels)
    ranges: dict[str, tuple[float, float]] = {}
    for kind in kinds:
        values = [z for _, z, k in panels if k == kind]
        if kind == "unit":
            ranges[kind] = (0.0, 1.0)
        elif kind == "error":
            bound = error_range if error_range is not None else max(float(np.abs(z).max()) for z in values)
            ranges[kind] = (-max(bound, 1e-9), max(bound, 1e-9))
        else:
            ranges[kind] = (min(min(float(z.min()) for z in values), -1e-9), 0.0)
    return ranges


def heatmap_row_spec(
    panels: list[tuple[str, np.ndarray, str]],
    factor: int,
    font_size: int,
    height: int,
    error_range: float | None,
    coded: bool = False,
    narrow: bool = False,
) -> tuple[list[dict], dict]:
    """Traces and layout of :func:`heatmap_row` (plain dicts, for builders that add to them)."""
    ranges = _ranges(panels, error_range)
    data = [
        heatmap_trace(z, kind, factor, subplot, coded=ranges[kind] if coded else None)
        for subplot, (_, z, kind) in enumerate(panels, start=1)
    ]
    layout = grid(1, len(panels), [p[0] for p in panels], font_size, horizontal_spacing=0.08, vertical_spacing=0)
    layout.update(square_axes(layout, rows=1, cols=len(panels), font_size=font_size))
    if narrow:  # a phone's column: the bar above the title, no y title, the square the column's width
        layout["yaxis"].pop("title", None)
        bar_px, plot_px = 2 * font_size + 34, height - 130 - 55
        colours = colour_axes(ranges, font_size, coded=coded, horizontal=True, bar_y=1 + bar_px / plot_px)
        for axis in colours.values():  # the bar's title above it, clear of its end labels
            axis["colorbar"]["title"]["side"] = "top"
        layout.update(height=height, font=dict(size=font_size), margin=dict(l=42, r=8, t=130, b=55), **colours)
        return data, layout
    layout.update(
        height=height,
        font=dict(size=font_size),
        margin=dict(l=70, r=100, t=70, b=55),
        **colour_axes(ranges, font_size, coded=coded),
    )
    return data, layout


def heatmap_row(
    panels: list[tuple[str, np.ndarray, str]],
    factor: int = 1,
    font_size: int = FONT_SIZE,
    height: int = 420,
    error_range: float | None = None,
    coded: bool = False,
    narrow: bool = False,
) -> go.Figure:
    """Square heatmaps side by side: ``panels`` are (title, z (p, p), kind), kind 'unit', 'error' or 'bias'.

    ``factor`` is the number of positions per pixel (axes are labelled in positions either way).
    The error colour bar spans +-``error_range`` (default: the largest |error| shown). ``coded``
    sends 8-bit colour codes instead of float32 values (a quarter of the data; see
    :func:`~alibi_lsh.app.figures.grid.colour_levels`). ``narrow`` (one panel on a phone): the colour
    bar above the panel and narrow margins, so that the square takes the column's width.
    """
    return plain_figure(*heatmap_row_spec(panels, factor, font_size, height, error_range, coded, narrow))


def bias_kernel_figure(bias: np.ndarray, kernel: np.ndarray, factor: int = 1, font_size: int = FONT_SIZE) -> go.Figure:
    """ALiBi's additive bias -m|i-j| next to its exponential exp(-m|i-j|), both (p, p), in 8-bit colours."""
    return heatmap_row(
        [("ALiBi bias<br>-m|i-j|", bias, "bias"), ("its exponential<br>exp(-m|i-j|)", kernel, "unit")],
        factor=factor,
        font_size=font_size,
        height=440,
        coded=True,
    )


def bias_kernel_panels(
    bias: np.ndarray,
    kernel: np.ndarray,
    factor: int = 1,
    font_size: int = FONT_SIZE,
    height: int = 440,
    narrow: bool = False,
) -> tuple[go.Figure, go.Figure]:
    """:func:`bias_kernel_figure` as two figures, each with its colour bar: two columns of a page
    put them side by side on a wide screen and one under the other on a phone (``narrow``: each
    with its bar above it, as wide as a phone's column)."""
    return (
        heatmap_row([("ALiBi bias -m|i-j|", bias, "bias")], factor, font_size, height, coded=True, narrow=narrow),
        heatmap_row(
            [("its exponential exp(-m|i-j|)", kernel, "unit")], factor, font_size, height, coded=True, narrow=narrow
        ),
    )


def block_squares(starts: list[int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y of closed squares around each block [a, b) on the diagonal (in positions, cell edges
    at half-integers), NaN between squares: one polygon per block for a filled scatter trace."""
    begin = np.asarray(starts, dtype=np.float64) - 0.5
    end = np.append(np.asarray(starts[1:], dtype=np.float64), n) - 0.5
    nan = np.full_like(begin, np.nan)
    xs = np.stack([begin, end, end, begin, begin, nan], axis=1).reshape(-1)
    ys = np.stack([begin, begin, end, end, begin, nan], axis=1).reshape(-1)
    return xs, ys


def mask_grid(
    starts: list[list[int]],
    n: int,
    cols: int = 4,
    font_size: int = FONT_SIZE,
    max_outlined_blocks: int = 128,
    titles: list[str] | None = None,
    panel_height: int = 300,
    compact: bool = False,
) -> go.Figure:
    """Sampled block masks in a grid, drawn exactly from their block starts (positions 0..n-1).

    A mask is 1 where i and j share a block: each block [a, b) is a filled dark square on the
    diagonal, outlined in orange for masks with at most ``max_outlined_blocks`` blocks (beyond
    that the outlines would merge into a line). Drawn from the starts rather than as an n x n
    raster: exact at every n (no averaged grey edges) and a few bytes per block instead of n^2.

    ``compact`` (a row on a projector): tick labels on the first panel only (every panel spans the
    same positions) and narrow gaps, so that the squares take the width: three of them are about
    385 px on a 1280-pixel screen instead of 340.
    """
    count = len(starts)
    cols = min(cols, count)
    rows = -(-count // cols)
    titles = titles or [f"mask {k + 1}" for k in range(count)]
    filled = UNIT_COLORSCALE[-1][1]
    data = []
    for k, mask_starts in enumerate(starts):
        xs, ys = block_squares(mask_starts, n)
        outlined = len(mask_starts) <= max_outlined_blocks
        data.append(
            dict(
                type="scatter",
                x=typed_array(xs),
                y=typed_array(ys),
                mode="lines",
                fill="toself",
                fillcolor=filled,
                line=dict(color=EDGE_COLOR if outlined else filled, width=1.5 if outlined else 0.5),
                hoverinfo="skip",
                showlegend=False,
                **subplot_axes(k + 1),
            )
        )
    # Between rows: the tick labels of one panel and the title of the next, in pixels (a fraction
    # of the figure's height would shrink to nothing with the eight rows of a phone's column).
    gap = (2 * font_size + 40) / (rows * panel_height) if rows > 1 else 0
    spacing = 0.01 if compact else 0.06
    layout = grid(rows, cols, titles, font_size, horizontal_spacing=spacing, vertical_spacing=gap)
    layout.update(square_axes(layout, rows, cols, font_size, titles=False))
    for index in range(1, count + 1):  # scatter traces need the matrix's extent set by hand
        suffix = "" if index == 1 else str(index)
        layout[f"xaxis{suffix}"].update(range=[-0.5, n - 0.5], autorange=False, showgrid=False, zeroline=False)
        layout[f"yaxis{suffix}"].update(range=[n - 0.5, -0.5], autorange=False, showgrid=False, zeroline=False)
        if compact:  # a thin frame shows each matrix's extent across the narrow gaps
            frame = dict(showline=True, linecolor="#bdbdbd", linewidth=1, mirror=True)
            layout[f"xaxis{suffix}"].update(frame, showticklabels=index == 1)
            layout[f"yaxis{suffix}"].update(frame, showticklabels=index == 1)  # labels clear of a neighbour's
    # One column is a phone's (or the tour's): narrow side margins leave the panel the width.
    left, right = (48, 4) if compact else ((55, 20) if cols > 1 else (45, 8))
    layout.update(
        height=panel_height * rows + 70,
        font=dict(size=font_size),
        margin=dict(l=left, r=right, t=45, b=25),
        plot_bgcolor="#ffffff",
    )
    return plain_figure(data, layout)


def _slope_label(slope: float) -> str:
    """1/2, 1/16, ... for ALiBi's power-of-two slopes, else three significant digits."""
    inverse = 1 / slope
    return f"1/{inverse:.0f}" if abs(inverse - round(inverse)) < 1e-9 else f"{slope:.3g}"


def per_head_figure(
    kernels: np.ndarray,
    means: np.ndarray,
    slopes: list[float],
    samples: int,
    factor: int = 1,
    font_size: int = FONT_SIZE,
    narrow: bool = False,
    shown: tuple[int, ...] | None = None,
) -> go.Figure:
    """Small heatmaps of every head, in 8-bit colours: kernel and mean of R masks per head.

    Wide (a laptop or a projector): two rows, kernel above and mean of R masks below, one column
    per head, headed by the head number (from 1) and its slope; with more than 8 heads the
    headings shrink to the number and the slope. ``narrow`` (a phone): one column, kernel and
    mean of each head in ``shown`` (0-based head indices; default every head) one under the
    other, the colour bar on top, so every panel gets the column's full width.
    """
    heads = kernels.shape[0]
    coded = (0.0, 1.0)
    if narrow:
        shown = tuple(range(heads)) if shown is None else tuple(shown)
        if not shown or not all(0 <= h < heads for h in shown):
            raise ValueError(f"shown must list head indices in 0..{heads - 1}, got {shown}")
        titles = []
        for h in shown:
            titles += [f"head {h + 1}, m={_slope_label(slopes[h])}: kernel", f"head {h + 1}: mean, R={samples}"]
        data = []
        for k, h in enumerate(shown):
            data.append(heatmap_trace(kernels[h], "unit", factor, subplot=2 * k + 1, coded=coded))
            data.append(heatmap_trace(means[h], "unit", factor, subplot=2 * k + 2, coded=coded))
        rows = 2 * len(shown)
        # A phone's column is ~360 px wide: rows of a 340 px square plus room for its title.
        title_px, row_px = 2 * font_size + 8, 340 + 2 * font_size + 8
        layout = grid(rows, 1, titles, font_size, horizontal_spacing=0, vertical_spacing=title_px / (rows * row_px))
        layout.update(square_axes(layout, rows, 1, font_size, titles=False, ticks=False))
        plot_px = rows * row_px
        layout.update(
            height=plot_px + 70 + title_px + 10,
            font=dict(size=font_size),
            margin=dict(l=10, r=10, t=70 + title_px, b=10),
            # The bar above the first panel's title.
            **colour_axes({"unit": (0.0, 1.0)}, font_size, coded=True, horizontal=True, bar_y=1 + title_px / plot_px),
        )
        return plain_figure(data, layout)
    if heads <= 8:
        titles = [f"head {h + 1}<br>m={_slope_label(slopes[h])}" for h in range(heads)]
    else:
        titles = [f"{h + 1}<br>{_slope_label(slopes[h])}" for h in range(heads)]
    data = [heatmap_trace(kernels[h], "unit", factor, subplot=h + 1, coded=coded) for h in range(heads)]
    data += [heatmap_trace(means[h], "unit", factor, subplot=heads + h + 1, coded=coded) for h in range(heads)]
    small = tick_size(font_size)
    layout = grid(
        2,
        heads,
        titles,
        small,
        horizontal_spacing=0.02,
        vertical_spacing=0.06,
        row_titles=["kernel", f"mean, R={samples}"],
    )
    layout.update(square_axes(layout, 2, heads, font_size, titles=False, ticks=False))
    layout.update(
        height=max(320, 2 * 1100 // max(heads, 4) + 130),
        font=dict(size=font_size),
        margin=dict(l=20, r=100, t=30 + 2 * small + 10, b=20),
        **colour_axes({"unit": (0.0, 1.0)}, font_size, coded=True),
    )
    return plain_figure(data, layout)
