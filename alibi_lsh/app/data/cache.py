"""Cached wrappers: the pages' numbers and figures, computed once per setting and process.

``st.cache_data`` returns a fresh copy of the cached value to every caller, so sessions never share
mutable objects; ``max_entries`` bounds the memory each function may hold. Building a figure costs
more than the numbers behind it at n = 256, so:

- plotly figures are built from plain dicts with base64-encoded arrays, once per input, and shared
  read-only (``st.cache_resource``: nothing mutates a figure after it is built);
- altair charts are split into a layout, built once per set of labels (which schemes, which metrics,
  the font), and the tables that fill it; a new input only swaps the tables. The layouts are
  validated against the Vega-Lite schema in tests/test_figures.py, not here.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import figures, server
from ..figures import attention_log, mechanism, verdict_charts
from . import attention_data, mask_data, stored_bench, theory_data, verdict

# --- numbers (keys are the plain arguments) --------------------------------------------------


def _numbers(function, max_entries: int, spinner: bool | str = False):
    """``function`` cached per arguments, its cache misses limited to a few at once per process
    (:func:`server.limit_concurrency`: a class's reruns queue instead of all holding arrays)."""
    return st.cache_data(max_entries=max_entries, show_spinner=spinner)(server.limit_concurrency(function))


claim_data = _numbers(mask_data.claim_data, 64)  # five floats each
bias_kernel = _numbers(mask_data.bias_kernel, 16)
mask_samples = _numbers(mask_data.mask_samples, 16)
block_width_law = _numbers(mask_data.block_width_law, 16)
error_curves = _numbers(mask_data.error_curves, 16, "Measuring errors over R and seeds (spectral norms by Lanczos)...")
per_head_data = _numbers(mask_data.per_head_data, 8)
distance_profile = _numbers(theory_data.distance_profile, 16)
width_law_check = _numbers(theory_data.width_law_check, 16)
bounds_table = _numbers(theory_data.bounds_table, 16)
stored_results = st.cache_data(max_entries=4, show_spinner=False)(stored_bench.load_shipped)
stored_verdict = st.cache_data(max_entries=1, show_spinner=False)(verdict.load_shipped)


@st.cache_resource(max_entries=2, show_spinner=False)
@server.limit_concurrency
def attention_setup(
    n: int, heads: int, samples: int, scheme: str, seed: int, score_scale: float, causal: bool
) -> attention_data.AttentionSetup:
    """Cached :func:`attention_data.attention_setup` (two entries: each holds 2 H n^2 floats, 16 MB
    at n = 512; a page's reruns of one setting reuse it). Shared read-only: ``st.cache_data``
    would unpickle a fresh copy on every rerun."""
    return attention_data.attention_setup(n, heads, samples, scheme, seed, score_scale, causal)


@st.cache_data(max_entries=16, show_spinner=False)
@server.limit_concurrency
def head_output_errors(
    n: int,
    heads: int,
    samples: int,
    scheme: str,
    seed: int,
    score_scale: float,
    causal: bool,
    window: int | tuple[int, ...],
) -> pd.DataFrame:
    """Per-head output errors; ``window`` is one width or a tuple of one width per head."""
    setup = attention_setup(n, heads, samples, scheme, seed, score_scale, causal)
    return attention_data.head_output_errors(setup, window, causal)


@st.cache_data(max_entries=16, show_spinner="Running the block algorithm (lsh_alibi_attention)...")
@server.limit_concurrency
def block_algorithm_check(
    n: int, heads: int, samples: int, scheme: str, seed: int, score_scale: float, causal: bool
) -> float:
    setup = attention_setup(n, heads, samples, scheme, seed, score_scale, causal)
    return attention_data.block_algorithm_check(setup, samples, scheme, seed, causal)


@st.cache_data(max_entries=16, show_spinner=False)
def error_summary(
    n: int,
    slope: float,
    samples: int,
    schemes: tuple[str, ...],
    seeds: tuple[int, ...],
    spectral: bool,
    head: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, references) of :func:`error_curves`: mean/min/max over seeds, guide and bounds."""
    summary = mask_data.summarize_errors(error_curves(n, slope, samples, schemes, seeds, spectral, head))
    return summary, mask_data.reference_lines(n, slope, samples, schemes[0], summary)


# --- plotly figures (shared read-only) -------------------------------------------------------

FIGURE_CACHE = dict(max_entries=32, show_spinner=False)


@st.cache_resource(**FIGURE_CACHE)
def bias_kernel_figure(n: int, slope: float, font: int):
    data = bias_kernel(n, slope)
    return figures.bias_kernel_figure(data.bias, data.kernel, data.factor, font)


@st.cache_resource(**FIGURE_CACHE)
def mask_grid(n: int, slope: float, count: int, scheme: str, seed: int, font: int, cols: int = 4, head: int = 0):
    sampled = mask_samples(n, slope, count, scheme, seed, head)
    if count == 1:  # one mask alone (the tour): its draw in words, no sample number
        titles = list(sampled.table["draw"])
    else:
        titles = [f"{k}: {short}" for k, short in zip(sampled.table["sample"], sampled.table["short"])]
    panel_height = 300 if count > 1 and cols > 1 else 420
    return figures.mask_grid(sampled.starts, n, cols=cols, font_size=font, titles=titles, panel_height=panel_height)


@st.cache_resource(**FIGURE_CACHE)
def per_head_figure(
    n: int,
    heads: int,
    samples: int,
    scheme: str,
    seed: int,
    font: int,
    narrow: bool = False,
    shown: tuple[int, ...] | None = None,
):
    data = per_head_data(n, heads, samples, scheme, seed)
    slopes = data.table["slope"].tolist()
    return figures.per_head_figure(
        data.kernels, data.means, slopes, samples, data.factor, font, narrow=narrow, shown=shown
    )


# --- altair charts: a cached layout per label set, filled with fresh tables -------------------


@st.cache_resource(max_entries=64, show_spinner=False)
def layout_spec(name: str, *labels) -> dict:
    """The Vega-Lite dict of ``figures.<name>_layout(*labels)``, built once per label set (read-only)."""
    return getattr(figures, f"{name}_layout")(*labels).to_dict(validate=False)


def _vega(name: str, labels: tuple, tables: dict[str, pd.DataFrame]) -> dict:
    """A private Vega-Lite dict: the cached layout ``name`` filled with ``tables``."""
    return figures.spec_with_data(layout_spec(name, *labels), tables)


def width_law_spec(n: int, slope: float, scheme: str, seed: int, font: int, head: int = 0) -> dict:
    tables = figures.width_law_tables(block_width_law(n, slope, scheme, seed, head=head), scheme)
    return _vega("width_law", (scheme, font), tables)


def error_curves_spec(
    summary: pd.DataFrame, references: pd.DataFrame, samples: int, schemes: tuple[str, ...], font: int
) -> dict:
    metrics = tuple(m for m in mask_data.METRICS if m in set(summary["metric"]))
    labels = (tuple(schemes), tuple(mask_data.error_checkpoints(samples)), metrics, font)
    return _vega("error_curves", labels, {"summary": summary, "references": references})


def head_error_spec(table: pd.DataFrame, font: int) -> dict:
    return _vega("head_error", (font,), figures.head_error_tables(table))


def attention_row_spec(row: pd.DataFrame, query: int, font: int, window: int) -> dict:
    """One query's weights; the window's legend entry names its width ``window``."""
    return _vega("attention_row", (query, font, window), figures.attention_row_tables(row, window))


def output_error_spec(table: pd.DataFrame, font: int) -> dict:
    return _vega("output_error", (font,), {"errors": table})


def distance_profile_spec(profile: pd.DataFrame, what: str, cutoff: float, log_y: bool, font: int) -> dict:
    return _vega("distance_profile", (what, font, log_y), figures.distance_profile_tables(profile, what, cutoff, log_y))


def scaling_spec(frame: pd.DataFrame, labels: tuple[str, ...], font: int) -> dict:
    return _vega("scaling", (tuple(labels), font), figures.scaling_tables(frame, tuple(labels)))


@st.cache_resource(max_entries=4, show_spinner=False)
def _verdict_layout(font: int) -> dict:
    return verdict_charts.verdict_layout(font).to_dict(validate=False)


def verdict_spec(frame: pd.DataFrame, font: int) -> dict:
    """The verdict chart (error against time and keys per query) of a verdict run's rows."""
    return figures.spec_with_data(_verdict_layout(font), {"verdict": verdict_charts.verdict_table(frame)})


@st.cache_resource(max_entries=8, show_spinner=False)
def _attention_log_layout(query: int, window: int, font: int) -> dict:
    return attention_log.attention_log_layout(query, window, font).to_dict(validate=False)


def attention_log_spec(row: pd.DataFrame, query: int, window: int, font: int) -> dict:
    """One query's weights on a log axis (exact, the blocks' mean, a window of width ``window``)."""
    return figures.spec_with_data(
        _attention_log_layout(query, window, font), attention_log.attention_log_tables(row, window)
    )


@st.cache_resource(max_entries=8, show_spinner=False)
def _mechanism_layout(window: int, font: int) -> dict:
    return mechanism.mechanism_layout(window, font).to_dict(validate=False)


def mechanism_spec(table: pd.DataFrame, samples: int, window: int, font: int) -> dict:
    """How the blocks compute one query (scores, biases, weights) from ``query_mechanism``'s table."""
    return figures.spec_with_data(_mechanism_layout(window, font), mechanism.mechanism_tables(table, samples, window))


# --- when the class has left ------------------------------------------------------------------


def drop_array_caches() -> None:
    """Empty the caches that hold arrays (numbers, figures, the shared means and kernels); the
    stored results and chart layouts stay. Called by the janitor after an idle minute."""
    st.cache_data.clear()
    for cached in (attention_setup, bias_kernel_figure, mask_grid, per_head_figure):
        cached.clear()
    mask_data.mean_of_masks.cache_clear()
    mask_data.clear_kernel_cache()
    theory_data.clear_profile_cache()
    attention_data.PAGE_OPTIONS.draws_cache.clear()


server.on_idle(drop_array_caches)
