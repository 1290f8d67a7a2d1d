"""The app's shared controls: one immutable value object, and its URL form (pure, no Streamlit).

The sidebar edits a :class:`Controls` (preset, head count or custom slope, context length n,
samples R, scheme, seed, lecture mode); :mod:`alibi_lsh.app.ui.session` keeps it per browser session
and mirrors it into the URL, so that a link reproduces the exact state. Values that arrive out of
range are clamped, and every clamp produces a message that names the value actually used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from ...samplers import SCHEMES
from ...slopes import alibi_slopes

# Caps. Dense pages build n x n matrices (masks, kernels, running means), so n stops at 1024;
# R stops at 1024 so that sampling and per-sample plots stay interactive.
N_MIN, N_MAX = 8, 1024
R_MIN, R_MAX = 1, 1024
HEADS_MIN, HEADS_MAX = 1, 64
# The largest whole number a browser's number field (a float64) holds exactly; the library takes
# seeds up to 2^63 - 1, and so does the live figure, but the sidebar's field would round them.
SEED_MAX = 2**53 - 1
# Slope 0 is a single block (plain attention) and a huge slope is the identity; neither teaches
# anything, and slope 0 has an infinite mean width, so custom slopes are kept in this range.
SLOPE_MIN, SLOPE_MAX = 1e-3, 8.0


@dataclass(frozen=True)
class Controls:
    """Values of the shared sidebar controls.

    ``head`` is 1-based (head 1 has the steepest slope). ``custom_slope`` is used when
    ``slope_mode == "custom"``; otherwise the slope is ALiBi's slope of ``head`` among ``heads``.
    """

    preset: str = "lecture"
    heads: int = 8
    head: int = 4
    slope_mode: str = "alibi"  # "alibi" or "custom"
    custom_slope: float = 0.0625
    n: int = 256
    samples: int = 64
    scheme: str = "binning"
    seed: int = 0
    lecture: bool = False

    @property
    def slope(self) -> float:
        """The slope m of the head shown on single-head figures."""
        if self.slope_mode == "custom":
            return self.custom_slope
        return float(alibi_slopes(self.heads)[self.head - 1])

    @property
    def head_index(self) -> int:
        """The global head index (0-based) whose blocks single-head figures draw (docs/blocks.md):
        head - 1 for an ALiBi head, 0 for a custom slope."""
        return self.head - 1 if self.slope_mode == "alibi" else 0

    @property
    def head_slopes(self) -> list[float]:
        """ALiBi's slopes of all ``heads`` heads (multi-head figures), steepest first."""
        return [float(s) for s in alibi_slopes(self.heads)]

    def slope_label(self) -> str:
        """E.g. 'm = 0.0625 (head 4 of 8)' or 'm = 0.3 (custom)'."""
        where = "custom" if self.slope_mode == "custom" else f"head {self.head} of {self.heads}"
        return f"m = {self.slope:.4g} ({where})"


# Presets fill in every field but lecture mode (which is about the room, not the maths).
PRESETS: dict[str, dict[str, object]] = {
    "lecture": {"heads": 8, "head": 4, "slope_mode": "alibi", "n": 256, "samples": 64, "scheme": "binning", "seed": 0},
    "small blocks": {
        "heads": 8,
        "head": 2,
        "slope_mode": "alibi",
        "n": 64,
        "samples": 16,
        "scheme": "binning",
        "seed": 0,
    },
    "long context": {
        "heads": 8,
        "head": 6,
        "slope_mode": "alibi",
        "n": 1024,
        "samples": 256,
        "scheme": "qmc",
        "seed": 0,
    },
}
PRESET_NAMES = (*PRESETS, "custom")

# URL parameter for each field (short names keep shared links readable).
URL_KEYS = {
    "preset": "preset",
    "heads": "heads",
    "head": "head",
    "custom_slope": "slope",
    "n": "n",
    "samples": "R",
    "scheme": "scheme",
    "seed": "seed",
    "lecture": "lecture",
}


def clamp_int(name: str, raw: object, lo: int, hi: int, default: int, why: str = "") -> tuple[int, str | None]:
    """Parse ``raw`` as an integer in [lo, hi]; return (value used, message or None).

    Messages quote the text as typed: "256" and "256.0" parse to 256, and a number too large for
    a float (e.g. 10^23) is parsed exactly, never rounded.
    """
    text = str(raw).strip()
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)  # "256.0", "1e3"
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number != int(number):
            return default, f"{name}={raw!r} is not a whole number; using {name}={default}."
        value = int(number)
    if value < lo:
        return lo, f"{name}={text} is below the minimum {lo}; using {name}={lo}."
    if value > hi:
        cap = f"the cap {hi}" + (f" ({why})" if why else "")
        return hi, f"{name}={text} is above {cap}; using {name}={hi}."
    return value, None


