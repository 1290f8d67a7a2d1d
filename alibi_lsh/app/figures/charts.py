"""Altair line and bar charts of the app: error curves, width laws, attention rows, benchmarks.

Each chart comes in two parts: a *layout* that reads named datasets (``alt.NamedData``) and
depends only on a few labels, and the *tables* that fill them. Building an altair chart costs
20-300 ms (schema objects, copies), so the app builds each layout once per label set and only
swaps the tables when the numbers change (:func:`spec_with_data`). ``*_chart`` functions join
both, for tests and notebooks. No Streamlit here.
"""

from __future__ import annotations

import copy

import altair as alt
import pandas as pd

from .style import FONT_SIZE, METHOD_COLORS, SCHEME_COLORS, TEXT_COLOR, tick_size

_SUPERSCRIPTS = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
_DECADES = range(-15, 16)


def _decade_label_expression() -> str:
    """A Vega expression that labels a log axis at powers of ten only, all written 10^k (10⁻⁷, 10⁰,
    10³): one notation from end to end, no '0.000001' beside '1e-7', and no label between decades
    that would sit next to a line and read as its value."""
    exponent = "round(log(datum.value) / LN10)"
    at_decade = f"abs(log(datum.value) / LN10 - {exponent}) < 1e-6"
    labels = "''"
    for k in reversed(_DECADES):
        labels = f"{exponent} == {k} ? '10{str(k).translate(_SUPERSCRIPTS)}' : {labels}"
    return f"{at_decade} ? ({labels}) : ''"


DECADE_LABELS = _decade_label_expression()


def decade_log_y(field: str, title: str | None = None) -> alt.Y:
    """A log y axis that spans whole decades and labels each decade as 10^k (:data:`DECADE_LABELS`)."""
    return alt.Y(
        field,
        title=title if title is not None else alt.Undefined,
        scale=alt.Scale(type="log", nice=True),
        # Streamlit's theme sets labelFlush: the end labels would move inward, off their decades,
        # and read as the value of a line drawn there.
        axis=alt.Axis(labelExpr=DECADE_LABELS, tickCount=20, gridOpacity=0.6, labelFlush=False),
    )


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


def side_by_side_panels(spec: dict) -> list[dict]:
    """The panels of a side-by-side (``hconcat``) Vega-Lite dict as single views that take their
    place's width, so that each can stand in its own column: side by side on a projector, one
    under the other on a phone (Vega-Lite sizes only a single or layered view to its container,
    so a concatenation of fixed-width panels would be cut at the right of a phone).

    Every view keeps the datasets and the config; only the last one draws the legends. A dict
    without ``hconcat`` is returned alone.
    """
    if "hconcat" not in spec:
        return [spec]
    shared = {key: value for key, value in spec.items() if key not in ("hconcat", "resolve", "spacing")}
    panels = []
    last = len(spec["hconcat"]) - 1
    for index, panel in enumerate(spec["hconcat"]):
        view = {**copy.deepcopy(shared), **copy.deepcopy(panel), "width": "container"}
        if index < last:  # one legend for the row, at its right end
            config = view.setdefault("config", {})
            config["legend"] = {**config.get("legend", {}), "disable": True}
        panels.append(view)
    return panels


def legend_below(panel: dict, plot_height: int = 260) -> dict:
    """A copy of a single-view Vega-Lite dict (a panel of :func:`side_by_side_panels`) with its
    legends under the plot, one entry a row: on a phone's 360-pixel column a legend at the right
    would leave the plot a third of the width. The plot is ``plot_height`` pixels tall."""
    view = copy.deepcopy(panel)
    config = view.setdefault("config", {})
    config["legend"] = {**config.get("legend", {}), "orient": "bottom", "direction": "vertical", "columns": 1}
    # The plot keeps its own height and the chart grows by the legend's, however many entries it has.
    view["autosize"] = {"type": "fit-x", "contains": "padding"}  # the width is still the column's
    view["height"] = plot_height
    return view


