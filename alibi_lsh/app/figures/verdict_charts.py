"""The verdict chart: error against time and against keys per query, for windows and random blocks.

Two log-log panels from one table (the verdict run's rows without exact attention, whose error is
float rounding): one line per family (windows sized per head for a tail mass, windows of one
width, the blocks at increasing R), each point labelled with its setting. No Streamlit here.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from .charts import style, with_data
from .style import FONT_SIZE, METHOD_COLORS

FAMILIES = {
    "window, per head": METHOD_COLORS["window"],
    "window, one w": "#8c6d31",
    "random blocks": METHOD_COLORS["approximate"],
}


def verdict_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a verdict run as the chart reads them: family, setting, time, keys, error."""
    rows = frame[frame["method"] != "exact"].copy()
    family = {("window", "tail mass"): "window, per head", ("window", "fixed w"): "window, one w"}
    rows["family"] = [family.get((m, s), "random blocks") for m, s in zip(rows["method"], rows["sizing"])]
    rows["setting"] = [
        f"t={p:g}" if s == "tail mass" else (f"w={p:g}" if s == "fixed w" else f"R={p:g}")
        for s, p in zip(rows["sizing"], rows["parameter"])
    ]
    rows["order"] = [-p if s == "tail mass" else p for s, p in zip(rows["sizing"], rows["parameter"])]
    columns = ["family", "setting", "order", "time_ms", "keys_per_query", "rel_error"]
    return rows[columns].reset_index(drop=True)


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
        labels = (
            base.transform_filter(alt.datum.family == "random blocks")
            .mark_text(align="left", dx=6, dy=-8, fontSize=max(12, font_size - 6))
            .encode(text="setting:N")
        )
        panels.append((lines + labels).properties(width=panel_width, height=height))
    return style(alt.hconcat(*panels), font_size, legend_orient="right")


def verdict_chart(frame: pd.DataFrame, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """:func:`verdict_layout` filled with the rows of a verdict run's ``frame``."""
    return with_data(verdict_layout(font_size), {"verdict": verdict_table(frame)})
