"""Streamlit glue for the pages: cached wrappers around ``app_data`` and small rendering helpers.

``st.cache_data`` returns a fresh copy of the cached value to every caller, so sessions never share
mutable objects; ``max_entries`` bounds the memory each function may hold.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import pandas as pd
import streamlit as st

from . import app_data, figures

# --- cached computations (keys are the plain arguments) -------------------------------------

claim_data = st.cache_data(max_entries=16, show_spinner=False)(app_data.claim_data)
mask_samples = st.cache_data(max_entries=16, show_spinner=False)(app_data.mask_samples)
block_width_law = st.cache_data(max_entries=16, show_spinner=False)(app_data.block_width_law)
running_mean_frames = st.cache_data(max_entries=8, show_spinner=False)(app_data.running_mean_frames)
error_curves = st.cache_data(
    max_entries=16, show_spinner="Measuring errors over R and seeds (spectral norms by Lanczos)..."
)(app_data.error_curves)
per_head_data = st.cache_data(max_entries=8, show_spinner=False)(app_data.per_head_data)
distance_profile = st.cache_data(max_entries=16, show_spinner=False)(app_data.distance_profile)
width_law_check = st.cache_data(max_entries=16, show_spinner=False)(app_data.width_law_check)
bounds_table = st.cache_data(max_entries=16, show_spinner=False)(app_data.bounds_table)


@st.cache_data(max_entries=4, show_spinner=False)
def attention_setup(n: int, heads: int, samples: int, scheme: str, seed: int, score_scale: float, causal: bool) -> dict:
    """Cached :func:`app_data.attention_setup` (few entries: it holds H n^2 floats)."""
    return app_data.attention_setup(n, heads, samples, scheme, seed, score_scale, causal)


@st.cache_data(max_entries=16, show_spinner=False)
def head_output_errors(
    n: int, heads: int, samples: int, scheme: str, seed: int, score_scale: float, causal: bool, window: int
) -> pd.DataFrame:
    setup = attention_setup(n, heads, samples, scheme, seed, score_scale, causal)
    return app_data.head_output_errors(setup, window, causal)


@st.cache_data(max_entries=16, show_spinner="Running the block algorithm (lsh_alibi_attention)...")
def block_algorithm_check(
    n: int, heads: int, samples: int, scheme: str, seed: int, score_scale: float, causal: bool
) -> float:
    setup = attention_setup(n, heads, samples, scheme, seed, score_scale, causal)
    return app_data.block_algorithm_check(setup, samples, scheme, seed, causal)


# --- cached figures -------------------------------------------------------------------------
# Building a figure costs more than the numbers behind it at n = 256, so:
# - plotly figures are built from plain dicts with base64-encoded arrays (``figures``), once per
#   input, and shared read-only (``st.cache_resource``: nothing mutates a figure after it is built);
# - altair charts are split into a layout, built once per set of labels (which schemes, which
#   metrics, the font), and the tables that fill it; a new input only swaps the tables.
#   The layouts are validated against the Vega-Lite schema in tests/test_figures.py, not here.

FIGURE_CACHE = dict(max_entries=32, show_spinner=False)


@st.cache_resource(max_entries=64, show_spinner=False)
def layout_spec(name: str, *labels) -> dict:
    """The Vega-Lite dict of ``figures.<name>_layout(*labels)``, built once per label set (read-only)."""
    return getattr(figures, f"{name}_layout")(*labels).to_dict(validate=False)


def _vega(name: str, labels: tuple, tables: dict[str, pd.DataFrame]) -> dict:
    """A private Vega-Lite dict: the cached layout ``name`` filled with ``tables``."""
    return figures.spec_with_data(layout_spec(name, *labels), tables)


@st.cache_resource(**FIGURE_CACHE)
def claim_figure(n: int, slope: float, samples: int, scheme: str, seed: int, font: int):
    data = claim_data(n, slope, samples, scheme, seed)
    return figures.claim_figure(data["kernel"], data["mean"], samples, data["factor"], font)


@st.cache_resource(**FIGURE_CACHE)
def mask_grid(n: int, slope: float, count: int, scheme: str, seed: int, font: int):
    sampled = mask_samples(n, slope, count, scheme, seed)
    titles = [f"{k}: {short}" for k, short in zip(sampled["table"]["sample"], sampled["table"]["short"])]
    return figures.mask_grid(
        sampled["masks"], sampled["starts"], cols=4, font_size=font, factor=sampled["factor"], titles=titles
    )


def width_law_spec(n: int, slope: float, scheme: str, seed: int, font: int) -> dict:
    tables = figures.width_law_tables(block_width_law(n, slope, scheme, seed), scheme)
    return _vega("width_law", (scheme, font), tables)


@st.cache_resource(**FIGURE_CACHE)
def convergence_figure(n: int, slope: float, samples: int, scheme: str, seed: int, font: int):
    anim = running_mean_frames(n, slope, samples, scheme, seed)
    return figures.convergence_animation(
        anim["kernel"], anim["frames"], anim["checkpoints"], anim["max_error"], anim["factor"], font
    )


@st.cache_data(max_entries=16, show_spinner=False)
def error_summary(
    n: int, slope: float, samples: int, schemes: tuple[str, ...], seeds: tuple[int, ...], spectral: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, references) of :func:`error_curves`: mean/min/max over seeds, guide and bounds."""
    summary = app_data.summarize_errors(error_curves(n, slope, samples, schemes, seeds, spectral))
    return summary, app_data.reference_lines(n, slope, samples, schemes[0], summary)


