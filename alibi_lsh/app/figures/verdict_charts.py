"""The verdict chart: error against time and against keys per query, for windows and random blocks.

Two log-log panels from one table (the verdict run's rows without exact attention, whose error is
float rounding): one line per family (windows sized per head for a tail mass, windows of one
width, the blocks at increasing R), each point labelled with its setting (t = the tail mass, w,
R), each family's labels on the side of its points that its own line and the others leave free.
No Streamlit here.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from .charts import style, with_data
from .point_labels import ANCHORS, place_labels
from .style import FONT_SIZE, LECTURE_FONT_SIZE, METHOD_COLORS, MIN_FONT_SIZE

FAMILIES = {
    "window, per head": METHOD_COLORS["window"],
    "window, one w": "#8c6d31",
    "random blocks": METHOD_COLORS["approximate"],
}


COSTS = ("time_ms", "keys_per_query")  # the panels' x fields


def label_size(font_size: int) -> int:
    """The points' labels: four points under the figure's font, never under MIN_FONT_SIZE."""
    return max(MIN_FONT_SIZE, font_size - 4)


def verdict_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a verdict run as the chart reads them: family, setting (the label: t = tail mass, w or
    R), time, keys, error, and the side of each label in each panel (``side_time_ms``,
    ``side_keys_per_query``: keys of point_labels.ANCHORS, chosen so that labels do not overlap at
    the lecture's font size)."""
    rows = frame[frame["method"] != "exact"].copy()
    family = {("window", "tail mass"): "window, per head", ("window", "fixed w"): "window, one w"}
    rows["family"] = [family.get((m, s), "random blocks") for m, s in zip(rows["method"], rows["sizing"])]
    rows["setting"] = [
        f"t={p:g}" if s == "tail mass" else (f"w={p:g}" if s == "fixed w" else f"R={p:g}")
        for s, p in zip(rows["sizing"], rows["parameter"])
    ]
    rows["order"] = [-p if s == "tail mass" else p for s, p in zip(rows["sizing"], rows["parameter"])]
    rows["rank"] = [list(FAMILIES).index(name) for name in rows["family"]]
    # Labels are placed family by family: the blocks' (the densest line) first, then the windows'.
    rows = rows.sort_values(["rank", "order"], key=lambda c: -c if c.name == "rank" else c).reset_index(drop=True)
    lines = [list(rows.index[rows["family"] == name]) for name in FAMILIES]
    preferred = [PREFERRED_SIDES[name] for name in rows["family"]]
    for cost in COSTS:
        rows[f"side_{cost}"] = place_labels(
            rows[cost].tolist(),
            rows["rel_error"].tolist(),
            rows["setting"].tolist(),
            lines,
            preferred,
            label_size(LECTURE_FONT_SIZE),
        )
    columns = ["family", "setting", "order", *COSTS, "rel_error", *(f"side_{cost}" for cost in COSTS)]
    return rows[columns]


# The sides tried first for each family's labels. The lines fall from upper left to lower right:
# above right of a point stays off its own line. A white halo under each label keeps it legible
# where another family's line passes behind it.
PREFERRED_SIDES = {
    "window, per head": ("above right", "left", "below left"),
    "window, one w": ("above", "below", "above right"),
    "random blocks": ("above right", "right", "left"),
}
HALO = {"color": "white", "stroke": "white", "strokeWidth": 4, "strokeJoin": "round"}


# Error labels at decades only (0.01, 0.1, 1: one notation); the time and key axes span about one
# decade, so they also get 3, 30, 300 ... to have more than one label.
DECADES = [10.0**e for e in range(-4, 5)]
TICKS = [c * 10.0**e for e in range(-4, 5) for c in (1, 3)]


def verdict_layout(font_size: int = FONT_SIZE, panel_width: int = 270, height: int = 290) -> alt.TopLevelMixin:
    """Error (log) against time (log) and against keys per query (log), from dataset "verdict"."""
    color = alt.Color("family:N", scale=alt.Scale(domain=list(FAMILIES), range=list(FAMILIES.values())), title=None)
    log = alt.Scale(type="log", nice=False, padding=12)
    y = alt.Y("rel_error:Q", scale=log, axis=alt.Axis(format="~g", values=DECADES), title="relative error")
    tooltip = [
        "family:N",
        "setting:N",
        alt.Tooltip("time_ms:Q", format=".0f", title="time (ms)"),
        alt.Tooltip("keys_per_query:Q", format=".0f", title="keys per query"),
        alt.Tooltip("rel_error:Q", format=".3g", title="relative error"),
    ]
    panels = []
    for field, title in (("time_ms", "time (ms, fastest call)"), ("keys_per_query", "keys read per query")):
        x = alt.X(f"{field}:Q", scale=log, axis=alt.Axis(format="~g", values=TICKS), title=title)
        base = alt.Chart(alt.NamedData("verdict")).encode(x=x, y=y, color=color, tooltip=tooltip, order="order:Q")
        lines = base.mark_line(point=alt.OverlayMarkDef(size=70), strokeWidth=2.5)
        halos, labels = [], []
        for side, (align, baseline, dx, dy) in ANCHORS.items():
            points = base.transform_filter(alt.datum[f"side_{field}"] == side)
            place = {"align": align, "baseline": baseline, "dx": dx, "dy": dy, "fontSize": label_size(font_size)}
            halos.append(points.mark_text(**place, **HALO).encode(text="setting:N", color=alt.value("white")))
            labels.append(points.mark_text(**place).encode(text="setting:N"))
        panels.append(alt.layer(lines, *halos, *labels).properties(width=panel_width, height=height))
    return style(alt.hconcat(*panels), font_size, legend_orient="right")


def verdict_chart(frame: pd.DataFrame, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """:func:`verdict_layout` filled with the rows of a verdict run's ``frame``."""
    return with_data(verdict_layout(font_size), {"verdict": verdict_table(frame)})
