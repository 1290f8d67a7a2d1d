"""How pages show things: a page's head, figures with their downloads, the code behind them, errors.

Every figure comes with a CSV button for its data; plotly figures save a PNG from their toolbar
camera and altair charts PNG or SVG from their ``...`` menu. In lecture mode a page's explanation
is folded under its title and the code expanders are hidden, so the figure starts high on a
projector.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import pandas as pd
import streamlit as st

from .. import figures
from ..figures.style import FONT_SIZE, LECTURE_FONT_SIZE

PLOTLY_CONFIG = {
    "displaylogo": False,
    # The toolbar's camera saves a PNG at twice the screen resolution (sharp on slides). Heatmaps are
    # rasters, so an SVG would only wrap the same image; the altair charts offer PNG and SVG in their menu.
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def figure_font(lecture: bool) -> int:
    """Figure font size: bigger in lecture mode (read from the back of a room)."""
    return LECTURE_FONT_SIZE if lecture else FONT_SIZE


def page_head(
    title: str,
    explanation: str,
    lecture: bool,
    formulas: tuple[str, ...] = (),
    beside: bool = False,
    folded: bool = False,
):
    """The page's title, its two or three sentences and its displayed ``formulas`` (LaTeX); in lecture
    mode (or when ``folded``: a phone) folded under "About this page", so that the figure starts in
    the first screen of a projector or a phone.

    Returns where the page's controls at hand go: with ``beside`` in lecture mode, the right half of
    the row the folded explanation starts (one row instead of two); otherwise the page itself.
    """
    st.title(title)
    if not (lecture or folded):
        st.markdown(explanation)
        for formula in formulas:
            st.latex(formula)
        return st
    about, at_hand = st.columns(2) if beside and lecture else (st.container(), st)
    with about.expander("About this page", icon=":material/info:"):
        st.markdown(explanation)
        for formula in formulas:
            st.latex(formula)
    return at_hand


def figure_heading(text: str, lecture: bool) -> None:
    """A figure's heading: a subheader, or one caption line in lecture mode (less height)."""
    if lecture:
        st.caption(text)
    else:
        st.subheader(text)


def csv_download(
    table: pd.DataFrame | Callable[[], pd.DataFrame], name: str, label: str = "Download the data (CSV)"
) -> None:
    """A download button for a figure's data; a callable is only evaluated when clicked."""
    if callable(table):

        def data() -> str:
            return table().to_csv(index=False)
    else:
        data = table.to_csv(index=False)
    st.download_button(
        label, data, file_name=f"{name}.csv", mime="text/csv", key=f"csv_{name}", icon=":material/download:"
    )


def matrix_table(**matrices) -> pd.DataFrame:
    """Square matrices (same shape) as a long table i, j, one column per matrix (for CSV export)."""
    first = next(iter(matrices.values()))
    size = first.shape[-1]
    rows, cols = divmod(pd.RangeIndex(size * size).to_numpy(), size)
    return pd.DataFrame({"i": rows, "j": cols, **{k: v.reshape(-1) for k, v in matrices.items()}})


def show_plotly(
    figure,
    name: str,
    data: pd.DataFrame | Callable[[], pd.DataFrame] | None = None,
    key: str | None = None,
    height: int | None = None,
) -> None:
    """A plotly figure (PNG from the toolbar camera) with a CSV button for its data; ``height`` in
    pixels replaces the figure's own (a slide sizes its figure to the screen)."""
    st.plotly_chart(
        figure, width="stretch", height=height or "content", theme=None, config=PLOTLY_CONFIG, key=key or f"fig_{name}"
    )
    if data is not None:
        csv_download(data, name)


def show_altair(chart, name: str, data: pd.DataFrame | None = None, height: int | None = None) -> None:
    """An altair chart or a private Vega-Lite dict (PNG/SVG from the chart's ... menu), with a CSV button;
    ``height`` in pixels replaces the chart's own.

    A dict is drawn as it is and Streamlit edits it in place, so it must not be shared: the
    cached ``*_spec`` functions return a fresh copy each time.
    """
    if isinstance(chart, dict):
        st.vega_lite_chart(chart, width="stretch", height=height or "content", key=f"chart_{name}")
    else:
        st.altair_chart(chart, width="stretch", height=height or "content", key=f"chart_{name}")
    if data is not None:
        csv_download(lambda: data, name)  # the CSV is written when the button is pressed, not on every run


def by_screen(key: str, wide: Callable[[], None], narrow: Callable[[], None]) -> None:
    """Draw ``wide`` for a projector or a laptop and ``narrow`` for a phone, and let the screen's
    width show one of them (page_setup.PAGE_CSS, at the width where Streamlit stacks columns).

    The server does not know the screen, and a chart cannot move its legend or restack its panels
    with the width; a page that has no live figure to report a phone's layout draws both. Use it
    for the few charts a phone would otherwise cut or squeeze: each is sent twice.
    """
    with st.container(key=f"{WIDE_SCREEN}{key}"):
        wide()
    with st.container(key=f"{NARROW_SCREEN}{key}"):
        narrow()


WIDE_SCREEN, NARROW_SCREEN = "wide_screen_", "narrow_screen_"  # container keys' prefixes, for the CSS


def show_panels(spec: dict, name: str, data: pd.DataFrame, height: int, phone_plot_height: int = 260) -> None:
    """A side-by-side (``hconcat``) Vega-Lite dict's panels in columns of their own: in a row on a
    projector, one under the other on a phone, each as wide as its place and ``height`` pixels tall
    with its axes and title. The last column, with the legend, is wider; on a phone its legend goes
    under its plot (``phone_plot_height`` pixels), where at the right it would leave the plot a third
    of the column. The CSV of ``data`` comes once, after the panels."""
    panels = figures.side_by_side_panels(spec)
    columns = st.columns([1.0] * (len(panels) - 1) + [1.5 if len(panels) > 1 else 1.0])
    for index, (column, panel) in enumerate(zip(columns, panels), 1):
        with column:
            if index < len(panels) or len(panels) == 1:
                show_altair(panel, f"{name}_{index}", data if index == len(panels) else None, height=height)
                continue
            by_screen(
                name,
                functools.partial(show_altair, panel, f"{name}_{index}", height=height),
                functools.partial(show_altair, figures.legend_below(panel, phone_plot_height), f"{name}_{index}_phone"),
            )
            csv_download(lambda: data, f"{name}_{index}")


def show_code(*functions: Callable, lecture: bool = False) -> None:
    """A "Show the code" expander with the source of the alibi_lsh functions behind a figure."""
    if lecture:
        return
    with st.expander("Show the code"):
        for function in functions:
            st.caption(f"`{function.__module__}.{function.__qualname__}`")
            st.code(_source(function), language="python")


@functools.cache
def _source(function: Callable) -> str:
    """The source text of ``function``, read from disk once per process (not on every rerun)."""
    return inspect.getsource(function)


def error_box(error: ValueError) -> None:
    """Show a library ValueError as a readable message instead of a traceback."""
    st.error(f"Cannot draw this figure: {error}")
