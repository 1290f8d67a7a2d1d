"""The shared controls inside a Streamlit session: the sidebar, controls at hand on a page, the URL.

A session's :class:`~alibi_lsh.app.ui.controls.Controls` live in ``st.session_state`` (one copy per
browser session, never module-level state) and are mirrored into ``st.query_params``. Every widget
that edits them (in the sidebar, or on a page in lecture mode, where the sidebar is folded away)
is built by :func:`control_widget`, which gives it the current value and a callback that writes
the new one back, so all copies of a control agree. The live figure's own controls (R, the slope,
the seed, the head, the scheme) write back too: when a drag ends, :func:`follow_live_view` makes
what the figure draws the shared controls.
"""

from __future__ import annotations

import contextlib
import contextvars
import runpy
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from ...samplers import SCHEMES
from ..live import LiveView
from .controls import (
    HEADS_MAX,
    HEADS_MIN,
    N_MAX,
    N_MIN,
    PRESET_NAMES,
    R_MAX,
    R_MIN,
    SEED_MAX,
    SLOPE_MAX,
    SLOPE_MIN,
    Controls,
    apply_preset,
    clamp_int,
    clamp_slope,
    mean_width_label,
    parse_controls,
    to_query_params,
)

STATE_KEY = "controls"
MESSAGES_KEY = "control_messages"
LECTURE_SWITCH = "lecture_switch"  # the keyed container of lecture mode's own switch in the top bar
SIDEBAR = "w"  # widget-key prefix of the sidebar's controls ("w_n", "w_samples", ...)
ON_PAGE = "p"  # widget-key prefix of the same controls drawn on a page in lecture mode
# URL parameters owned by one page (the tour's step; the playground's window, score std and causal
# switch), kept when the controls sync.
PAGE_PARAMS = ("step", "w", "std", "causal")
# Values offered by the compact controls on a page: powers of two read well on a projector.
R_CHOICES = tuple(2**k for k in range(11))
N_CHOICES = (32, 64, 128, 256, 512, 1024)


def current() -> Controls:
    """This session's controls; on a session's first run they are parsed from the URL."""
    if STATE_KEY not in st.session_state:
        controls, messages = parse_controls(st.query_params.to_dict())
        st.session_state[STATE_KEY] = controls
        st.session_state[MESSAGES_KEY] = messages
    return st.session_state[STATE_KEY]


def messages() -> list[str]:
    """Messages about clamped values, kept until the next control change."""
    return list(st.session_state.get(MESSAGES_KEY, []))


def _set(**changes) -> None:
    st.session_state[STATE_KEY] = replace(current(), **changes)


def _on_widget(field: str, widget_key: str) -> None:
    """Copy a widget's value into the controls; any edit turns the preset into 'custom'."""
    value = st.session_state[widget_key]
    notes: list[str] = []
    changes: dict[str, object] = {field: value}
    if field == "custom_slope":
        value, message = clamp_slope(value)
        changes[field] = value
        st.session_state[widget_key] = value  # show the value used in the field itself
        if message:
            notes.append(message)
    if field == "heads":
        changes["head"] = min(current().head, int(value))
    if field not in ("lecture", "seed"):
        changes["preset"] = "custom"
    _set(**changes)
    st.session_state[MESSAGES_KEY] = notes


def _on_preset() -> None:
    st.session_state[STATE_KEY] = apply_preset(current(), st.session_state[f"{SIDEBAR}_preset"])
    st.session_state[MESSAGES_KEY] = []


def set_samples(samples: int) -> None:
    """Set the shared R (clamped to R_MIN..R_MAX) from a page's button; the preset turns 'custom'."""
    _set(samples=min(max(int(samples), R_MIN), R_MAX), preset="custom")
    st.session_state[MESSAGES_KEY] = []


