"""The live masks component: masks, their running mean, exp(-m|i-j|) and the error, drawn in the browser.

A Streamlit custom component (components v2: plain JavaScript and a canvas, no build step, mounted
without style isolation). The browser samples the blocks itself with the documented block function
(docs/blocks.md, ported in ``blocks.js``), so dragging R, the slope or the seed redraws on every
animation frame with no server round trip. When a control is let go, the browser reports its
settings and the max-norm error of the mean it drew; :func:`live_masks` returns them, so the page
can put exact numbers from the library (spectral norm, bounds) beside the very masks drawn. With
``on_report`` the page takes the report over as its own settings (the app's shared controls, its
widgets and its URL then follow the figure), so that only one value of R, the seed or the slope is
ever on screen.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from ..._checks import check_int, check_slope
from ...philox import MAX_SEED, MAX_WORD
from ...samplers import SCHEMES
from ...slopes import alibi_slopes
from ..figures import ERROR_COLORSCALE, UNIT_COLORSCALE

COMPONENT_NAME = "alibi_lsh_live_masks"
# The browser draws n x n rasters and keeps up to R raw draws; these caps keep a frame under a few
# milliseconds at n = 256 and bound the memory of one tab (cut words: R * n * 4 bytes = 4 MiB).
MAX_N = 1024
MAX_SAMPLES = 1024
MAX_HEADS = 64
# The slope slider spans 2^-10 .. 2^3 (in steps of 2^(1/64)); a slope from the server or the head
# menu may lie outside. A page can raise the slider's lower end (``min_slope``).
SLIDER_MIN_SLOPE = 2.0**-10
SLIDER_MAX_SLOPE = 8.0
SLIDER_STEPS_PER_OCTAVE = 64
# The difference panel's default colour range: fixed (not the largest error shown), so that the
# picture visibly fades as R grows; at 0.25 the error of R = 64 masks at n = 256 is still clear.
ERROR_RANGE = 0.25
ASSETS = ("blocks.js", "canvas.js", "live_masks.js")
# The figure's layouts by width: four panels in a row, two by two, one at a time (a phone).
LAYOUTS = ("wide", "grid", "single")


@dataclass(frozen=True)
class LiveView:
    """The settings of the masks the browser draws, and what it measured on them.

    ``head`` is the global head index of docs/blocks.md (it keys the random stream; 0-based).
    ``max_norm_error`` is max_ij |mean of the R masks - exp(-m|i-j|)| as computed in the browser,
    None until the browser has reported (then the settings are the ones passed in, which the
    browser draws as they are). ``from_browser`` says which of the two it is. ``layout`` is how the
    figure's width laid it out in the browser (:data:`LAYOUTS`: ``"single"`` on a phone), None
    until reported; pages use it to lay out their own figures for a narrow column.
    """

    n: int
    slope: float
    samples: int
    scheme: str
    seed: int
    head: int
    max_norm_error: float | None = None
    from_browser: bool = False
    layout: str | None = None

    def mask_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`alibi_lsh.mask_running_mean` for exactly these masks."""
        return {
            "n": self.n,
            "slope": self.slope,
            "num_samples": self.samples,
            "scheme": self.scheme,
            "seed": self.seed,
            "head": self.head,
        }


def checked_view(
    n: int, slope: float, samples: int, scheme: str, seed: int, head: int, max_samples: int = MAX_SAMPLES
) -> LiveView:
    """Settings checked against the component's ranges; ValueError names the argument and the range."""
    max_samples = check_int("max_samples", max_samples, maximum=MAX_SAMPLES)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    return LiveView(
        n=check_int("n", n, minimum=2, maximum=MAX_N),
        slope=check_slope("slope", slope),
        samples=check_int("samples", samples, maximum=max_samples),
        scheme=scheme,
        seed=check_int("seed", seed, minimum=0, maximum=MAX_SEED),
        head=check_int("head", head, minimum=0, maximum=MAX_WORD),
    )


def basis_of(view: LiveView) -> str:
    """A canonical string of the settings the server asked for: the browser echoes it in its report,
    so a report made for other settings (before a page control moved) is recognised as stale."""
    return json.dumps({**view.mask_arguments(), "seed": str(view.seed)}, sort_keys=True)