def clamp_switch(name: str, raw: object, default: bool) -> tuple[bool, str | None]:
    """An on/off URL value: 1/true/yes/on or 0/false/no/off; anything else keeps ``default``, with a message."""
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True, None
    if text in ("0", "false", "no", "off"):
        return False, None
    return default, f"{name}={raw!r} is not 0 or 1; using {name}={int(default)}."


def clamp_slope(raw: object, default: float = Controls.custom_slope) -> tuple[float, str | None]:
    """A custom slope in [SLOPE_MIN, SLOPE_MAX]; 0, negative or non-numbers are replaced, with a message."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default, f"slope={raw!r} is not a number; using slope={default:g}."
    if not math.isfinite(value):
        return default, f"slope={raw!r} is not a finite number; using slope={default:g}."
    if value <= 0:
        return SLOPE_MIN, (
            f"slope={value:g} is not allowed: ALiBi slopes must be > 0 (slope 0 is one block, plain "
            f"attention); using slope={SLOPE_MIN:g}."
        )
    if value < SLOPE_MIN:
        return SLOPE_MIN, f"slope={value:g} is below the minimum {SLOPE_MIN:g}; using slope={SLOPE_MIN:g}."
    if value > SLOPE_MAX:
        return SLOPE_MAX, f"slope={value:g} is above the maximum {SLOPE_MAX:g}; using slope={SLOPE_MAX:g}."
    return value, None


def clamp_choice(name: str, raw: object, choices: tuple[str, ...], default: str) -> tuple[str, str | None]:
    """``raw`` if it is one of ``choices``, else ``default`` with a message listing the choices."""
    if raw in choices:
        return str(raw), None
    return default, f"{name}={raw!r} is not one of {', '.join(choices)}; using {name}={default}."


def parse_controls(params: Mapping[str, object]) -> tuple[Controls, list[str]]:
    """Controls from URL parameters (missing ones take the preset's or the default values).

    Returns the clamped controls and one message per value that was changed.
    """
    messages: list[str] = []

    def note(pair):
        value, message = pair
        if message:
            messages.append(message)
        return value

    def get(field: str):
        raw = params.get(URL_KEYS[field])
        return raw[-1] if isinstance(raw, list) else raw  # a repeated parameter: the last one wins

    base = Controls()
    if get("preset") is not None:
        preset = note(clamp_choice("preset", get("preset"), PRESET_NAMES, base.preset))
        base = replace(base, preset=preset, **PRESETS.get(preset, {}))
    values = asdict(base)
    if get("heads") is not None:
        values["heads"] = note(clamp_int("heads", get("heads"), HEADS_MIN, HEADS_MAX, base.heads))
    if get("head") is not None:
        values["head"] = note(
            clamp_int(
                "head", get("head"), 1, values["heads"], min(base.head, values["heads"]), why="the number of heads"
            )
        )
    elif values["head"] > values["heads"]:
        values["head"] = values["heads"]
    if get("custom_slope") is not None:
        values["custom_slope"] = note(clamp_slope(get("custom_slope")))
        values["slope_mode"] = "custom"
    if get("n") is not None:
        values["n"] = note(clamp_int("n", get("n"), N_MIN, N_MAX, base.n, why="dense n x n pages"))
    if get("samples") is not None:
        values["samples"] = note(clamp_int("R", get("samples"), R_MIN, R_MAX, base.samples, why="samples per figure"))
    if get("scheme") is not None:
        values["scheme"] = note(clamp_choice("scheme", get("scheme"), SCHEMES, base.scheme))
    if get("seed") is not None:
        values["seed"] = note(clamp_int("seed", get("seed"), 0, SEED_MAX, base.seed))
    if get("lecture") is not None:
        values["lecture"] = note(clamp_switch("lecture", get("lecture"), base.lecture))
    return Controls(**values), messages


def to_query_params(controls: Controls) -> dict[str, str]:
    """The URL parameters that reproduce ``controls`` (the custom slope only in custom mode).

    ``heads`` and ``head`` stay in custom mode: the per-head pages draw every ALiBi head, and
    switching back to ALiBi slopes returns to the head that was chosen.
    """
    params = {URL_KEYS[f.name]: getattr(controls, f.name) for f in fields(Controls) if f.name in URL_KEYS}
    if controls.slope_mode != "custom":
        del params["slope"]
    params["lecture"] = int(controls.lecture)
    return {key: (f"{value:g}" if isinstance(value, float) else str(value)) for key, value in params.items()}


def apply_preset(controls: Controls, preset: str) -> Controls:
    """``controls`` with the preset's values (``"custom"`` keeps the current values)."""
    return replace(controls, preset=preset, **PRESETS.get(preset, {}))


def mean_width_label(slope: float) -> str:
    """E[W] = (1 + q)/(1 - q) with q = exp(-m), formatted for captions."""
    q = math.exp(-slope)
    return f"{(1 + q) / -math.expm1(-slope):.1f}"
