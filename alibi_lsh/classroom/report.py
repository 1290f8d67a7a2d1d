"""The load table: one Markdown row per number of students, with latency percentiles and usage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .students import PhaseResult

COLUMNS = (
    "students",
    "reruns/s served",
    "median",
    "p90",
    "p99",
    "timeouts",
    "errors",
    "server CPU",
    "server memory",
    "data per rerun",
    "first load",
    "load generator CPU",
)


@dataclass(frozen=True)
class Usage:
    """Server CPU (percent of one core, summed over processes) and peak memory; None if not measured."""

    server_cpu: float | None
    server_bytes: int | None
    client_cpu: float


def duration(seconds: float | None) -> str:
    """'202 ms' below a second, '1.00 s' or '12.1 s' above (three significant digits), '-' for none."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:#.3g} s" if seconds < 100 else f"{seconds:.0f} s"


def size(num_bytes: float | None) -> str:
    """'85 kB', '7.1 MB', '423 MB' or '1.97 GB' (decimal units), '-' for no value."""
    if num_bytes is None:
        return "-"
    if num_bytes < 1e6:
        return f"{num_bytes / 1e3:.0f} kB"
    if num_bytes < 1e9:
        return f"{num_bytes / 1e6:.1f} MB" if num_bytes < 1e7 else f"{num_bytes / 1e6:.0f} MB"
    return f"{num_bytes / 1e9:.2f} GB"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation), None for no values."""
    return float(np.percentile(values, q)) if len(values) else None


def header() -> str:
    return "| " + " | ".join(COLUMNS) + " |\n|" + "---:|" * len(COLUMNS)


def row(result: PhaseResult, usage: Usage) -> str:
    """One table row: throughput counts completed runs over the phase's wall time; data per rerun is
    what the websocket carried (the tab holds large unchanged elements, as a browser does); first
    load is the median of the tabs' first runs (empty in the ``open`` mode, where every run is one).
    """
    runs = result.latencies
    cells = (
        str(result.students),
        f"{len(runs) / result.seconds:.1f}" if result.seconds > 0 else "-",
        duration(percentile(runs, 50)),
        duration(percentile(runs, 90)),
        duration(percentile(runs, 99)),
        str(result.timeouts),
        str(len(result.errors)),
        percent(usage.server_cpu),
        size(usage.server_bytes),
        size(result.received_bytes / len(runs)) if runs else "-",
        duration(percentile(result.first_loads, 50)),
        percent(usage.client_cpu),
    )
    return "| " + " | ".join(cells) + " |"
