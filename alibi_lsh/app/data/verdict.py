"""The lecture's verdict, read from the shipped verdict run: which method wins at equal error and at
equal time, in numbers, and the sentences that say so.

Everything here is computed from the file :mod:`alibi_lsh.app.data.verdict_bench` writes; no number
is typed in. No Streamlit here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .verdict_bench import COLUMNS, SCHEMA, SHIPPED, VERSION

# What the verdict chart's point labels (t=..., w=..., R=...) stand for.
LABELS_NOTE = (
    "Point labels: t = the kernel's tail mass each head's window leaves out (windows sized per head), "
    "w = one window for every head, R = the blocks' samples."
)
PER_HEAD = "tail mass"  # the ``sizing`` of windows sized per head for a kernel tail mass
FIXED = "fixed w"


@dataclass(frozen=True, eq=False)
class VerdictRun:
    """A verdict run: its facts and its rows (one per method and setting, columns of the file)."""

    machine: str
    torch: str
    command: str
    created: str
    config: dict
    frame: pd.DataFrame

    @property
    def blocks(self) -> pd.DataFrame:
        return self.frame[self.frame["method"] == "lsh"].sort_values("parameter")

    @property
    def windows(self) -> pd.DataFrame:
        """Windows sized per head for a tail mass, from the widest (smallest tail mass) down."""
        rows = self.frame[(self.frame["method"] == "window") & (self.frame["sizing"] == PER_HEAD)]
        return rows.sort_values("parameter")

    @property
    def fixed_windows(self) -> pd.DataFrame:
        rows = self.frame[(self.frame["method"] == "window") & (self.frame["sizing"] == FIXED)]
        return rows.sort_values("parameter")


def load(path: Path | str = SHIPPED) -> VerdictRun:
    """Read a verdict file (FileNotFoundError if absent, ValueError naming what breaks the schema)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if document.get("schema") != SCHEMA or document.get("version") != VERSION:
        raise ValueError(f"{path}: expected schema {SCHEMA!r} version {VERSION}")
    if tuple(document.get("columns", ())) != COLUMNS:
        raise ValueError(f"{path}: columns must be {list(COLUMNS)}, got {document.get('columns')}")
    frame = pd.DataFrame(document["rows"], columns=list(COLUMNS))
    for method in ("exact", "window", "lsh"):
        if method not in set(frame["method"]):
            raise ValueError(f"{path}: no row of method {method!r}")
    return VerdictRun(
        machine=document["machine"],
        torch=document["torch"],
        command=document["command"],
        created=document["created"],
        config=document["config"],
        frame=frame,
    )


def load_shipped() -> VerdictRun | None:
    """The shipped verdict run, or None where none ships."""
    return load(SHIPPED) if SHIPPED.is_file() else None


@dataclass(frozen=True)
class Match:
    """One blocks row against the cheapest per-head window that is at least as accurate."""

    blocks: dict  # the blocks' row (the most accurate R measured)
    window: dict | None  # the per-head window row with error <= the blocks', least ``cost``; None: none is
    cost: str  # "time_ms" or "keys_per_query"

    @property
    def winner(self) -> str:
        if self.window is None or self.window[self.cost] > self.blocks[self.cost]:
            return "blocks"
        return "window"

    @property
    def ratio(self) -> float:
        """The blocks' cost over the window's (> 1: the window is cheaper); NaN without a window."""
        return float("nan") if self.window is None else self.blocks[self.cost] / self.window[self.cost]


def equal_error(run: VerdictRun, cost: str = "time_ms") -> Match:
    """The blocks at their most accurate R against the cheapest per-head window with error <= theirs."""
    if cost not in ("time_ms", "keys_per_query"):
        raise ValueError(f"cost must be 'time_ms' or 'keys_per_query', got {cost!r}")
    best = run.blocks.sort_values("rel_error").iloc[0].to_dict()
    accurate = run.windows[run.windows["rel_error"] <= best["rel_error"]]
    window = accurate.sort_values(cost).iloc[0].to_dict() if len(accurate) else None
    return Match(blocks=best, window=window, cost=cost)


@dataclass(frozen=True)
class Race:
    """At the time of the blocks' most accurate R: the most accurate per-head window not slower."""

    blocks: dict
    window: dict  # the per-head window with time <= the blocks' and the least error (else the fastest)

    @property
    def winner(self) -> str:
        return "window" if self.window["rel_error"] < self.blocks["rel_error"] else "blocks"


