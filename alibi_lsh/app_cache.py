"""Streamlit glue for the pages: cached wrappers around ``app_data`` and small rendering helpers.

``st.cache_data`` returns a fresh copy of the cached value to every caller, so sessions never share
mutable objects; ``max_entries`` bounds the memory each function may hold.
"""

from __future__ import annotations

import copy
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
# Building a plotly figure (its validators) or validating an altair spec costs 50-300 ms, more
# than the numbers behind it, so each figure is built once per input and shared read-only
# (``st.cache_resource``): nothing mutates a figure after it is built. Altair charts are kept as
# Vega-Lite dicts, which ``st.vega_lite_chart`` draws without validating them again.

FIGURE_CACHE = dict(max_entries=32, show_spinner=False)


def _spec(chart) -> dict:
    # The builders' output is validated against the Vega-Lite schema in tests/test_figures.py;
    # validating again on every new input would cost ~100 ms per chart.
    return chart.to_dict(validate=False)


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


@st.cache_resource(**FIGURE_CACHE)
def width_law_spec(n: int, slope: float, scheme: str, seed: int, font: int) -> dict:
    return _spec(figures.width_law_chart(block_width_law(n, slope, scheme, seed), scheme, font))


@st.cache_resource(**FIGURE_CACHE)
def convergence_figure(n: int, slope: float, samples: int, scheme: str, seed: int, font: int):
    anim = running_mean_frames(n, slope, samples, scheme, seed)
    return figures.convergence_animation(
        anim["kernel"], anim["frames"], anim["checkpoints"], anim["max_error"], anim["factor"], font
    )


@st.cache_resource(**FIGURE_CACHE)
def error_curves_spec(
    n: int, slope: float, samples: int, schemes: tuple[str, ...], seeds: tuple[int, ...], spectral: bool, font: int
) -> dict:
    summary = app_data.summarize_errors(error_curves(n, slope, samples, schemes, seeds, spectral))
    references = app_data.reference_lines(n, slope, samples, schemes[0], summary)
    metrics = tuple(m for m in app_data.METRICS if m in set(summary["metric"]))
    return _spec(figures.error_curves_chart(summary, references, metrics, font))


@st.cache_resource(**FIGURE_CACHE)
def per_head_figures(n: int, heads: int, samples: int, scheme: str, seed: int, font: int):
    data = per_head_data(n, heads, samples, scheme, seed)
    heatmaps = figures.per_head_figure(
        data["kernels"], data["means"], data["table"]["slope"].tolist(), samples, data["factor"], font
    )
    return heatmaps, _spec(figures.head_error_bars(data["table"], font))


@st.cache_resource(**FIGURE_CACHE)
def attention_row_spec(
    n: int,
    heads: int,
    samples: int,
    scheme: str,
    seed: int,
    score_scale: float,
    causal: bool,
    head: int,
    query: int,
    window: int,
    font: int,
) -> dict:
    setup = attention_setup(n, heads, samples, scheme, seed, score_scale, causal)
    return _spec(figures.attention_row_chart(app_data.attention_row(setup, head - 1, query, window), query, font))


@st.cache_resource(**FIGURE_CACHE)
def output_error_spec(
    n: int, heads: int, samples: int, scheme: str, seed: int, score_scale: float, causal: bool, window: int, font: int
) -> dict:
    table = head_output_errors(n, heads, samples, scheme, seed, score_scale, causal, window)
    return _spec(figures.output_error_chart(table, font))


@st.cache_resource(**FIGURE_CACHE)
def distance_profile_spec(
    n: int, parameter: float, samples: int, scheme: str, seed: int, kernel: str, what: str, cutoff: float, font: int
) -> dict:
    profile = distance_profile(n, parameter, samples, scheme, seed, kernel)
    return _spec(figures.distance_profile_chart(profile, what, font, cutoff, log_y=kernel == "power"))


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
    """An altair chart or its Vega-Lite dict (PNG/SVG from the chart's ... menu), with a CSV button."""
    if isinstance(chart, dict):
        # A private deep copy: the spec may be shared through the figure cache, and Streamlit patches
        # some nested entries (null legend titles) in place while drawing.
        st.vega_lite_chart(copy.deepcopy(chart), width="stretch", key=f"chart_{name}")
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
            st.code(inspect.getsource(function), language="python")


def figure_font(lecture: bool) -> int:
    """Figure font size: bigger in lecture mode (read from the back of a room)."""
    from .figures import FONT_SIZE, LECTURE_FONT_SIZE

    return LECTURE_FONT_SIZE if lecture else FONT_SIZE


def error_box(error: ValueError) -> None:
    """Show a library ValueError as a readable message instead of a traceback."""
    st.error(f"Cannot draw this figure: {error}")
