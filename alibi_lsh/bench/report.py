"""Markdown tables of a benchmark frame, and the numbers behind the performance targets.

Used to write BENCHMARKS.md from the CSV of one run, so every table there is reproducible:
``python -m alibi_lsh.bench.report results.csv [--seeds seed1.csv seed2.csv ...]``; with
``--seeds`` (LSH rows of the same cases with other block seeds) the targets are medians over
the seeds of the main run and these.
"""

from __future__ import annotations

import math
import sys

import pandas as pd

from ..cli_args import read_csv, run_command
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


def seed_medians(df: pd.DataFrame, seeds: list[pd.DataFrame]) -> pd.DataFrame:
    """LSH rows (status ok) of ``df`` and ``seeds``: the median per (label, n) of time, cached
    time, FLOPs, efficiency and peak memory, with the number of seeds behind it."""
    frames = [df, *seeds]
    lsh = pd.concat([f[(f["method"] == "lsh") & (f["status"] == "ok")] for f in frames], ignore_index=True)
    keys = ["method", "scheme", "samples", "label", "n"]
    columns = ["time_ms", "time_cached_ms", "flops", "efficiency", "peak_mem_mb"]
    medians = lsh.groupby(keys, sort=False)[columns].median().reset_index()
    medians["seeds"] = lsh.groupby(keys, sort=False).size().to_numpy()
    return medians


def target_rows(df: pd.DataFrame, seeds: list[pd.DataFrame], samples=(8, 64), n_min: int = 8192) -> list[tuple]:
    """(target, measured, met) of the kernel-speed targets; LSH figures are medians over seeds."""
    lsh = seed_medians(df, seeds)
    ok = df[df["status"] == "ok"]
    big = lsh[(lsh["n"] >= n_min) & lsh["samples"].isin(samples)]
    rows = []

    def span(values) -> str:
        values = list(values)
        return f"{min(values):.0%} - {max(values):.0%}" if values else "-"

    rate = big[big["scheme"].isin(["binning", "qmc"])]["efficiency"]
    rows.append(("LSH binning and qmc >= 40 % of the matmul rate (n >= 8192, R = 8, 64)", span(rate),
                 bool(len(rate)) and rate.min() >= 0.40))  # fmt: skip
    per_flop = big.assign(cost=big["time_ms"] / big["flops"]).pivot_table(
        index=["samples", "n"], columns="scheme", values="cost"
    )
    if {"cuts", "binning"} <= set(per_flop.columns):
        ratio = (per_flop["cuts"] / per_flop["binning"]).dropna()
        rows.append(("cuts within 1.3x of binning's time at equal FLOPs", f"{ratio.min():.2f}x - {ratio.max():.2f}x",
                     bool(len(ratio)) and ratio.max() <= 1.3))  # fmt: skip
    at = ok[ok["n"] == 16384].set_index("label")["time_ms"]
    r8 = lsh[(lsh["n"] == 16384) & (lsh["samples"] == 8)].set_index("label")["time_ms"]
    for exact, goal in (("dense", 20), ("flex", 12)):
        if exact in at and len(r8):
            speedups = {label.split()[1]: at[exact] / t for label, t in r8.items()}
            text = ", ".join(f"{scheme} {x:.1f}x" for scheme, x in speedups.items())
            rows.append((f"LSH R = 8 at n = 16384 >= {goal}x faster than {exact}", text,
                         min(speedups.values()) >= goal))  # fmt: skip
    window = ok[(ok["method"] == "window") & (ok["n"] >= n_min)]["efficiency"]
    rows.append(
        ("window >= 30 % of the matmul rate (n >= 8192)", span(window), bool(len(window)) and window.min() >= 0.30)
    )
    fits = fit_loglog_slopes(lsh.assign(status="ok"), n_min=2048, n_max=32768)
    fits = fits[fits["samples"].isin(samples)]
    text = ", ".join(f"{r.scheme} R={r.samples} {r.slope:.2f}" for r in fits.itertuples())
    rows.append(
        (
            "time slope over n in [2048, 32768] <= 1.10 for every R",
            text,
            bool(len(fits)) and fits["slope"].max() <= 1.10,
        )
    )
    memory = lsh[lsh["n"] == 32768]["peak_mem_mb"]
    if len(memory):
        rows.append(
            ("extra memory at n = 32768 < 1 GiB", f"{memory.min():.0f} - {memory.max():.0f} MiB", memory.max() < 1024)
        )
    return rows


def targets_table(df: pd.DataFrame, seeds: list[pd.DataFrame]) -> str:
    lines = ["| target | measured | met? |", "|---|---|---|"]
    lines += [
        f"| {target} | {measured} | {'yes' if met else '**no**'} |" for target, measured, met in target_rows(df, seeds)
    ]
    return "\n".join(lines)


# The columns the tables read: a CSV of python -m alibi_lsh bench --out (forward mode) has them all.
REQUIRED_COLUMNS = (
    "method", "scheme", "samples", "n", "label", "time_ms", "time_cached_ms", "peak_mem_mb", "rel_error",
    "max_abs_error", "flops", "gflops", "efficiency", "status",
)  # fmt: skip


def _read(path: str, flag: str) -> pd.DataFrame:
    kind = "a CSV of python -m alibi_lsh bench --out (forward mode)"
    return read_csv(path, flag, REQUIRED_COLUMNS, kind).fillna({"scheme": ""})


def main(argv: list[str] | None = None) -> int:
    """Print the tables; a missing file or a CSV of another kind is one ``error:`` line, status 2."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m alibi_lsh.bench.report")
    parser.add_argument("csv", help="a CSV of python -m alibi_lsh bench --out")
    parser.add_argument("--seeds", nargs="*", default=[], help="CSVs of the same LSH cases with other --seed")

    def report(args: argparse.Namespace) -> int:
        df, seeds = _read(args.csv, "csv"), [_read(path, "--seeds") for path in args.seeds]
        print(time_pivot(df), "\n")
        print(slopes_table(df), "\n")
        print(markdown_table(df), "\n")
        print(targets_table(df, seeds))
        return 0

    return run_command(parser, sys.argv[1:] if argv is None else argv, report)


if __name__ == "__main__":
    raise SystemExit(main())
