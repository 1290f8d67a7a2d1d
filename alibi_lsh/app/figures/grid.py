"""Plotly plumbing shared by the heatmap builders: figures from plain dicts, typed arrays, subplot grids.

The builders write plain dicts and wrap them with :func:`plain_figure` (no per-property
validation): plotly's validators and ``make_subplots`` cost 50-150 ms per figure, more than the
numbers behind it at n = 256. tests/test_figures.py validates every builder's output once instead,
and checks :func:`grid` against ``make_subplots``.
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go

from .style import tick_size


def plain_figure(data: list[dict], layout: dict, frames: list[dict] | None = None) -> go.Figure:
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


COLOUR_LEVELS = 255  # 8-bit colour codes 0..255


def colour_levels(values: np.ndarray, low: float, high: float) -> dict:
    """``values`` as 8-bit colour codes on the colour range low..high, a uint8 typed array.

    code = round(255 (v - low) / (high - low)), clipped to 0..255; the colour axis then spans
    0..255. A code differs from the exact position on the scale by at most 1/510 of the range;
    through the app's colour scales that moves a colour channel by at most 0.71 (masks and
    kernels), 0.92 (bias) and 1.5 (errors, the steepest scale) of its 255 levels (measured in
    tests/test_figures.py): below what the eye tells apart, for a quarter of float32's bytes.
    Only colours: the exact values travel in CSV downloads, tables and the live figures' readouts.
    """
    if not high > low:
        raise ValueError(f"colour range must have high > low, got {low}..{high}")
    scaled = (np.asarray(values, dtype=np.float64) - low) * (COLOUR_LEVELS / (high - low))
    codes = np.clip(np.rint(scaled), 0, COLOUR_LEVELS).astype(np.uint8)
    spec = {"dtype": "u1", "bdata": base64.b64encode(np.ascontiguousarray(codes).tobytes()).decode("ascii")}
    if codes.ndim > 1:
        spec["shape"] = ", ".join(map(str, codes.shape))
    return spec


def decode(value) -> np.ndarray:
    """The numpy array behind a trace property: a :func:`typed_array` dict, or a plain sequence."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = [int(size) for size in value.get("shape", str(array.size)).split(",")]
        return array.reshape(shape)
    return np.asarray(value)


def subplot_axes(subplot: int) -> dict:
    """The axis references of subplot ``subplot`` (1-based, row-major): x/y, x2/y2, ..."""
    suffix = "" if subplot == 1 else str(subplot)
    return {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}


def grid(
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


def square_axes(layout: dict, rows: int, cols: int, font_size: int, titles: bool = True, ticks: bool = True) -> dict:
    """The axes of a :func:`grid` in matrix orientation: row 0 at the top, equal scales, axis
    titles in token positions on the left column and the bottom row."""
    axes: dict[str, dict] = {}
    tick_font = dict(size=tick_size(font_size))
    title_font = dict(size=font_size)
    for index in range(1, rows * cols + 1):
        suffix = "" if index == 1 else str(index)
        row, col = (index - 1) // cols + 1, (index - 1) % cols + 1
        axes[f"yaxis{suffix}"] = dict(
            layout[f"yaxis{suffix}"],
            autorange="reversed",
            scaleanchor=f"x{suffix}",
            constrain="domain",
            tickfont=tick_font,
            showticklabels=ticks,
            nticks=5,
        )
        axes[f"xaxis{suffix}"] = dict(
            layout[f"xaxis{suffix}"], constrain="domain", tickfont=tick_font, showticklabels=ticks, nticks=5
        )
        if titles and col == 1:
            axes[f"yaxis{suffix}"]["title"] = dict(text="query i", font=title_font, standoff=4)
        if titles and row == rows:
            axes[f"xaxis{suffix}"]["title"] = dict(text="key j", font=title_font, standoff=4)
    return axes