def legends_under(spec: dict) -> dict:
    """A copy of any Vega-Lite dict with every legend under its plot, one entry a row (the config's
    and each encoding's own): for a phone, where a legend at the right takes half of each plot."""
    view = copy.deepcopy(spec)

    def move(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "legend" and isinstance(value, dict):
                    value.update(orient="bottom", direction="vertical", columns=1)
                else:
                    move(value)
        elif isinstance(node, list):
            for item in node:
                move(item)

    move({key: value for key, value in view.items() if key != "datasets"})
    config = view.setdefault("config", {})
    config["legend"] = {**config.get("legend", {}), "orient": "bottom", "direction": "vertical", "columns": 1}
    return view


def style(chart: alt.TopLevelMixin, font_size: int = FONT_SIZE, legend_orient: str | None = None) -> alt.TopLevelMixin:
    """Projector-friendly fonts on any altair chart (ticks >= 14 px, >= 18 px in lecture mode);
    optionally move every legend (``"bottom"``: a horizontal legend under the chart)."""
    small = tick_size(font_size)
    ink = dict(labelColor=TEXT_COLOR, titleColor=TEXT_COLOR)  # dark text: a projector washes grey out
    # Full-colour swatches: a legend merged from a line and its pale band would show the band's tint.
    legend = dict(labelFontSize=small, titleFontSize=font_size, symbolSize=160, symbolOpacity=1, labelLimit=400, **ink)
    if legend_orient == "bottom":
        legend.update(orient="bottom", direction="horizontal", columns=4)
    elif legend_orient:
        legend.update(orient=legend_orient)
    return (
        chart.configure_axis(labelFontSize=small, titleFontSize=font_size, titleLimit=600, **ink)
        .configure_legend(**legend)
        .configure_title(fontSize=font_size + 2, color=TEXT_COLOR)
        .configure_header(labelFontSize=font_size, titleFontSize=font_size, **ink)
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
        "series:N",
        title=None,
        legend=alt.Legend(orient="top", columns=1),  # one entry a row: the law's formula fits a phone's width
        scale=alt.Scale(range=["#9ecae1", "#d62728"]),
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
    panel_width = 500 // max(1, len(metrics))  # two or three panels and the legend fit a 1024-pixel projector
    panels = []
    schemes = tuple(sorted(schemes))
    scheme_scale = alt.Scale(domain=list(schemes), range=[SCHEME_COLORS[s] for s in schemes])
    # Lines and bands share this encoding: a layer with legend=None would hide the merged scheme legend.
    color = alt.Color("scheme:N", scale=scheme_scale, title="scheme")
    x = alt.X("R:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(values=list(ticks)), title="samples R")
    ref_y = decade_log_y("value:Q")
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
        y = decade_log_y("mean:Q", f"{metric} error")
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
        panels.append(alt.layer(band, line, references).properties(title=metric, width=panel_width, height=280))
    if len(panels) == 1:  # one panel takes its place's width: a phone's column as well as a projector
        return style(panels[0].properties(width="container"), font_size, legend_orient="right")
    chart = alt.hconcat(*panels).resolve_scale(y="independent")
    return style(chart, font_size, legend_orient="right")  # in the first screen, next to the lines


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


def _bars_per_head(group: str, value: str, y_title: str, height: int, colours: list[str] | None = None) -> alt.Chart:
    """Grouped bars from dataset "errors": one group per head, one bar per ``group`` value."""
    colour_scale = alt.Scale(range=colours) if colours else alt.Undefined
    return (
        alt.Chart(alt.NamedData("errors"))
        .mark_bar()
        .encode(
            x=alt.X("head:O", title="head (slope halves each step)"),
            xOffset=f"{group}:N",
            y=alt.Y(f"{value}:Q", title=y_title),
            color=alt.Color(f"{group}:N", legend=alt.Legend(orient="top", title=None), scale=colour_scale),
            tooltip=[
                "head:O",
                alt.Tooltip("slope:Q", format=".4g"),
                f"{group}:N",
                alt.Tooltip(f"{value}:Q", format=".4f"),
            ],
        )
        .properties(height=height)
    )


def head_error_layout(font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Grouped bars: error of the mean of R masks per head (dataset "errors")."""
    return style(_bars_per_head("metric", "error", "error of the mean of R masks", 300), font_size)


def head_error_bars(table: pd.DataFrame, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Grouped bars: error of the mean of R masks per head (``per_head_data``'s table, wide)."""
    return with_data(head_error_layout(font_size), head_error_tables(table))


def _window_label(window: int | None) -> str:
    """The window's line in a legend, with its width when known (``window w=16``)."""
    return "window" if window is None else f"window w={window}"


def attention_row_tables(row: pd.DataFrame, window: int | None = None) -> dict[str, pd.DataFrame]:
    """``attention_row``'s table in long form (key, method, weight) as dataset "row"; with ``window``
    (its width in positions) the window's method reads ``window w=...``."""
    long = row.melt("key", ["exact", "approximate", "window"], var_name="method", value_name="weight")
    long["method"] = long["method"].replace({"window": _window_label(window)})
    return {"row": long}


def attention_row_layout(query: int, font_size: int = FONT_SIZE, window: int | None = None) -> alt.TopLevelMixin:
    """Attention weight of one query against key position: exact, approximate and window (dataset "row");
    ``window``, the window's width in positions, is named in the legend (pass the same to the tables)."""
    methods = ["exact", "approximate", _window_label(window)]
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


def attention_row_chart(
    row: pd.DataFrame, query: int, font_size: int = FONT_SIZE, window: int | None = None
) -> alt.TopLevelMixin:
    """Attention weight of one query against key position: exact, approximate and window (of width
    ``window`` positions, named in the legend when given)."""
    return with_data(attention_row_layout(query, font_size, window), attention_row_tables(row, window))


def output_error_layout(font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Relative output error per head for each method (dataset "errors": ``head_output_errors``)."""
    colours = [METHOD_COLORS["approximate"], METHOD_COLORS["window"]]
    title = "relative output error ||o - o_exact|| / ||o_exact||"
    return style(_bars_per_head("method", "relative error", title, 330, colours), font_size)


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
        legend=alt.Legend(orient="top", title=None, columns=2),  # fits a half-width column
    )
    x = alt.X("distance:Q", title="distance d = |i - j| (positions)")
    title = "k(d) = P(same block)"
    y = decade_log_y("value:Q", title + " (log scale)") if log_y else alt.Y("value:Q", title=title)
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
        .mark_circle(size=30, opacity=0.55)
        .encode(x=x, y=y, color=color, tooltip=["distance:Q", alt.Tooltip("value:Q", format=".4f")])
    )
    # The lines over the dots (a dot every position hid both lines), and a height that leaves the
    # plot area about 250 px under its two-row legend and axis titles.
    return style(alt.layer(dots, lines).properties(height=440), font_size)


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


# --- benchmark results (the Scaling page and the tour) ----------------------------------------

FIXED_METHOD_COLOURS = {"dense": "#222222", "flex": "#8c8c8c", "window": "#ff7f0e"}
LSH_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#d62728"]


def scaling_tables(frame: pd.DataFrame, labels: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """The measured rows (status "ok") of the cases ``labels`` as dataset "bench": n, label, time, error."""
    ok = frame[(frame["status"] == "ok") & frame["label"].isin(labels)]
    return {"bench": ok[["n", "label", "time_ms", "rel_error", "peak_mem_mb"]].reset_index(drop=True)}


def _case_colours(labels: tuple[str, ...]) -> list[str]:
    """Exact methods in fixed greys/orange, the lsh cases in a cycle of distinct colours."""
    colours, lsh = [], iter(LSH_COLOURS * (1 + len(labels) // len(LSH_COLOURS)))
    for label in labels:
        colours.append(FIXED_METHOD_COLOURS.get(label) or next(lsh))
    return colours


def scaling_layout(labels: tuple[str, ...], font_size: int = FONT_SIZE, panel_width: int = 245) -> alt.TopLevelMixin:
    """Two log-log panels against the context length n, from dataset "bench" (:func:`scaling_tables`):
    median wall time, and the relative error against the float64 reference; one line per case."""
    color = alt.Color("label:N", scale=alt.Scale(domain=list(labels), range=_case_colours(labels)), title="method")
    x = alt.X("n:Q", scale=alt.Scale(type="log", base=2), title="context length n")
    tooltip = [
        "label:N",
        "n:Q",
        alt.Tooltip("time_ms:Q", format=".1f", title="time (ms)"),
        alt.Tooltip("rel_error:Q", format=".2e", title="relative error"),
        alt.Tooltip("peak_mem_mb:Q", format=".0f", title="peak memory (MB)"),
    ]
    base = alt.Chart(alt.NamedData("bench")).mark_line(point=True, strokeWidth=2.5)
    time = base.encode(x=x, y=decade_log_y("time_ms:Q", "median time (ms)"), color=color, tooltip=tooltip).properties(
        title="time", width=panel_width, height=280
    )
    error = (
        base.transform_filter(alt.datum.rel_error > 0)
        .encode(
            x=x,
            y=decade_log_y("rel_error:Q", "relative error"),
            color=color,
            tooltip=tooltip,
        )
        .properties(title="error against exact (float64)", width=panel_width, height=280)
    )
    # The legend at the right, in the first screen next to the lines it names.
    return style(alt.hconcat(time, error), font_size, legend_orient="right")


def scaling_chart(frame: pd.DataFrame, labels: tuple[str, ...], font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """:func:`scaling_layout` filled with the rows of ``frame`` (a benchmark frame) for ``labels``."""
    return with_data(scaling_layout(labels, font_size), scaling_tables(frame, labels))
