"""Plotly heatmaps of n x n matrices: kernels, masks, running means and their errors.

Matrices are square, with the query position i down and the key position j across; heatmap
values are stored base64-encoded (:func:`~alibi_lsh.app.figures.grid.typed_array`; read them back
with :func:`~alibi_lsh.app.figures.grid.decode`). Panel titles are kept short (two lines at most)
so that three panels side by side stay apart on a 1024-pixel-wide projector in lecture mode.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .grid import grid, plain_figure, square_axes, subplot_axes, typed_array
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


def heatmap_trace(z: np.ndarray, kind: str, factor: int = 1, subplot: int = 1) -> dict:
    """One heatmap trace (z (p, p)) on subplot ``subplot`` (1-based, row-major), bound to the
    shared colour axis of its ``kind`` ('unit', 'error' or 'bias')."""
    centres = _centres(z.shape[-1], factor)
    return {
        "type": "heatmap",
        "z": typed_array(z),
        "x": centres.tolist(),
        "y": centres.tolist(),
        **subplot_axes(subplot),
        "coloraxis": COLOUR_AXES[kind][0],
        "hovertemplate": "i=%{y}<br>j=%{x}<br>value=%{z:.3f}<extra></extra>",
    }


def _tick_label(value: float) -> str:
    """A colour-bar label: two significant digits, a true minus sign, 0 without a sign."""
    return "0" if abs(value) < 1e-12 else f"{value:.2g}".replace("-", "\u2212")


def colour_axes(ranges: dict[str, tuple[float, float]], font_size: int) -> dict:
    """Layout entries of the colour axes in ``ranges`` (kind -> (min, max)), their colour bars
    stacked at the right edge, top to bottom in the order given.

    Tick labels sit just below their ticks, so that the top one stays clear of the bar's title,
    and the bars leave room between them for the bottom label of one and the title of the next.
    """
    axes = {}
    count = len(ranges)
    for index, (kind, (low, high)) in enumerate(ranges.items()):
        key, scale, title = COLOUR_AXES[kind]
        axes[key] = dict(
            colorscale=scale,
            cmin=low,
            cmax=high,
            colorbar=dict(
                title=dict(text=title, font=dict(size=font_size), side="top"),
                tickfont=dict(size=tick_size(font_size)),
                ticklabelposition="outside bottom",
                # Three labels, at the ends and the middle: more would crowd a short bar.
                tickvals=[low, (low + high) / 2, high],
                ticktext=[_tick_label(low), _tick_label((low + high) / 2), _tick_label(high)],
                x=1.02,
                xanchor="left",
                y=1 - (index + 0.5) / count,
                len=0.62 / count,
                thickness=14,
            ),
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
) -> tuple[list[dict], dict]:
    """Traces and layout of :func:`heatmap_row` (plain dicts, for builders that add to them)."""
    data = [heatmap_trace(z, kind, factor, subplot) for subplot, (_, z, kind) in enumerate(panels, start=1)]
    layout = grid(1, len(panels), [p[0] for p in panels], font_size, horizontal_spacing=0.08, vertical_spacing=0)
    layout.update(square_axes(layout, rows=1, cols=len(panels), font_size=font_size))
    layout.update(
        height=height,
        font=dict(size=font_size),
        margin=dict(l=70, r=100, t=70, b=55),
        **colour_axes(_ranges(panels, error_range), font_size),
    )
    return data, layout


def heatmap_row(
    panels: list[tuple[str, np.ndarray, str]],
    factor: int = 1,
    font_size: int = FONT_SIZE,
    height: int = 420,
    error_range: float | None = None,
) -> go.Figure:
    """Square heatmaps side by side: ``panels`` are (title, z (p, p), kind), kind 'unit', 'error' or 'bias'.

    ``factor`` is the number of positions per pixel (axes are labelled in positions either way).
    The error colour bar spans +-``error_range`` (default: the largest |error| shown).
    """
    return plain_figure(*heatmap_row_spec(panels, factor, font_size, height, error_range))


def claim_figure(
    kernel: np.ndarray, mean: np.ndarray, samples: int, factor: int = 1, font_size: int = FONT_SIZE
) -> go.Figure:
    """The claim in one row: exp(-m|i-j|), the mean of R masks, and their difference (all (p, p))."""
    return heatmap_row(
        [
            ("ALiBi kernel<br>exp(-m|i-j|)", kernel, "unit"),
            (f"mean of<br>R = {samples} masks", mean, "unit"),
            ("difference<br>mean - kernel", mean - kernel, "error"),
        ],
        factor=factor,
        font_size=font_size,
    )


def bias_kernel_figure(bias: np.ndarray, kernel: np.ndarray, factor: int = 1, font_size: int = FONT_SIZE) -> go.Figure:
    """ALiBi's additive bias -m|i-j| next to its exponential exp(-m|i-j|), both (p, p)."""
    return heatmap_row(
        [("ALiBi bias<br>-m|i-j|", bias, "bias"), ("its exponential<br>exp(-m|i-j|)", kernel, "unit")],
        factor=factor,
        font_size=font_size,
        height=440,
    )


