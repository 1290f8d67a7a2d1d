"""Where to put the labels of a log-log chart's points so that no two overlap, nor a label and a point.

Vega-Lite places a text mark at a fixed offset from its point; it cannot move one label out of
another's way. So the side of each label (one of :data:`ANCHORS`) is chosen here, greedily, on the
chart's geometry in pixels at a few plot sizes (a projector's panel, a phone's): the first side, in
the order preferred, whose box leaves the plot and every point and label placed before alone, else
the side that overlaps least, lines counting less than text and points. No Streamlit here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Side name -> (align, baseline, dx, dy) of the text mark: the offsets in pixels from the point.
ANCHORS: dict[str, tuple[str, str, int, int]] = {
    "above right": ("left", "bottom", 6, -3),
    "right": ("left", "middle", 9, 0),
    "below right": ("left", "top", 6, 3),
    "above": ("center", "bottom", 0, -8),
    "below": ("center", "top", 0, 8),
    "above left": ("right", "bottom", -6, -3),
    "left": ("right", "middle", -9, 0),
    "below left": ("right", "top", -6, 3),
}
# Plot sizes (width, height in pixels, axes excluded) the labels must fit: a panel of a projector's
# two-column step at 1280 x 720 and one on a 390 px wide phone.
PLOT_SIZES = ((400, 300), (270, 300))
PADDING = 12  # the charts' scale padding: the extreme points sit this far inside the plot
POINT_RADIUS = 5.0
CHAR_WIDTH = 0.58  # a character of the labels' sans-serif font, in ems (digits, "=", lower case)


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels, y down."""

    left: float
    top: float
    right: float
    bottom: float

    def overlap(self, other: Box) -> float:
        width = min(self.right, other.right) - max(self.left, other.left)
        height = min(self.bottom, other.bottom) - max(self.top, other.top)
        return max(width, 0.0) * max(height, 0.0)


def point_box(x: float, y: float) -> Box:
    """The box of a point's marker."""
    return Box(x - POINT_RADIUS, y - POINT_RADIUS, x + POINT_RADIUS, y + POINT_RADIUS)


def label_box(x: float, y: float, text: str, anchor: str, font_px: float) -> Box:
    """The box of the label ``text`` of the point (x, y) (pixels) on side ``anchor`` (estimated width)."""
    align, baseline, dx, dy = ANCHORS[anchor]
    width, height = CHAR_WIDTH * font_px * len(text), font_px
    left = x + dx - {"left": 0.0, "center": width / 2, "right": width}[align]
    top = y + dy - {"top": 0.0, "middle": height / 2, "bottom": height}[baseline]
    return Box(left, top, left + width, top + height)


def _segment_in_box(a: tuple[float, float], b: tuple[float, float], box: Box, steps: int = 24) -> float:
    """The share of the segment a-b inside ``box`` (sampled), times its length in pixels."""
    inside = sum(
        box.left <= a[0] + (b[0] - a[0]) * t / steps <= box.right
        and box.top <= a[1] + (b[1] - a[1]) * t / steps <= box.bottom
        for t in range(steps + 1)
    )
    return inside / (steps + 1) * math.dist(a, b)


def plot_positions(xs: Sequence[float], ys: Sequence[float], width: int, height: int) -> list[tuple[float, float]]:
    """Log-scale positions of the points in a plot of width x height (y down), as the charts scale them."""
    lx, ly = [math.log10(x) for x in xs], [math.log10(y) for y in ys]

    def scale(values: list[float], size: int, flip: bool) -> list[float]:
        low, high = min(values), max(values)
        spread = (high - low) or 1.0
        out = [PADDING + (v - low) / spread * (size - 2 * PADDING) for v in values]
        return [size - p for p in out] if flip else out

    return list(zip(scale(lx, width, False), scale(ly, height, True)))


def place_labels(
    xs: Sequence[float],
    ys: Sequence[float],
    texts: Sequence[str],
    lines: Sequence[Sequence[int]],
    preferred: Sequence[Sequence[str]],
    font_px: float,
    sizes: Sequence[tuple[int, int]] = PLOT_SIZES,
) -> list[str]:
    """The side (a key of :data:`ANCHORS`) of each point's label, on log-log axes.

    Args:
        xs, ys: the points' coordinates (> 0), one per label.
        texts: the labels.
        lines: the points each line joins, in order (indices into ``xs``).
        preferred: for each point, the sides to try first, in order (the others follow).
        font_px: the labels' font size in pixels.
        sizes: the plot sizes (width, height) the labels must fit at once.

    Returns:
        One side per point. Labels are placed in the order given; each avoids the plot's edges,
        every point, the labels placed before it and (less strictly) the lines.
    """
    geometries = [plot_positions(xs, ys, width, height) for width, height in sizes]
    placed: list[list[Box]] = [[] for _ in sizes]
    sides = []
    for index, text in enumerate(texts):
        order = list(dict.fromkeys([*preferred[index], *ANCHORS]))
        costs = []
        for rank, anchor in enumerate(order):
            cost = 0.0
            for (width, height), points, boxes in zip(sizes, geometries, placed):
                box = label_box(*points[index], text, anchor, font_px)
                area = (box.right - box.left) * (box.bottom - box.top)
                cost += 50.0 * (area - Box(0, 0, width, height).overlap(box))  # outside the plot
                cost += 20.0 * sum(box.overlap(other) for other in boxes)
                cost += 20.0 * sum(box.overlap(point_box(x, y)) for x, y in points)
                cost += 8.0 * sum(
                    _segment_in_box(points[a], points[b], box) for line in lines for a, b in zip(line, line[1:])
                )
            costs.append((cost, rank, anchor))
        best = min(costs)[2]
        sides.append(best)
        for points, boxes in zip(geometries, placed):
            boxes.append(label_box(*points[index], text, best, font_px))
    return sides
