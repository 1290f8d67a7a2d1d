"""One query's attention weights on a log axis: the kernel's tail, the blocks' estimate and a window's cut.

On a linear axis the three curves lie on top of each other near the query; on a log axis the
exact kernel is a straight line, the window stops dead at its width and the mean of R masks
scatters around the line out to where its blocks reach. Zero weights (beyond the cut, beyond every
sampled block) cannot be drawn on a log axis and are left out. No Streamlit here.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from .charts import style, with_data
from .style import FONT_SIZE, METHOD_COLORS


def _names(window: int) -> dict[str, str]:
    return {"exact": "exact ALiBi", "approximate": "mean of R masks", "window": f"window w = {window}"}


def attention_log_tables(row: pd.DataFrame, window: int) -> dict[str, pd.DataFrame]:
    """``attention_data.attention_row``'s table as dataset "row" (key, method, weight > 0)."""
    long = row.melt("key", ["exact", "approximate", "window"], var_name="method", value_name="weight")
    long = long[long["weight"] > 0].copy()
    long["method"] = long["method"].map(_names(window))
    return {"row": long.reset_index(drop=True)}


def attention_log_layout(query: int, window: int, font_size: int = FONT_SIZE, height: int = 340) -> alt.TopLevelMixin:
    """Weight of query ``query`` against key position, log y: exact, the blocks' mean, the window."""
    names = _names(window)
    domain = [names[m] for m in METHOD_COLORS]
    chart = (
        alt.Chart(alt.NamedData("row"))
        .mark_line(strokeWidth=2.5, interpolate="step-after")
        .encode(
            x=alt.X("key:Q", title="key position j"),
            y=alt.Y(
                "weight:Q",
                scale=alt.Scale(type="log"),
                # Streamlit's theme sets labelFlush, which moves the end labels inward, off their ticks.
                axis=alt.Axis(format=".0e", tickCount=6, labelFlush=False),
                title=f"weight, query {query}",
            ),
            color=alt.Color(
                "method:N",
                scale=alt.Scale(domain=domain, range=list(METHOD_COLORS.values())),
                legend=alt.Legend(orient="top", title=None),
            ),
            strokeDash=alt.StrokeDash(
                "method:N", scale=alt.Scale(domain=domain, range=[[1, 0], [1, 0], [6, 3]]), legend=None
            ),
            tooltip=["method:N", "key:Q", alt.Tooltip("weight:Q", format=".3e")],
        )
        .properties(height=height)
    )
    return style(chart, font_size)


def attention_log_chart(row: pd.DataFrame, query: int, window: int, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    return with_data(attention_log_layout(query, window, font_size), attention_log_tables(row, window))