def block_outline(starts: list[int], n: int) -> tuple[list, list]:
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
    panel_height: int = 300,
) -> go.Figure:
    """Sampled block masks in a grid (bool or 0..1, (c, p, p)), each block outlined in orange.

    Outlines are drawn for masks with at most ``max_outlined_blocks`` blocks (beyond that they
    would merge into a line); ``starts`` are block starts in positions.
    """
    count = masks.shape[0]
    cols = min(cols, count)
    rows = -(-count // cols)
    n = masks.shape[-1] * factor
    titles = titles or [f"mask {k + 1}" for k in range(count)]
    data = []
    for k in range(count):
        data.append(heatmap_trace(masks[k].astype(np.float32), "unit", factor, subplot=k + 1))
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
                    **subplot_axes(k + 1),
                )
            )
    layout = grid(rows, cols, titles, font_size, horizontal_spacing=0.06, vertical_spacing=0.12)
    layout.update(square_axes(layout, rows, cols, font_size, titles=False))
    layout.update(
        height=panel_height * rows + 50,
        font=dict(size=font_size),
        margin=dict(l=55, r=100, t=45, b=25),
        **colour_axes({"unit": (0.0, 1.0)}, font_size),
    )
    return plain_figure(data, layout)


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

    data, layout = heatmap_row_spec(
        [
            ("ALiBi kernel", kernel, "unit"),
            ("mean of r masks", frames[0], "unit"),
            ("error", frames[0] - kernel, "error"),
        ],
        factor=factor,
        font_size=font_size,
        height=540,
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
    # Play/pause at the top left, beside the title, so that they are in the first screen of a
    # projector; the r slider under the panels.
    layout.update(
        title=dict(text=title(0), font=dict(size=font_size + 2), x=0.5, xanchor="center", y=0.97, yanchor="top"),
        margin=dict(layout["margin"], t=110, b=90),
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=1.0,
                xanchor="left",
                yanchor="bottom",
                font=dict(size=tick_size(font_size)),
                pad=dict(b=font_size * 2 + 16),
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
                x=0.0,
                y=-0.12,
                len=1.0,
                yanchor="top",
                pad=dict(t=0, b=0),
                currentvalue=dict(prefix="r = ", font=dict(size=font_size), xanchor="left"),
                font=dict(size=tick_size(font_size)),
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
    return plain_figure(data, layout, animation)


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
) -> go.Figure:
    """Two rows of small heatmaps, kernel above and mean of R masks below, one column per head.

    Columns are headed by the head number (from 1) and its slope; with more than 8 heads the
    headings shrink to the number and the slope, so that they stay apart.
    """
    heads = kernels.shape[0]
    if heads <= 8:
        titles = [f"head {h + 1}<br>m={_slope_label(slopes[h])}" for h in range(heads)]
    else:
        titles = [f"{h + 1}<br>{_slope_label(slopes[h])}" for h in range(heads)]
    data = [heatmap_trace(kernels[h], "unit", factor, subplot=h + 1) for h in range(heads)]
    data += [heatmap_trace(means[h], "unit", factor, subplot=heads + h + 1) for h in range(heads)]
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
        **colour_axes({"unit": (0.0, 1.0)}, font_size),
    )
    return plain_figure(data, layout)
