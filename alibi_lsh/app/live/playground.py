"""The cost playground: keys per query, multiply-adds and output error of exact ALiBi, a window and the blocks.

A Streamlit custom component (components v2, plain JavaScript, no build step): the browser holds a
small example (random q, k, v from a seeded Philox stream, d = 16), draws the blocks with the
documented block function (``blocks.js``, binning, seed 0, head index 0), runs the estimator, the
window and exact ALiBi on it (``estimator.js``) and redraws on every animation frame while n, m, w
or R is dragged. The formulas below are what the browser computes for the costs; the browser test
checks the two against each other.

Costs, per query of one head (the union pass of :mod:`alibi_lsh.attention.lsh.union`):
keys read (the distinct keys whose q.k is computed), and multiply-adds = keys * (d + d_v) (a dot
product and a weighted sum of v per key), plus R for the blocks (one count per sample).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import torch

from ..._checks import check_int, check_number
from ...masks import sample_partitions
from ..ui.controls import SEED_MAX, Controls
from .component import bundle, register, script_source

COMPONENT_NAME = "alibi_lsh_cost_playground"
ESTIMATOR_ASSETS = ("blocks.js", "estimator.js")
ASSETS = (*ESTIMATOR_ASSETS, "canvas.js", "playground.js")
HEAD_DIM = 8  # d = d_v of the browser's example (HEAD_DIM in playground.js)
EXAMPLE_SEED = 0  # the seed of q, k, v and the blocks' first seed in the browser ("draw again": the next)
EXAMPLE_HEAD = 0  # the blocks' head index
# n is capped so that a drag of m or n (which recomputes every error curve: ~30 outputs of n x d)
# keeps 40-50 frames per second at n = 256 on a 2-core CPU; on a CPU four times slower (a phone's,
# emulated) a drag of m at n = 256 gets about 15. docs/app.md has the measured rates.
MIN_N, MAX_N = 16, 256
N_STEPS_PER_OCTAVE = 2  # the n slider: half octaves (16, 23, 32, 45, ...)
MIN_LOG2_SLOPE, MAX_LOG2_SLOPE = -8, 1  # the slope slider: 2^-8 .. 2
MAX_SAMPLES = 1024
SCORE_STDS = (0, 1, 2, 4)  # standard deviation of the scores scale q.k; 0 = positional weights alone
TAIL_MASS = 1e-3  # the starting window leaves this share of the kernel out (per head, as the verdict)
# The playground's own URL parameters (n, m and R are the app's shared controls: n, slope or head, R).
URL_KEYS = {"window": "w", "score_std": "std", "causal": "causal"}


@dataclass(frozen=True)
class PlaygroundStart:
    """Where the playground's sliders start; the reader moves them in the browser."""

    n: int
    slope: float
    samples: int
    window: int
    score_std: float = 1
    causal: bool = False
    seed: int = EXAMPLE_SEED  # of the blocks (the app's shared seed); q, k, v keep theirs


def exact_keys_per_query(n: int, causal: bool) -> float:
    """n keys per query; causal: query i reads i + 1, (n + 1) / 2 on average."""
    return (n + 1) / 2 if causal else float(n)


def window_keys_per_query(n: int, window: int, causal: bool) -> float:
    """Mean over the n queries of the keys with |i - j| < w (and j <= i when causal)."""
    total = 0
    for i in range(n):
        total += min(i, window - 1) + 1 + (0 if causal else min(n - 1 - i, window - 1))
    return total / n


def block_keys_per_query(n: int, slope: float, samples: int, causal: bool, seed: int = EXAMPLE_SEED) -> float:
    """Mean over the n queries of the union of their R blocks (the browser's blocks: binning, ``seed``,
    head EXAMPLE_HEAD): every block holds the query, so the union is one run from the earliest
    block start to the latest block end (to the query itself when causal)."""
    positions = torch.arange(n)
    first = torch.full((n,), n, dtype=torch.int64)
    last = torch.zeros(n, dtype=torch.int64)
    for partition in sample_partitions(n, slope, samples, "binning", seed, head=EXAMPLE_HEAD):
        starts = partition.starts
        ends = torch.cat([starts[1:], torch.tensor([n])])
        block = torch.searchsorted(starts, positions, right=True) - 1
        first = torch.minimum(first, starts[block])
        last = torch.maximum(last, ends[block])
    end = positions + 1 if causal else last
    return float((end - first).double().mean())


def multiply_adds(keys: float, samples: int = 0, head_dim: int = HEAD_DIM, value_dim: int = HEAD_DIM) -> float:
    """Multiply-adds per query: q.k and the weighted sum of v for each key read, plus one count per
    sample for the blocks (samples = 0 for exact attention and the window)."""
    return keys * (head_dim + value_dim) + samples


def tail_window(slope: float, n: int, tail_mass: float = TAIL_MASS) -> int:
    """The smallest w with exp(-m w) <= tail_mass (the kernel's far share, roughly), at most n."""
    return max(1, min(n, math.ceil(math.log(1 / tail_mass) / slope)))


