"""How the random blocks compute one query's attention: scores, the blocks' bias, the weights.

Three panels over the key position j, one above the other: the scores s_ij; the bias the blocks
add, log(c_ij / R) (c_ij: in how many of the R masks i and j share a block), against ALiBi's
-m|i-j|, which it estimates; and the resulting weights of exact ALiBi, the blocks and a window.
Keys outside every block (c_ij = 0, bias -inf) are left out of the bias panel. No Streamlit here.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .charts import style, with_data
from .style import FONT_SIZE, METHOD_COLORS

WEIGHT_NAMES = {"exact": "exact ALiBi", "blocks": "blocks: softmax(s + log c)", "window": "window"}
BIAS_NAMES = {"alibi_bias": "ALiBi bias -m|i-j|", "block_bias": "blocks' bias log(c / R)"}


def mechanism_tables(mechanism: pd.DataFrame, samples: int, window: int) -> dict[str, pd.DataFrame]:
    """Datasets "scores", "bias" and "weights" of :func:`mechanism_layout` from ``query_mechanism``'s table."""
    bias = mechanism[["key", "alibi_bias"]].assign(block_bias=mechanism["log_count"] - np.log(samples))
    bias = bias.melt("key", list(BIAS_NAMES), var_name="what", value_name="bias")
    bias = bias[np.isfinite(bias["bias"])].replace({"what": BIAS_NAMES})
    names = {**WEIGHT_NAMES, "window": f"window w = {window}"}
    weights = mechanism.melt("key", list(WEIGHT_NAMES), var_name="method", value_name="weight")
    weights["method"] = weights["method"].map(names)
    return {"scores": mechanism[["key", "score"]], "bias": bias.reset_index(drop=True), "weights": weights}


def mechanism_layout(window: int, font_size: int = FONT_SIZE, height: int = 120) -> alt.TopLevelMixin:
    """Scores, the two biases and the three weights of one query, stacked over a shared key axis."""
    x = alt.X("key:Q", title="key position j")
    scores = (
        alt.Chart(alt.NamedData("scores"))
        .mark_line(color="#555", strokeWidth=1.5)
        .encode(x=x, y=alt.Y("score:Q", title="score s"), tooltip=["key:Q", alt.Tooltip("score:Q", format=".3f")])
        .properties(height=height, title="1. the scores q.k / sqrt(d)")
    )
    bias = (
        alt.Chart(alt.NamedData("bias"))
        .mark_line(strokeWidth=2, interpolate="step-after")
        .encode(
            x=x,
            y=alt.Y("bias:Q", title="bias"),
            color=alt.Color(
                "what:N",
                scale=alt.Scale(domain=list(BIAS_NAMES.values()), range=["#222222", METHOD_COLORS["approximate"]]),
                legend=alt.Legend(orient="right", title=None),
            ),
            tooltip=["what:N", "key:Q", alt.Tooltip("bias:Q", format=".3f")],
        )
        .properties(height=height, title="2. the bias added to each score")
    )
    names = [WEIGHT_NAMES["exact"], WEIGHT_NAMES["blocks"], f"window w = {window}"]
    weights = (
        alt.Chart(alt.NamedData("weights"))
        .mark_line(strokeWidth=2, interpolate="step-after")
        .encode(
            x=x,
            y=alt.Y("weight:Q", title="weight"),
            color=alt.Color(
                "method:N",
                scale=alt.Scale(domain=names, range=list(METHOD_COLORS.values())),
                legend=alt.Legend(orient="right", title=None),
            ),
            strokeDash=alt.StrokeDash(
                "method:N", scale=alt.Scale(domain=names, range=[[1, 0], [1, 0], [6, 3]]), legend=None
            ),
            tooltip=["method:N", "key:Q", alt.Tooltip("weight:Q", format=".4f")],
        )
        .properties(height=height, title="3. softmax: the weights")
    )
    chart = alt.vconcat(scores, bias, weights).resolve_scale(color="independent", strokeDash="independent")
    return style(chart, font_size)


def mechanism_chart(mechanism: pd.DataFrame, samples: int, window: int, font_size: int = FONT_SIZE):
    return with_data(mechanism_layout(window, font_size), mechanism_tables(mechanism, samples, window))