def error_curves_spec(
    summary: pd.DataFrame, references: pd.DataFrame, samples: int, schemes: tuple[str, ...], font: int
) -> dict:
    metrics = tuple(m for m in app_data.METRICS if m in set(summary["metric"]))
    labels = (tuple(schemes), tuple(app_data.error_checkpoints(samples)), metrics, font)
    return _vega("error_curves", labels, {"summary": summary, "references": references})


@st.cache_resource(**FIGURE_CACHE)
def per_head_figure(n: int, heads: int, samples: int, scheme: str, seed: int, font: int):
    data = per_head_data(n, heads, samples, scheme, seed)
    return figures.per_head_figure(
        data["kernels"], data["means"], data["table"]["slope"].tolist(), samples, data["factor"], font
    )


def head_error_spec(table: pd.DataFrame, font: int) -> dict:
    return _vega("head_error", (font,), figures.head_error_tables(table))


def attention_row_spec(row: pd.DataFrame, query: int, font: int) -> dict:
    return _vega("attention_row", (query, font), figures.attention_row_tables(row))


def output_error_spec(table: pd.DataFrame, font: int) -> dict:
    return _vega("output_error", (font,), {"errors": table})


def distance_profile_spec(profile: pd.DataFrame, what: str, cutoff: float, log_y: bool, font: int) -> dict:
    return _vega("distance_profile", (what, font, log_y), figures.distance_profile_tables(profile, what, cutoff, log_y))


# --- rendering helpers ----------------------------------------------------------------------

PLOTLY_CONFIG = {
    "displaylogo": False,
    # The toolbar's camera saves a PNG at twice the screen resolution (sharp on slides). Heatmaps are
    # rasters, so an SVG would only wrap the same image; the altair charts offer PNG and SVG in their menu.
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


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
    figure, name: str, data: pd.DataFrame | Callable[[], pd.DataFrame] | None = None, key: str | None = None
) -> None:
    """A plotly figure (PNG from the toolbar camera) with a CSV button for its data."""
    st.plotly_chart(figure, width="stretch", theme=None, config=PLOTLY_CONFIG, key=key or f"fig_{name}")
    if data is not None:
        csv_download(data, name)


def show_altair(chart, name: str, data: pd.DataFrame | None = None) -> None:
    """An altair chart or a private Vega-Lite dict (PNG/SVG from the chart's ... menu), with a CSV button.

    A dict is drawn as it is and Streamlit edits it in place, so it must not be shared: the
    ``*_spec`` functions above return a fresh copy each time.
    """
    if isinstance(chart, dict):
        st.vega_lite_chart(chart, width="stretch", key=f"chart_{name}")
    else:
        st.altair_chart(chart, width="stretch", key=f"chart_{name}")
    if data is not None:
        csv_download(data, name)


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


def figure_font(lecture: bool) -> int:
    """Figure font size: bigger in lecture mode (read from the back of a room)."""
    from .figures import FONT_SIZE, LECTURE_FONT_SIZE

    return LECTURE_FONT_SIZE if lecture else FONT_SIZE


def error_box(error: ValueError) -> None:
    """Show a library ValueError as a readable message instead of a traceback."""
    st.error(f"Cannot draw this figure: {error}")