def follow_live_view(view: LiveView) -> None:
    """Callback of a live figure's report: the settings of the masks it draws become the shared
    controls, so the sidebar, a page's copies and the URL show what the figure shows.

    A slope that is one of the ALiBi heads' (with that head's index) selects that head; any other
    is a custom slope, kept as the URL writes it (6 significant digits) so that a bookmark draws the
    same masks; a seed above the sidebar's field is clamped with a message. The figure is then
    mounted with exactly these values (and redraws if one was changed).
    """
    controls = current()
    notes: list[str] = []
    changes: dict[str, object] = {"samples": min(max(view.samples, R_MIN), R_MAX), "scheme": view.scheme}
    changes["seed"], message = clamp_int("seed", view.seed, 0, SEED_MAX, controls.seed)
    notes += [message] if message else []
    slopes = controls.head_slopes
    if view.head < len(slopes) and view.slope == slopes[view.head]:
        changes.update(slope_mode="alibi", head=view.head + 1)
    elif controls.slope_mode == "custom" and view.slope == controls.custom_slope:
        pass  # the slope was not moved: keep it as it is
    else:
        slope, message = clamp_slope(float(f"{view.slope:g}"))
        notes += [message] if message else []
        changes.update(slope_mode="custom", custom_slope=slope)
    followed = replace(controls, **changes)
    if followed == controls:
        return
    if any(getattr(followed, name) != getattr(controls, name) for name in changes if name != "seed"):
        followed = replace(followed, preset="custom")  # as for the sidebar's controls: a seed keeps the preset
    st.session_state[STATE_KEY] = followed
    st.session_state[MESSAGES_KEY] = notes


def follow_controls(controls: Controls) -> None:
    """Make ``controls`` the shared controls (a page's figure reported them); the messages clear."""
    st.session_state[STATE_KEY] = controls
    st.session_state[MESSAGES_KEY] = []


def resample() -> None:
    """Button callback: the next seed (a fresh set of random partitions)."""
    _set(seed=min(SEED_MAX, current().seed + 1))


def _choices(options: tuple[int, ...], value: int) -> list[int]:
    """``options`` with ``value`` added (a value from the URL need not be a power of two)."""
    return sorted(set(options) | {value})


def control_widget(field: str, prefix: str = SIDEBAR, container=st) -> None:
    """The widget of one shared control, showing its current value and writing changes back.

    ``prefix`` keeps the sidebar's widget (``w_n``) and a page's copy (``p_n``) apart; a page's
    copies of n and R are select sliders over powers of two, easier to hit on a projector.
    """
    controls = current()
    key = f"{prefix}_{field}"
    st.session_state[key] = getattr(controls, field)  # the value may have changed elsewhere
    callback = {"on_change": _on_widget, "args": (field, key), "key": key}
    compact = prefix != SIDEBAR
    if field == "n":
        if compact:
            container.select_slider("Context length n", _choices(N_CHOICES, controls.n), **callback)
        else:
            help_n = f"Positions 0..n-1; capped at {N_MAX} because these pages draw n x n matrices."
            container.slider("Context length n", N_MIN, N_MAX, help=help_n, **callback)
    elif field == "samples":
        if compact:
            container.select_slider("Samples R", _choices(R_CHOICES, controls.samples), **callback)
        else:
            help_r = f"Number of random partitions averaged; capped at {R_MAX}."
            container.slider("Samples R", R_MIN, R_MAX, help=help_r, **callback)
    elif field == "heads":
        container.number_input("Heads H", HEADS_MIN, HEADS_MAX, **callback)
    elif field == "head":
        if controls.slope_mode == "custom":
            container.caption(f"{controls.slope_label()}: switch to an ALiBi head in the sidebar.")
            return
        if compact:
            container.selectbox(
                "Head", list(range(1, controls.heads + 1)), help="Head 1 has the steepest slope.", **callback
            )
        else:
            container.number_input("Head", 1, controls.heads, help="Head 1 has the steepest slope.", **callback)
    elif field == "custom_slope":
        container.number_input(
            "Custom slope m",
            format="%.4g",
            step=0.01,
            help=f"Any m in [{SLOPE_MIN:g}, {SLOPE_MAX:g}]; kernel exp(-m|i-j|).",
            **callback,
        )
    elif field == "scheme":
        container.selectbox(
            "Scheme",
            SCHEMES,
            help="binning: random width W and shift s; cuts: independent cuts; qmc: binning driven by Sobol points.",
            **callback,
        )
    elif field == "seed":
        container.number_input("Seed", 0, SEED_MAX, help="Same seed, same partitions.", **callback)
    elif field == "lecture":
        container.toggle(
            "Lecture mode",
            help="Projector layout: larger text, folded sidebar and notes. Switch off for the full page.",
            **callback,
        )
    else:
        raise ValueError(f"field={field!r} is not a shared control")