def on_slider(value: float, steps_per_octave: int, low: int, high: int) -> int:
    """The integer a log2 slider with ``steps_per_octave`` steps shows nearest ``value``, in low .. high."""
    log2 = min(max(math.log2(max(value, 1)), math.log2(low)), math.log2(high))
    return round(2 ** (round(steps_per_octave * log2) / steps_per_octave))


def _slope_on_slider(slope: float) -> float:
    """The slope slider's value nearest ``slope``: eighths of an octave in 2^MIN .. 2^MAX."""
    log2_slope = min(max(math.log2(slope), MIN_LOG2_SLOPE), MAX_LOG2_SLOPE) if slope > 0 else MIN_LOG2_SLOPE
    return 2.0 ** (round(8 * log2_slope) / 8)


def _url_window(raw: str | None, n: int, default: int) -> tuple[int, str | None]:
    """The URL's window on the w slider (eighths of an octave, 1 .. n); a message if it was moved."""
    if raw is None:
        return default, None
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        return default, f"w = {raw!r} is not a number; using w = {default} (exp(-m w) about {TAIL_MASS:g})."
    used = on_slider(number, 8, 1, n)
    if used != number:
        why = f"the window slider takes 1 .. n = {n} in eighths of an octave"
        return used, f"w = {raw} is not on the playground's window slider ({why}); using w = {used}."
    return used, None


def _url_score_std(raw: str | None) -> tuple[float, str | None]:
    """The URL's score std, one of SCORE_STDS (the nearest, with a message, if it is not)."""
    default = PlaygroundStart.score_std
    if raw is None:
        return default, None
    choices = ", ".join(f"{c:g}" for c in SCORE_STDS)
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        return default, f"score std = {raw!r} is not a number (choices: {choices}); using score std = {default:g}."
    used = min(SCORE_STDS, key=lambda choice: abs(choice - number))
    if used != number:
        return used, f"score std = {raw} is not one of {choices}; using score std = {used:g}."
    return used, None


def _url_causal(raw: str | None) -> tuple[bool, str | None]:
    default = PlaygroundStart.causal
    if raw is None:
        return default, None
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True, None
    if text in ("0", "false", "no", "off"):
        return False, None
    return default, f"causal = {raw!r} is not 0 or 1; using causal = {int(default)}."


def starting_point(
    n: int, slope: float, samples: int, params: Mapping[str, str] | None = None, seed: int = EXAMPLE_SEED
) -> tuple[PlaygroundStart, list[str]]:
    """The app's shared controls (n, m, R, the blocks' seed) and the playground's own URL parameters (``params``:
    w, std, causal; see :data:`URL_KEYS`) as the playground's start, moved onto its sliders' steps
    and ranges, with a message (naming the value given and the value used) for each value moved.
    Without a w, the window is where exp(-m w) falls to about TAIL_MASS."""
    params = params or {}
    messages = []
    used_n = on_slider(n, N_STEPS_PER_OCTAVE, MIN_N, MAX_N)
    if used_n != n:
        messages.append(
            f"n = {n} is not on the playground's n slider ({MIN_N} .. {MAX_N}, half octaves: it recomputes "
            f"every curve while you drag); using n = {used_n}."
        )
    used_slope = _slope_on_slider(slope)
    if not math.isclose(used_slope, slope, rel_tol=0.05):
        messages.append(
            f"slope m = {slope:g} is outside the playground's slider (2^{MIN_LOG2_SLOPE} .. 2^{MAX_LOG2_SLOPE} "
            f"in eighths of an octave); using m = {used_slope:.4g}."
        )
    used_samples = on_slider(samples, 8, 1, MAX_SAMPLES)
    if used_samples != samples:
        messages.append(
            f"R = {samples} is not on the playground's R slider (eighths of an octave); using R = {used_samples}."
        )
    tail = on_slider(tail_window(used_slope, used_n), 8, 1, used_n)  # the w slider: eighths of an octave
    window, window_note = _url_window(params.get(URL_KEYS["window"]), used_n, tail)
    score_std, std_note = _url_score_std(params.get(URL_KEYS["score_std"]))
    causal, causal_note = _url_causal(params.get(URL_KEYS["causal"]))
    messages += [note for note in (window_note, std_note, causal_note) if note]
    start = PlaygroundStart(used_n, used_slope, used_samples, window, score_std, causal, seed)
    return start, messages


def to_query_params(start: PlaygroundStart) -> dict[str, str]:
    """The playground's own URL parameters that reproduce ``start`` (n, m, R go with the shared controls)."""
    return {
        URL_KEYS["window"]: str(start.window),
        URL_KEYS["score_std"]: f"{start.score_std:g}",
        URL_KEYS["causal"]: str(int(start.causal)),
    }


