"""Markdown tables of a benchmark frame, and the numbers behind the performance targets.

Used to write BENCHMARKS.md from the CSV of one run, so every table there is reproducible:
``python -m alibi_lsh.bench.report results.csv``.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd

from .runner import fit_loglog_slopes


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def markdown_table(df: pd.DataFrame, n: int | None = None) -> str:
    """One markdown row per case (at one n, or all): time (draws cache cleared; warm), FLOP floor,
    memory, error, GFLOP/s, status."""
    rows = df if n is None else df[df["n"] == n]
    lines = [
        "| n | method | time (ms) | time, draws cached (ms) | FLOP floor (ms) | peak mem (MiB) | rel. error | "
        "max abs error | GFLOP/s | % of matmul | status |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for _, r in rows.iterrows():
        lines.append(
            f"| {r['n']} | {r['label']} | {_fmt(r['time_ms'], '.1f')} | {_fmt(r.get('time_cached_ms'), '.1f')} | "
            f"{_fmt(r.get('floor_ms'), '.1f')} | {_fmt(r['peak_mem_mb'], '.0f')} | "
            f"{_fmt(r['rel_error'], '.2e')} | {_fmt(r['max_abs_error'], '.2e')} | {_fmt(r['gflops'], '.1f')} | "
            f"{_fmt(100 * r['efficiency'] if pd.notna(r['efficiency']) else None, '.0f')} | {r['status']} |"
        )
    return "\n".join(lines)


def time_pivot(df: pd.DataFrame) -> str:
    """Median time (ms) as a method x n markdown grid; '-' where skipped (status in the full table)."""
    ok = df[df["status"] == "ok"]
    grid = ok.pivot_table(index="label", columns="n", values="time_ms", aggfunc="first", sort=False)
    order = [label for label in dict.fromkeys(df["label"]) if label in grid.index]
    grid = grid.reindex(order)
    head = "| method | " + " | ".join(str(n) for n in grid.columns) + " |"
    rule = "|---|" + "---:|" * len(grid.columns)
    body = ["| " + label + " | " + " | ".join(_fmt(v, ".1f") for v in row) + " |" for label, row in grid.iterrows()]
    return "\n".join([head, rule, *body])


def slopes_table(df: pd.DataFrame, n_min: int = 2048) -> str:
    slopes = fit_loglog_slopes(df, n_min=n_min)
    lines = ["| method | scheme | R | slope | n range | points |", "|---|---|---:|---:|---|---:|"]
    for _, r in slopes.iterrows():
        lines.append(
            f"| {r['method']} | {r['scheme'] or '-'} | {r['samples'] or '-'} | {_fmt(r['slope'], '.2f')} | "
            f"{r['n_min']}-{r['n_max']} | {r['points']} |"
        )
    return "\n".join(lines)


def crossover_n(df: pd.DataFrame, fast_label: str, slow_label: str) -> float | None:
    """The n (log-log interpolated) from which ``fast_label`` is faster than ``slow_label``.

    None if it never is on the measured range; the smallest measured n if it always is.
    """
    ok = df[df["status"] == "ok"]
    a = ok[ok["label"] == fast_label].set_index("n")["time_ms"]
    b = ok[ok["label"] == slow_label].set_index("n")["time_ms"]
    common = sorted(set(a.index) & set(b.index))
    if not common:
        return None
    ratio = np.log(np.array([a[n] / b[n] for n in common]))
    if ratio[0] < 0:
        return float(common[0])
    for i in range(1, len(common)):
        if ratio[i] < 0:  # sign change between common[i-1] and common[i]
            x0, x1 = math.log(common[i - 1]), math.log(common[i])
            return float(math.exp(x0 + (x1 - x0) * ratio[i - 1] / (ratio[i - 1] - ratio[i])))
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    df = pd.read_csv(argv[0], keep_default_na=True).fillna({"scheme": ""})
    print(time_pivot(df), "\n")
    print(slopes_table(df), "\n")
    print(markdown_table(df))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