def slider_min_log2(min_slope: float) -> float:
    """The slope slider's lower end (log2 m, on the slider's grid): the first step at or above
    ``min_slope``, so that no position of the slider gives a slope below it."""
    min_slope = check_slope("min_slope", min_slope)
    if not SLIDER_MIN_SLOPE <= min_slope < SLIDER_MAX_SLOPE:
        raise ValueError(f"min_slope must be a number in [2^-10, {SLIDER_MAX_SLOPE:g}), got {min_slope}")
    return math.ceil(math.log2(min_slope) * SLIDER_STEPS_PER_OCTAVE) / SLIDER_STEPS_PER_OCTAVE


def component_data(
    view: LiveView,
    heads: int,
    max_samples: int,
    lecture: bool,
    error_range: float,
    reported: LiveView | None,
    *,
    min_slope: float = SLIDER_MIN_SLOPE,
    max_seed: int = MAX_SEED,
    custom_head: int | None = None,
    controls_beside: bool = False,
) -> dict:
    """The JSON the browser receives: settings (seed as a string: JavaScript numbers stop at 2^53),
    the ALiBi slopes of the head menu, colour scales, the ranges of the slope slider and the seed
    field, the head index of a dragged slope (None: the head shown stays), and the last reported
    view, if any, so that a remounted component shows what the server believes it shows."""
    heads = check_int("heads", heads, maximum=MAX_HEADS)
    max_seed = check_int("max_seed", max_seed, minimum=0, maximum=MAX_SEED)
    if custom_head is not None:
        custom_head = check_int("custom_head", custom_head, minimum=0, maximum=MAX_WORD)
    error_range = check_slope("error_range", error_range)
    if not 0 < error_range <= 1:
        raise ValueError(f"error_range must be a number in (0, 1], got {error_range}")
    data = {
        **view.mask_arguments(),
        "samples": view.samples,
        "seed": str(view.seed),
        "basis": basis_of(view),
        "heads": [float(m) for m in alibi_slopes(heads)],
        "max_samples": max_samples,
        "lecture": bool(lecture),
        "unit_colors": UNIT_COLORSCALE,
        "error_colors": ERROR_COLORSCALE,
        "error_range": error_range,
        "slope_slider_min": slider_min_log2(min_slope),
        "max_seed": str(max_seed),
        "custom_head": custom_head,
        "controls_beside": bool(controls_beside),
    }
    del data["num_samples"]
    if reported is not None:
        data["view"] = {**reported.mask_arguments(), "samples": reported.samples, "seed": str(reported.seed)}
        del data["view"]["num_samples"]
    return data


def reported_view(state: Any, asked: LiveView, max_samples: int) -> LiveView | None:
    """The browser's report as a LiveView, or None if there is none, it is stale or it is malformed.

    The report comes from the client, so it is checked like any input: same n and basis as asked,
    every value in range, a finite error. A bad report is ignored, never trusted or raised.
    """
    if not isinstance(state, dict) or state.get("basis") != basis_of(asked):
        return None
    try:
        view = checked_view(
            asked.n,
            float(state["slope"]),
            state["samples"],
            state["scheme"],
            int(str(state["seed"])),
            state["head"],
            max_samples,
        )
        error = float(state["max_norm_error"])
    except (KeyError, TypeError, ValueError):
        return None
    if state.get("n") != asked.n or view.slope > max(SLIDER_MAX_SLOPE, asked.slope) or not 0 <= error <= 1:
        return None  # (a NaN error fails the range test too)
    return replace(view, max_norm_error=error, from_browser=True)


def compact_script(source: str) -> str:
    """JavaScript without its whole-line comments, blank lines and indentation.

    The component's code travels inside the page's data on every rerun that changes the figure's
    settings (Streamlit sends a component's source with its element), so the comments written for
    readers are left out of what browsers receive: about a quarter of the bytes. Only whole lines
    go (``//`` lines and the lines of ``/** ... */`` blocks); code is untouched.
    """
    kept = []
    for line in source.splitlines():
        text = line.strip()
        if not text or text.startswith(("//", "/**", "* ")) or text in ("*", "*/"):
            continue
        kept.append(text)
    return "\n".join(kept)


def script_source(scripts: tuple[str, ...]) -> str:
    """The package's JavaScript files ``scripts``, in order, as one ES module (:func:`compact_script`)."""
    files = resources.files(__package__)
    return compact_script("\n".join(files.joinpath(name).read_text(encoding="utf-8") for name in scripts))


