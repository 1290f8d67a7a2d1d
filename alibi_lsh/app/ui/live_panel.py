"""The live masks figure on a page: started from the shared controls, with the library's exact
numbers for the very masks it draws beside it.

The figure (:mod:`alibi_lsh.app.live`) samples and draws in the browser; when the reader lets go
of one of its controls it reports its settings, which become the shared controls (the sidebar, a
page's copies and the URL follow: :func:`alibi_lsh.app.ui.session.follow_live_view`), and
:func:`exact_numbers` computes, with the Python library, the errors of exactly those masks (the
same documented blocks, docs/blocks.md) and the bounds they should stay under.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ..data import cache
from ..live import LiveView, live_masks
from . import display, session
from .controls import R_MAX, SEED_MAX, SLOPE_MIN, Controls

# The live figure's R slider reaches at least this far (further if the shared R is larger).
LIVE_MAX_SAMPLES = 512


def show(controls: Controls, key: str, lecture: bool | None = None, controls_beside: bool = False) -> LiveView:
    """Mount the live figure at the shared controls' settings; returns the settings it draws.

    What the reader sets in the figure becomes the shared controls when a drag ends, so the figure
    is always drawn from them: its slope slider stops at the smallest custom slope, its seed field
    at the sidebar's largest seed, and a dragged slope uses a custom slope's head index.

    ``key`` names the figure (one per page); ``lecture`` (default: the controls' lecture mode)
    draws its text larger; ``controls_beside`` puts the figure's controls at the right of its
    panels on a wide screen (a shorter figure, for a tour step on a projector).
    """
    return live_masks(
        n=controls.n,
        slope=controls.slope,
        samples=controls.samples,
        scheme=controls.scheme,
        seed=controls.seed,
        head=controls.head_index,
        heads=controls.heads,
        max_samples=min(R_MAX, max(LIVE_MAX_SAMPLES, controls.samples)),
        lecture=controls.lecture if lecture is None else lecture,
        min_slope=SLOPE_MIN,
        max_seed=SEED_MAX,
        custom_head=replace(controls, slope_mode="custom").head_index,
        controls_beside=controls_beside,
        on_report=session.follow_live_view,
        key=key,
    )


def show_with_numbers(controls: Controls, key: str, controls_beside: bool = False) -> LiveView | None:
    """:func:`show`, then :func:`exact_numbers` for the masks it draws; returns the settings drawn,
    or None when the settings are refused (the error is shown in the figure's place)."""
    try:
        view = show(controls, key=key, controls_beside=controls_beside)
    except ValueError as error:
        display.error_box(error)
        return None
    exact_numbers(view)
    return view


def narrow(key: str) -> bool:
    """True if the live figure ``key`` reported a phone's layout (one panel at a time) in this
    session: the page then lays out its server-drawn figures for a narrow column too.

    Read from the figure's state, so a figure drawn above the live one on the page knows it too.
    """
    state = st.session_state.get(key) if key in st.session_state else None
    return isinstance(state, dict) and state.get("layout") == "single"


def describe(view: LiveView) -> str:
    """The settings of the drawn masks in words, e.g. 'n = 256, m = 0.0625, R = 64 binning masks, seed 0'."""
    return (
        f"n = {view.n}, m = {view.slope:.4g}, R = {view.samples} {view.scheme} masks, seed {view.seed}, "
        f"head index {view.head}"
    )


def exact_numbers(view: LiveView, columns: int = 4) -> None:
    """The library's errors of the mean of the masks on screen and their 95% bounds, as metrics.

    The max-norm error is the one the browser computed as well (it reports it; they agree to
    float32 rounding); the spectral norm (Lanczos) and the bounds only the library computes.
    """
    numbers = cache.claim_data(view.n, view.slope, view.samples, view.scheme, view.seed, view.head)
    cells = st.columns(columns)
    metrics = (
        ("max-norm error", numbers.max_error, "max |mean - kernel| over all entries i, j."),
        ("its bound (95%)", numbers.max_bound, "Holds with probability 95% for independent samples."),
        ("spectral-norm error", numbers.spectral_error, "||mean - kernel||_2, by Lanczos."),
        ("its bound (95%)", numbers.spectral_bound, "Loose by a constant factor, with the right slope in R."),
    )
    for index, (label, value, why) in enumerate(metrics):
        cells[index % columns].metric(label, f"{value:.4g}", help=why)
    st.caption(
        f"Computed on the server by alibi_lsh for the masks drawn ({describe(view)}), again when a drag "
        f"is let go; relative Frobenius error {numbers.frobenius_error:.4f}. Bounds hold with probability 95% "
        "for independent samples "
        "(docs/theory.md); qmc samples are not independent, so for them the bounds are a reference."
    )
