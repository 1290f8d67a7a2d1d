"""Side-by-side Vega-Lite panels restacked for a phone: one column, each panel as wide as the screen allows.

A layout built for a projector puts its panels in a row (``hconcat``) with the legend at the right;
on a 390-pixel phone that row is wider than the page. Restacking a private copy of the spec keeps
every panel, its data and its encodings, and only changes where they stand. No Streamlit here.
"""

from __future__ import annotations

PHONE_PANEL_WIDTH = 240  # plot area; with its y axis the chart stays >= 300 px and inside a 390-px phone


def stack_panels(spec: dict, width: int = PHONE_PANEL_WIDTH) -> dict:
    """``spec`` (a private Vega-Lite dict, changed in place and returned) with its ``hconcat`` panels
    stacked in one column, each ``width`` wide, and its legends under the panels."""
    panels = spec.pop("hconcat", None)
    if panels is None:
        return spec
    for panel in panels:
        panel["width"] = width
    # Each panel in a one-panel row: a page that stretches a chart to its column sets the width of
    # every plain vconcat panel to the whole column (axes then stick out), never of a nested row.
    spec["vconcat"] = [{"hconcat": [panel]} for panel in panels]
    legend = spec.setdefault("config", {}).setdefault("legend", {})
    legend.update(orient="bottom", direction="vertical", columns=1)  # each legend a column: side by side they fit
    return spec