def bundle(stem: str, scripts: tuple[str, ...]) -> dict[str, str]:
    """A live component's sources: ``<stem>.html``, ``<stem>.css`` and ``scripts`` as one module."""
    files = resources.files(__package__)
    return {
        "html": files.joinpath(f"{stem}.html").read_text(encoding="utf-8"),
        "css": files.joinpath(f"{stem}.css").read_text(encoding="utf-8"),
        "js": script_source(scripts),
    }


def register(name: str, source: dict[str, str]):
    """Register a components-v2 component without style isolation (its CSS is scoped by class)."""
    import streamlit as st

    return st.components.v2.component(name, **source, isolate_styles=False)


@cache
def component_source() -> dict[str, str]:
    """The component's HTML, CSS and JavaScript (blocks.js, canvas.js and live_masks.js as one ES module,
    comments left out: :func:`compact_script`)."""
    return bundle("live_masks", ASSETS)


@cache
def _mount():
    return register(COMPONENT_NAME, component_source())


def live_masks(
    *,
    n: int,
    slope: float,
    samples: int,
    scheme: str = "binning",
    seed: int = 0,
    head: int = 0,
    key: str,
    heads: int = 8,
    max_samples: int = 512,
    lecture: bool = False,
    error_range: float = ERROR_RANGE,
    min_slope: float = SLIDER_MIN_SLOPE,
    max_seed: int = MAX_SEED,
    custom_head: int | None = None,
    controls_beside: bool = False,
    on_report: Callable[[LiveView], None] | None = None,
) -> LiveView:
    """Mount the live masks figure and return the settings of the masks it draws.

    n: positions (2..1024); slope: the ALiBi slope m >= 0; samples: R, masks averaged
    (1..max_samples, max_samples <= 1024); scheme: 'binning', 'qmc' or 'cuts'; seed: 0..2^63 - 1;
    head: the global head index that keys the random stream (docs/blocks.md), 0-based; heads: the
    number of ALiBi heads offered in the component's head menu (choosing head h sets slope
    alibi_slopes(heads)[h] and head index h); lecture: larger text; error_range: the difference
    panel's colours span -error_range .. +error_range (in (0, 1]); min_slope: the slope slider's
    lower end (2^-10 .. 8); max_seed: the largest seed the seed field takes (<= 2^63 - 1);
    custom_head: the head index the figure switches to when the slope is dragged off the ALiBi
    heads (None: it keeps the head's index); controls_beside: on a wide screen, the controls in a
    column at the right of the four panels instead of a row above them (a figure about a fifth
    less tall, for a projector's screen under a step's sentences). ``key`` names this instance
    (unique on the page); the browser's last report is kept under it.

    The arguments are where the figure starts; the reader then moves R, the slope, the seed, the
    head and the scheme in the figure itself. The returned :class:`LiveView` holds the settings of
    the masks on screen once the reader has let go of a control (until then, the arguments), so
    ``mask_running_mean(**view.mask_arguments(), checkpoints=[view.samples])`` gives the mean drawn.
    When the arguments change (a page control moved), the figure starts over from them.

    ``on_report``, if given, is called with each new, valid report before the rerun it causes (a
    widget callback): a page that makes the reported settings its own passes them back as the
    arguments of that rerun, and the figure, which draws them already, carries on without starting
    over. A report the page changes (e.g. clamps) is answered by the figure drawing the page's values.

    Raises ValueError naming the argument and its range.
    """
    import streamlit as st

    asked = checked_view(n, slope, samples, scheme, seed, head, max_samples)
    previous = st.session_state.get(key) if key in st.session_state else None
    reported = reported_view((previous or {}).get("view"), asked, max_samples)

    def on_view_change() -> None:
        state = st.session_state.get(key) if key in st.session_state else None
        view = reported_view((state or {}).get("view"), asked, max_samples)
        if view is not None and on_report is not None:
            on_report(view)

    data = component_data(
        asked,
        heads,
        max_samples,
        lecture,
        error_range,
        reported,
        min_slope=min_slope,
        max_seed=max_seed,
        custom_head=custom_head,
        controls_beside=controls_beside,
    )
    result = _mount()(
        key=key,
        data=data,
        default={"view": None, "layout": None},
        on_view_change=on_view_change,
        on_layout_change=lambda: None,
    )
    view = reported_view(result.get("view"), asked, max_samples) or asked
    layout = result.get("layout")
    return replace(view, layout=layout) if layout in LAYOUTS else view