def reported_start(state: Any) -> PlaygroundStart | None:
    """The browser's report of its sliders (``{"n", "slope", "samples", "window", "score_std",
    "causal", "seed"}``, the seed as a decimal string) as a start on the sliders' steps, or None if
    it is missing or malformed: it comes from the client, so it is checked like any input and never
    trusted or raised."""
    if not isinstance(state, dict):
        return None
    try:
        n, samples, window = (state[name] for name in ("n", "samples", "window"))
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in (n, samples, window)):
            return None
        start = checked_start(
            PlaygroundStart(
                n=n,
                slope=float(state["slope"]),
                samples=samples,
                window=window,
                score_std=float(state["score_std"]),
                causal=state["causal"],
                seed=int(state["seed"]) if isinstance(state["seed"], str) and state["seed"].isdigit() else -1,
            )
        )
    except (KeyError, TypeError, ValueError):
        return None
    on_sliders = (on_slider(n, N_STEPS_PER_OCTAVE, MIN_N, MAX_N), on_slider(samples, 8, 1, MAX_SAMPLES))
    if (start.n, start.samples) != on_sliders:
        return None  # not a position of the sliders
    return replace(start, slope=_slope_on_slider(start.slope))


def followed_controls(controls: Controls, start: PlaygroundStart) -> Controls:
    """The app's shared controls once they follow the playground's n, m and R (so that the sidebar and
    the URL show them): a slope that is one of the ALiBi heads' selects that head, any other is a
    custom slope (6 significant digits, as the URL writes it); any change but the seed's makes the
    preset 'custom'."""
    changes: dict[str, object] = {"n": start.n, "samples": start.samples, "seed": start.seed}
    if not math.isclose(start.slope, controls.slope, rel_tol=1e-6):
        heads = [head for head, slope in enumerate(controls.head_slopes, 1) if slope == start.slope]
        if heads:
            changes.update(slope_mode="alibi", head=heads[0])
        else:
            changes.update(slope_mode="custom", custom_slope=float(f"{start.slope:g}"))
    followed = replace(controls, **changes)
    if followed == replace(controls, seed=start.seed):
        return followed  # as for the sidebar: a new seed keeps the preset
    return replace(followed, preset="custom")


def checked_start(start: PlaygroundStart) -> PlaygroundStart:
    """The start checked against the playground's ranges; ValueError names the argument and the range."""
    n = check_int("n", start.n, minimum=MIN_N, maximum=MAX_N)
    slope = check_number("slope", start.slope, low=2.0**MIN_LOG2_SLOPE, high=2.0**MAX_LOG2_SLOPE)
    samples = check_int("samples", start.samples, maximum=MAX_SAMPLES)
    window = check_int("window", start.window, maximum=n)
    if start.score_std not in SCORE_STDS:
        raise ValueError(f"score_std must be one of {SCORE_STDS}, got {start.score_std!r}")
    if not isinstance(start.causal, bool):
        raise ValueError(f"causal must be True or False, got {start.causal!r}")
    seed = check_int("seed", start.seed, minimum=0, maximum=SEED_MAX)
    return PlaygroundStart(n, float(slope), samples, window, start.score_std, start.causal, seed)


def component_data(start: PlaygroundStart, lecture: bool) -> dict:
    """The JSON the browser receives: where the sliders start and their ranges."""
    start = checked_start(start)
    data = {
        "n": start.n,
        "slope": start.slope,
        "samples": start.samples,
        "window": start.window,
        "score_std": start.score_std,
        "causal": start.causal,
        "seed": str(start.seed),  # a string: JavaScript's numbers stop at 2^53
        "min_n": MIN_N,
        "max_n": MAX_N,
        "min_log2_slope": MIN_LOG2_SLOPE,
        "max_log2_slope": MAX_LOG2_SLOPE,
        "max_samples": MAX_SAMPLES,
        "lecture": bool(lecture),
    }
    data["basis"] = repr(
        sorted((name, data[name]) for name in ("n", "slope", "samples", "window", "score_std", "causal", "seed"))
    )
    return data


@cache
def estimator_source() -> str:
    """blocks.js and estimator.js as one ES module (comments left out)."""
    return script_source(ESTIMATOR_ASSETS)


@cache
def component_source() -> dict[str, str]:
    """The playground's HTML, CSS and JavaScript (:data:`ASSETS` as one module)."""
    return bundle("playground", ASSETS)


@cache
def _mount():
    return register(COMPONENT_NAME, component_source())


def cost_playground(
    start: PlaygroundStart,
    *,
    key: str,
    lecture: bool = False,
    on_report: Callable[[PlaygroundStart], None] | None = None,
) -> None:
    """Mount the cost playground with its sliders at ``start`` (see :class:`PlaygroundStart`).

    Everything is computed in the browser; when a slider is let go (or the score std or causal
    switch changes), it reports its settings, and ``on_report`` (if given) is called with them, checked
    (:func:`reported_start`), before the rerun the report causes: a page that passes them back as
    ``start`` (and puts them in its URL) makes every setting bookmarkable, and the playground, which
    shows them already, carries on. ``lecture``: larger text. Raises ValueError naming a setting
    outside the playground's ranges.
    """
    import streamlit as st

    def on_settings_change() -> None:
        state = st.session_state.get(key) if key in st.session_state else None
        reported = reported_start((state or {}).get("settings"))
        if reported is not None and on_report is not None:
            on_report(reported)

    _mount()(
        key=key,
        data=component_data(start, lecture),
        default={"settings": None},
        on_settings_change=on_settings_change,
    )
