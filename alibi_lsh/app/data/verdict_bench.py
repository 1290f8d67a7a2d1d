"""The verdict run: error against time and keys per query of a window and of the random blocks, at one n.

One command measures, on the same q, k, v (the benchmark's inputs: B = 1, standard ALiBi slopes,
causal, scores with a stated standard deviation):

- ``exact``: the library's exact ALiBi attention;
- ``window`` sized **per head** for a kernel tail mass t: w_h = the smallest w with
  exp(-m_h w) < t (the fraction of a head's kernel mass the window drops, for a long row);
- ``window`` of one **fixed** width w for every head;
- ``lsh``: the random blocks (one scheme) at several R.

Each row records the fastest and the median time of ``repeat`` calls after a warm-up (the blocks draw afresh in
every call, as the benchmark's ``time_ms``), the keys each query reads (mean over heads and
queries: the band for a window, the union of the query's R blocks for the blocks) and the relative
Frobenius error of the output against the benchmark's independent float64 reference, overall and
per head. The file it writes (``results/verdict_cpu.json``) is what the tour's verdict step and
its sentences read. Run it with

    python -m alibi_lsh.app.data.verdict_bench --out alibi_lsh/app/data/results/verdict_cpu.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shlex
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

SCHEMA = "alibi-lsh verdict"
VERSION = 1
SHIPPED = Path(__file__).resolve().parent / "results" / "verdict_cpu.json"
COLUMNS = (
    "method", "sizing", "parameter", "label", "time_ms", "time_median_ms", "keys_per_query", "rel_error",
    "head_keys", "head_errors",
)  # fmt: skip


@dataclass(frozen=True)
class VerdictConfig:
    """What the verdict run measures (see the module docstring); every size is checked here."""

    n: int = 4096
    heads: int = 8
    dim: int = 64
    score_std: float = 2.0
    tail_masses: tuple[float, ...] = (0.3, 0.1, 0.03, 0.01, 1e-3)
    fixed_windows: tuple[int, ...] = (32, 128, 512)
    samples: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    scheme: str = "binning"
    seed: int = 0
    repeat: int = 7
    threads: int | None = 1

    def __post_init__(self) -> None:
        from ...samplers import SCHEMES

        for name, low, high in (("n", 2, 2**16), ("heads", 1, 64), ("dim", 1, 1024), ("repeat", 1, 100)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
        if not (math.isfinite(self.score_std) and 0 < self.score_std <= 100):
            raise ValueError(f"score_std must be in (0, 100], got {self.score_std!r}")
        if not self.tail_masses or any(not 0 < t < 1 for t in self.tail_masses):
            raise ValueError(f"tail_masses must be numbers in (0, 1), got {self.tail_masses!r}")
        if any(not 1 <= w <= self.n for w in self.fixed_windows):
            raise ValueError(f"fixed_windows must be widths in [1, n = {self.n}], got {self.fixed_windows!r}")
        if not self.samples or any(not 1 <= r <= 4096 for r in self.samples):
            raise ValueError(f"samples must be R values in [1, 4096], got {self.samples!r}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}")


def tail_mass_windows(slopes: Sequence[float], n: int, tail_mass: float) -> list[int]:
    """Per head, the smallest w with exp(-m w) < ``tail_mass`` (capped at n; slope 0: n).

    exp(-m w) is the share of the kernel's mass sum_d exp(-m d) that lies at d >= w in a long row:
    the mass a window of width w drops.
    """
    bound = math.log(1.0 / tail_mass)
    return [n if m <= 0 else min(n, math.floor(bound / m) + 1) for m in slopes]


def window_keys(n: int, window: int) -> float:
    """Mean keys a causal query reads in a window of width w: min(i + 1, w) over i = 0..n-1."""
    w = min(window, n)
    return (w * (w + 1) / 2 + (n - w) * w) / n


def block_union_keys(n: int, slopes: Sequence[float], samples: int, scheme: str, seed: int) -> list[float]:
    """Per head, the mean over causal queries of the keys in the union of the query's R blocks.

    The blocks of one sample are contiguous and contain i, so their causal parts [start_r(i), i]
    are nested intervals ending at i: the union is [min_r start_r(i), i].
    """
    from ...attention.lsh.draws import sample_head_partitions

    positions = torch.arange(n)
    partitions = sample_head_partitions(n, torch.tensor(list(slopes), dtype=torch.float64), samples, scheme, seed)
    keys = []
    for head in partitions:
        earliest = positions.clone()
        for partition in head:
            block = torch.searchsorted(partition.starts, positions, right=True) - 1
            earliest = torch.minimum(earliest, partition.starts[block])
        keys.append(float((positions - earliest + 1).double().mean()))
    return keys


def _times_ms(run, repeat: int, before=None) -> tuple[float, float, torch.Tensor]:
    """(fastest and median ms of ``repeat`` calls after one warm-up call, the output).

    On a machine shared with other work, the fastest call is the one least slowed by it: the
    verdict compares methods by it; the median is kept beside it."""
    from ...bench.runner import time_call

    device = torch.device("cpu")
    _, out = time_call(run, device, before)
    times = [time_call(run, device, before)[0] for _ in range(repeat)]
    return 1e3 * min(times), 1e3 * statistics.median(times), out


def _errors(out: torch.Tensor, reference: torch.Tensor) -> tuple[float, list[float]]:
    """(relative Frobenius error over all heads, the same per head), in float64."""
    diff = out.double() - reference
    norms = (torch.linalg.vector_norm(t, dim=(0, 2, 3)) for t in (diff, reference))
    per_head = torch.div(*norms).tolist()
    return float(diff.norm() / reference.norm()), per_head


def run_verdict(config: VerdictConfig) -> list[dict]:
    """The verdict rows (columns :data:`COLUMNS`) of ``config``, in the order measured."""
    from ... import alibi_attention, lsh_alibi_attention, window_alibi_attention
    from ...attention.lsh.draws import DRAWS_CACHE
    from ...bench.ground_truth import exact_reference
    from ...bench.runner import BenchConfig, make_inputs

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    bench = BenchConfig(
        n_values=(config.n,), heads=config.heads, dim=config.dim, score_std=config.score_std, seed=config.seed
    )
    q, k, v, slopes = make_inputs(bench, config.n)
    reference = exact_reference(q, k, v, slopes, causal=True)
    slope_list = slopes.tolist()
    n, heads = config.n, config.heads
    rows = []

    def record(method, sizing, parameter, label, run, head_keys, before=None):
        time_ms, median_ms, out = _times_ms(run, config.repeat, before)
        error, head_errors = _errors(out, reference)
        rows.append(
            dict(
                method=method,
                sizing=sizing,
                parameter=parameter,
                label=label,
                time_ms=time_ms,
                time_median_ms=median_ms,
                keys_per_query=sum(head_keys) / heads,
                rel_error=error,
                head_keys=head_keys,
                head_errors=head_errors,
            )
        )

    record("exact", "", 0, "exact", lambda: alibi_attention(q, k, v, slopes, causal=True), [(n + 1) / 2] * heads)
    for tail in config.tail_masses:
        widths = tail_mass_windows(slope_list, n, tail)
        record(
            "window",
            "tail mass",
            tail,
            f"window, tail mass {tail:g}",
            lambda w=widths: window_alibi_attention(q, k, v, slopes, w, causal=True),
            [window_keys(n, w) for w in widths],
        )
    for width in config.fixed_windows:
        record(
            "window",
            "fixed w",
            width,
            f"window w = {width}",
            lambda w=width: window_alibi_attention(q, k, v, slopes, w, causal=True),
            [window_keys(n, width)] * heads,
        )
    for samples in config.samples:
        record(
            "lsh",
            "R",
            samples,
            f"blocks R = {samples}",
            lambda r=samples: lsh_alibi_attention(
                q, k, v, slopes, r, causal=True, scheme=config.scheme, seed=config.seed
            ),
            block_union_keys(n, slope_list, samples, config.scheme, config.seed),
            before=DRAWS_CACHE.clear,
        )
    return rows


def save(rows: list[dict], config: VerdictConfig, command: str, path: Path | str) -> Path:
    """Write the rows with the machine, torch version, command and config (one row per line)."""
    from ...bench.runner import machine_description

    head = {
        "schema": SCHEMA,
        "version": VERSION,
        "machine": machine_description("cpu"),
        "torch": torch.__version__,
        "command": command,
        "created": datetime.date.today().isoformat(),
        "config": asdict(config),
    }
    lines = ",\n".join("  " + json.dumps([row[c] for c in COLUMNS]) for row in rows)
    columns = json.dumps(list(COLUMNS))
    text = json.dumps(head, indent=1)[:-2] + f',\n "columns": {columns},\n "rows": [\n{lines}\n ]\n}}\n'
    path = Path(path)
    path.write_text(text)
    return path


def _number_list(kind):
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part) for part in text.split(","))
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from error

    return parse


def build_parser() -> argparse.ArgumentParser:
    from ...cli_args import bounded_int, int_list, output_file

    defaults = VerdictConfig()
    parser = argparse.ArgumentParser(
        prog="python -m alibi_lsh.app.data.verdict_bench",
        description="Error, time and keys per query of windows and random blocks at one n (the tour's verdict).",
    )
    parser.add_argument(
        "--n", type=bounded_int(2, 65536), default=defaults.n, help=f"context length, 2..65536 (default {defaults.n})"
    )
    parser.add_argument(
        "--tail-masses",
        type=_number_list(float),
        default=defaults.tail_masses,
        help="kernel tail masses in (0, 1) of the per-head windows, comma-separated",
    )
    parser.add_argument(
        "--fixed-windows",
        type=int_list(1, 65536),
        default=defaults.fixed_windows,
        help="widths of the one-width windows, comma-separated, each 1..n",
    )
    parser.add_argument(
        "--samples",
        type=int_list(1, 4096),
        default=defaults.samples,
        help="R values of the blocks, comma-separated, each 1..4096",
    )
    parser.add_argument("--scheme", default=defaults.scheme, help="block scheme (default binning)")
    parser.add_argument("--score-std", type=float, default=defaults.score_std, help="std of the scores, (0, 100]")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of q, k, v and the blocks")
    parser.add_argument(
        "--repeat", type=bounded_int(1, 100), default=defaults.repeat, help="timed calls after the warm-up, 1..100"
    )
    parser.add_argument(
        "--threads", type=bounded_int(1, 1024), default=defaults.threads, help="torch threads (default 1)"
    )
    parser.add_argument(
        "--out", type=output_file, required=True, help="the JSON file to write (.json; an existing file needs --force)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ...cli_args import run_command

    argv = list(sys.argv[1:] if argv is None else argv)

    def run(args: argparse.Namespace) -> None:
        out = Path(args.out)
        if out.suffix != ".json":
            raise ValueError(f"--out must name a .json file, got {args.out!r}")
        if out.exists() and not args.force:
            raise ValueError(f"--out {args.out} exists; pass --force to overwrite it")
        config = VerdictConfig(
            n=args.n,
            score_std=args.score_std,
            tail_masses=args.tail_masses,
            fixed_windows=args.fixed_windows,
            samples=args.samples,
            scheme=args.scheme,
            seed=args.seed,
            repeat=args.repeat,
            threads=args.threads,
        )
        rows = run_verdict(config)
        command = "python -m alibi_lsh.app.data.verdict_bench " + shlex.join(argv)
        print(f"wrote {save(rows, config, command, out)} ({len(rows)} rows)")
        for row in rows:
            print(
                f"{row['label']:>26}  {row['time_ms']:8.1f} ms  {row['keys_per_query']:7.1f} keys  "
                f"error {row['rel_error']:.3g}"
            )

    return run_command(build_parser(), argv, run)


if __name__ == "__main__":
    sys.exit(main())