def page_controls(*fields: str, container=st) -> None:
    """Copies of the shared controls ``fields`` on the page (in ``container``), side by side, in
    lecture mode only (the sidebar is folded away there; elsewhere the sidebar has them)."""
    if not current().lecture or not fields:
        return
    for field, column in zip(fields, container.columns(len(fields))):
        control_widget(field, ON_PAGE, column)


def lecture_switch() -> None:
    """In lecture mode, the way out in plain sight: the lecture mode toggle and a hint where the
    pages and the other controls went, pinned in the top bar (page_setup.LECTURE_CSS), so it
    costs no height. The sidebar is folded in lecture mode, and its toggle alone goes unnoticed."""
    if not current().lecture:
        return
    with st.container(key=LECTURE_SWITCH, horizontal=True, vertical_alignment="center", width="content"):
        st.caption("Pages and all controls: **»** at the top left", width="content")
        control_widget("lecture", ON_PAGE)


def render_sidebar() -> Controls:
    """Draw the shared controls in the sidebar and return their values.

    Lecture mode keeps only n and R there (the pages show what they need at hand).
    """
    controls = current()
    st.session_state[f"{SIDEBAR}_preset"] = controls.preset
    st.session_state[f"{SIDEBAR}_slope_mode"] = controls.slope_mode
    with st.sidebar:
        control_widget("lecture")
        st.selectbox(
            "Preset",
            PRESET_NAMES,
            key=f"{SIDEBAR}_preset",
            on_change=_on_preset,
            help="A starting point; editing any control below switches to 'custom'.",
        )
        control_widget("n")
        control_widget("samples")
        if not controls.lecture:
            st.radio(
                "Slope",
                ["alibi", "custom"],
                key=f"{SIDEBAR}_slope_mode",
                horizontal=True,
                format_func={"alibi": "ALiBi head", "custom": "custom m"}.get,
                on_change=_on_widget,
                args=("slope_mode", f"{SIDEBAR}_slope_mode"),
            )
            if controls.slope_mode == "alibi":
                left, right = st.columns(2)
                control_widget("heads", container=left)
                control_widget("head", container=right)
            else:
                control_widget("custom_slope")
            control_widget("scheme")
            control_widget("seed")
        controls = current()
        st.caption(
            f"{controls.slope_label()}, mean block width {mean_width_label(controls.slope)}; "
            f"scheme {controls.scheme}, seed {controls.seed}."
        )
    return controls


def sync_url(controls: Controls) -> None:
    """Mirror the controls into the URL (only when they changed), keeping a page's own parameters."""
    current_params = st.query_params.to_dict()
    wanted = to_query_params(controls)
    wanted.update({key: current_params[key] for key in PAGE_PARAMS if key in current_params})
    if current_params != wanted:
        st.query_params.from_dict(wanted)


# --- the entry point ------------------------------------------------------------------------

_INSIDE_ENTRY = contextvars.ContextVar("alibi_lsh_inside_entry_point", default=False)


@contextlib.contextmanager
def entry_point() -> Iterator[None]:
    """Marks the run of a page from ``app.py`` (the entry script) for :func:`ensure_entry_point`."""
    token = _INSIDE_ENTRY.set(True)
    try:
        yield
    finally:
        _INSIDE_ENTRY.reset(token)


def ensure_entry_point() -> None:
    """Make sure a page runs inside the entry script (navigation, sidebar, URL state).

    Streamlit treats a folder named ``pages/`` next to the entry script as its old automatic
    multipage layout until a session has called ``st.navigation``; the first visitor of a fresh
    server who opens a bookmarked sub-page (``/masks?n=64``) would get that page alone (and
    Streamlit's AppTest starts every run that way). Then this runs the entry script in its place:
    its ``st.navigation`` call is Streamlit's supported switch to the entry script's page list, and
    it routes to this very page; then this run stops, the page having been drawn inside it. A page
    run on its own as the main script (a test of one page) is left alone.
    """
    if _INSIDE_ENTRY.get():
        return
    context = get_script_run_ctx()
    if context is None or Path(context.main_script_path).parent.name == "pages":
        return
    runpy.run_path(context.main_script_path, run_name="__main__")
    st.stop()
