"""Side-by-side panels restacked for a phone: one column, each panel as wide as the screen allows.

A layout built for a projector puts its panels in a row (``hconcat``) with the legend at the right;
on a 390-pixel phone that row is wider than the page. Restacking a private copy of the spec keeps
every panel, its data and its encodings, and only changes where they stand. No Streamlit here.
"""

from __future__ import annotations

import plotly.graph_objects as go

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


PHONE_SQUARE = 320  # a heatmap's side on a phone: with its tick labels it fits a 390-pixel screen


def stack_plotly_row(figure: go.Figure, square: int = PHONE_SQUARE, gap: int = 90) -> go.Figure:
    """A copy of a plotly figure of square heatmaps in one row (subplots x/y, x2/y2, ..., their
    titles as paper annotations above them, one colour bar) as one column for a phone: each panel
    ``square`` pixels tall with ``gap`` pixels above it for its title and the axis labels of the one
    before, the figure's title broken into short lines, the colour bar above the panels.
    """
    figure = go.Figure(figure)
    layout = figure.layout
    count = sum(1 for name in layout if name.startswith("xaxis") and layout[name].domain is not None)
    top, title_px, bottom = 150, 35, 60  # the title's lines and the colour bar; a panel's title; the last axis
    height = top + title_px + count * square + (count - 1) * gap + bottom
    for index in range(count):
        suffix = "" if index == 0 else str(index + 1)
        upper = 1 - (top + title_px + index * (square + gap)) / height
        lower = upper - square / height
        layout[f"xaxis{suffix}"].domain = [0.0, 1.0]
        layout[f"yaxis{suffix}"].domain = [max(0.0, lower), min(1.0, upper)]
        layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
        layout[f"xaxis{suffix}"].constrain = "domain"
        layout[f"yaxis{suffix}"].constrain = "domain"
    titles = sorted((a for a in layout.annotations if a.xref == "paper" and a.yref == "paper"), key=lambda a: a.x)
    for index, annotation in enumerate(titles[:count]):
        suffix = "" if index == 0 else str(index + 1)
        annotation.update(x=0.5, y=layout[f"yaxis{suffix}"].domain[1], yanchor="bottom", xanchor="center")
    for trace in figure.data:
        if getattr(trace, "colorbar", None) is not None:
            trace.colorbar.update(
                orientation="h", x=0.5, xanchor="center", y=1 - 115 / height, yanchor="bottom", len=0.7, thickness=12
            )
            trace.colorbar.title.side = "right"  # beside the bar: above it, it would meet the title's last line
    if layout.title.text:
        words, lines, line = layout.title.text.split(), [], ""
        for word in words:  # about 30 characters a line
            if line and len(line) + len(word) >= 30:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        layout.title.update(text="<br>".join(lines + [line]), x=0.02, xanchor="left", y=0.995, yanchor="top")
    figure.update_layout(height=height, margin=dict(l=60, r=12, t=0, b=0))
    return figure