def equal_time(run: VerdictRun) -> Race:
    """Who has the lower error within the time the blocks take at their largest R."""
    blocks = run.blocks.iloc[-1].to_dict()
    in_time = run.windows[run.windows["time_ms"] <= blocks["time_ms"]]
    pool = in_time if len(in_time) else run.windows.sort_values("time_ms").head(1)
    return Race(blocks=blocks, window=pool.sort_values("rel_error").iloc[0].to_dict())


def dominated(run: VerdictRun) -> list[float]:
    """The R of the blocks rows that one per-head window matches at equal error for less: a window
    with error, keys per query and time each at most the blocks'."""
    windows = run.windows
    return [
        float(row["parameter"])
        for _, row in run.blocks.iterrows()
        if (
            (windows["rel_error"] <= row["rel_error"])
            & (windows["keys_per_query"] <= row["keys_per_query"])
            & (windows["time_ms"] <= row["time_ms"])
        ).any()
    ]


def inputs_text(run: VerdictRun) -> str:
    config = run.config
    return (
        f"n = {config['n']}, {config['heads']} ALiBi heads, causal, random scores with standard deviation "
        f"{config['score_std']:g}"
    )


def verdict_sentences(run: VerdictRun) -> list[str]:
    """The verdict step's sentences, every number read from ``run``."""
    by_time, by_keys = equal_error(run, "time_ms"), equal_error(run, "keys_per_query")
    blocks = by_time.blocks
    first = (
        f"On these inputs ({inputs_text(run)}), the blocks' best error is **{blocks['rel_error']:.3f}** "
        f"(R = {blocks['parameter']:g}: {blocks['time_ms']:.0f} ms, {blocks['keys_per_query']:.0f} keys per query)."
    )
    if by_time.window is None:
        second = "No window sized per head reaches that error here: **the blocks win** at equal error."
    else:
        window, keys = by_time.window, by_keys.window
        if by_time.winner == by_keys.winner == "window":
            outcome = f"**the window wins**, with {by_time.ratio:.1f}x less time and {by_keys.ratio:.1f}x fewer keys"
        else:
            outcome = f"the window needs {1 / by_time.ratio:.1f}x the time and {1 / by_keys.ratio:.1f}x the keys"
        if keys["label"] == window["label"]:
            costs = f"in {window['time_ms']:.0f} ms with {window['keys_per_query']:.0f} keys per query"
        else:
            costs = (
                f"in {window['time_ms']:.0f} ms (one for {keys['parameter']:g} with "
                f"{keys['keys_per_query']:.0f} keys per query)"
            )
        second = (
            f"A window sized per head for a kernel tail mass of {window['parameter']:g} reaches "
            f"{window['rel_error']:.3f} {costs}: at equal error on these inputs {outcome}."
        )
        second += " " + _every_r(run)
    third = (
        "What the blocks offer instead: an unbiased estimate of any decreasing convex positional kernel with "
        "k(0) = 1, built only from ordinary short attentions, with an error set by R that does not grow with n."
    )
    return [first, second, third]


def _every_r(run: VerdictRun) -> str:
    """At how many of the R measured one per-head window is as accurate with no more keys and time."""
    all_r = [float(r) for r in run.blocks["parameter"]]
    matched = dominated(run)
    span = f"R = {all_r[0]:g} to {all_r[-1]:g}"
    where = "every R measured" if len(matched) == len(all_r) else f"{len(matched)} of the {len(all_r)} values of R"
    return f"At {where} ({span}), a window sized per head is as accurate with no more keys and no more time."


def race_sentence(run: VerdictRun) -> str:
    """The answer to "at equal time, which wins?", from ``run``."""
    race = equal_time(run)
    blocks, window = race.blocks, race.window
    errors = sorted((blocks["rel_error"], window["rel_error"]))
    return (
        f"On these inputs, in the {blocks['time_ms']:.0f} ms the blocks take at R = {blocks['parameter']:g} (error "
        f"{blocks['rel_error']:.3f}), the window sized for tail mass {window['parameter']:g} takes "
        f"{window['time_ms']:.0f} ms with error {window['rel_error']:.4f}: **the {race.winner}** is "
        f"{errors[1] / errors[0]:.0f}x more accurate."
    )
