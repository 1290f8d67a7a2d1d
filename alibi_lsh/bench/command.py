"""``python -m alibi_lsh bench``: time, memory and error of exact, window and LSH ALiBi attention.

Prints the machine, the measured matmul throughput, a table and the fitted log-log slopes;
writes a CSV (``--out``) and PNG/SVG charts (``--charts``). ``--mode decode`` and ``--mode
training`` measure a decoding step and a training step instead (:mod:`alibi_lsh.bench.steps`).
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd
import torch

from ..cli_args import bounded_int, int_list, make_output_dir, name_list, output_dir, output_file, positive_float, seed
from ..samplers import SCHEMES
from .methods import METHODS
from .runner import DTYPES, QKV_SOURCES, BenchConfig, _meminfo, _size, fit_loglog_slopes, run_benchmark
from .steps import StepConfig, run_steps

MAX_N = 2**20  # the largest context length BenchConfig accepts

# Options of the forward sweep alone, with their defaults. Their parser default is None, so that an
# option the user gave can be told from one left out: --mode decode and training refuse them
# instead of silently ignoring them.
FORWARD_DEFAULTS = {
    "methods": METHODS, "causal": True, "qkv": "random", "score_std": 2.0, "max_dense_gib": 10.0,
    "max_call_s": 120.0, "charts": None, "pareto_n": None, "fit_min_n": 2048,
}  # fmt: skip

# Bytes per element of one (B, H, n, d) tensor that each mode holds before and while it measures,
# all float32 unless said: forward: q, k, v, one method's output, and the float64 reference's
# copies of q, k, v and its output (4 * 4 + 4 * 8); training: q, k, v, the output gradient, the
# output and dq, dk, dv (8 * 4). Decode holds k, v of n keys and q of one row (see input_bytes).
_BYTES_PER_ELEMENT = {"forward": 48, "training": 32, "decode": 8}


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bench", help="benchmark exact, window and LSH ALiBi attention (time, memory, error)",
        description="Every method on the same q, k, v; errors against an exact float64 reference.",
    )  # fmt: skip
    lengths = int_list(2, MAX_N)
    parser.add_argument(
        "--n",
        type=lengths,
        default=(512, 1024, 2048, 4096),
        help=f"context lengths, comma-separated, each 2..{MAX_N} (default 512,1024,2048,4096)",
    )
    parser.add_argument(
        "--samples",
        type=int_list(1, 4096),
        default=(1, 4, 16, 64),
        help="R values of lsh, comma-separated, each 1..4096 (default 1,4,16,64)",
    )
    parser.add_argument(
        "--schemes",
        type=name_list(SCHEMES),
        default=("binning",),
        help=f"lsh schemes, comma-separated, from {','.join(SCHEMES)} (default binning)",
    )
    parser.add_argument(
        "--methods",
        type=name_list(METHODS),
        default=None,
        help=f"methods, comma-separated, from {','.join(METHODS)} (default all; forward mode only)",
    )
    parser.add_argument("--heads", type=bounded_int(1, 256), default=8, help="heads H, 1..256 (standard ALiBi slopes)")
    parser.add_argument("--dim", type=bounded_int(1, 1024), default=64, help="head dimension d, 1..1024")
    parser.add_argument("--batch", type=bounded_int(1, 64), default=1, help="batch size B, 1..64")
    causal = parser.add_mutually_exclusive_group()
    causal.add_argument("--causal", dest="causal", action="store_true", default=None, help="causal attention (default)")
    causal.add_argument(
        "--bidirectional", dest="causal", action="store_false", help="attend both ways (forward mode only)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    parser.add_argument(
        "--repeat", type=bounded_int(1, 100), default=3, help="timed calls after the warm-up, 1..100 (median reported)"
    )
    parser.add_argument("--seed", type=seed, default=0, help="random seed, 0..2^63 - 1")
    parser.add_argument(
        "--qkv", choices=QKV_SOURCES, default=None, help="random q, k, v (default) or the trained model's"
    )
    parser.add_argument(
        "--score-std",
        type=positive_float(100.0),
        default=None,
        help="std of the random scores q.k/sqrt(d), in (0, 100] (default 2)",
    )
    parser.add_argument(
        "--max-dense-gib",
        type=positive_float(4096.0),
        default=None,
        help="largest dense bias to allocate, GiB in (0, 4096] (default 10)",
    )
    parser.add_argument(
        "--max-input-gib",
        type=positive_float(4096.0),
        default=None,
        help="largest q, k, v (with the reference, cache or gradients) to allocate, GiB in (0, 4096] "
        "(default: half the RAM, or half the GPU memory with --device cuda)",
    )
    parser.add_argument(
        "--max-call-s",
        type=positive_float(86400.0),
        default=None,
        help="skip calls predicted to take longer, seconds in (0, 86400] (default 120)",
    )
    parser.add_argument(
        "--threads", type=bounded_int(1, 1024), default=None, help="torch intra-op threads, 1..1024 (default: torch's)"
    )
    parser.add_argument(
        "--out", type=output_file, default=None, help="CSV file to write (its directory must exist; default: none)"
    )
    parser.add_argument(
        "--charts",
        type=output_dir,
        default=None,
        help="directory for time/error/pareto charts, PNG and SVG (created; default: none)",
    )
    parser.add_argument(
        "--pareto-n",
        type=bounded_int(2, MAX_N),
        default=None,
        help="n of the error-vs-time chart, one of --n (default: the largest measured)",
    )
    parser.add_argument(
        "--fit-min-n",
        type=bounded_int(2, MAX_N),
        default=None,
        help=f"smallest n of the log-log slope fit, 2..{MAX_N} (default 2048)",
    )
    parser.add_argument(
        "--mode",
        choices=("forward", "decode", "training"),
        default="forward",
        help="forward: the sweep above (default); decode: one step (n_q = 1) against a cache of each "
        "--n keys; training: forward + backward at each --n (exact, window, lsh); "
        "--methods, --bidirectional, --qkv, --score-std, --max-dense-gib, --max-call-s, --charts, "
        "--pareto-n and --fit-min-n apply to forward only",
    )
    parser.set_defaults(run=run)


def _forward_option(args: argparse.Namespace, name: str):
    """The value of a forward-only option: the one given, else its default."""
    value = getattr(args, name, None)
    return FORWARD_DEFAULTS[name] if value is None else value


def refuse_forward_options(args: argparse.Namespace) -> None:
    """--mode decode and training: a forward-only option the user gave is an error, not ignored."""
    for name in FORWARD_DEFAULTS:
        value = getattr(args, name, None)
        if value is True and name == "causal":
            continue  # decoding and training steps are causal: --causal says what they do
        if value is not None:
            flag = "--bidirectional" if value is False else "--" + name.replace("_", "-")
            raise ValueError(
                f"{flag} does not apply to --mode {args.mode} (it sets the forward sweep only; "
                f"--mode {args.mode} measures exact, window and lsh)"
            )


def _memory_cap(args: argparse.Namespace) -> tuple[float, str]:
    """(bytes, description) of the input memory cap: --max-input-gib, else half the device's memory."""
    if args.max_input_gib is not None:
        return args.max_input_gib * 2**30, f"--max-input-gib = {args.max_input_gib:g} GiB"
    if args.device == "cuda" and torch.cuda.is_available():
        total, what = torch.cuda.get_device_properties(0).total_memory, "GPU memory"
    else:
        total, what = _meminfo("MemTotal") or 32 * 2**30, "RAM"
    return total / 2, f"half of this machine's {_size(total)} {what} (raise it with --max-input-gib)"


def input_bytes(mode: str, n: int, batch: int, heads: int, dim: int) -> int:
    """Bytes a ``mode`` run holds for its inputs (and reference, cache or gradients) at length n."""
    rows = 2 * n + 1 if mode == "decode" else n  # decode: k, v of n keys and q of one row, float32
    per_row = 4 if mode == "decode" else _BYTES_PER_ELEMENT[mode]
    return batch * heads * rows * dim * per_row


def check_input_memory(args: argparse.Namespace) -> None:
    """Refuse, before anything is allocated, sizes whose q, k, v exceed the memory cap (a ValueError
    naming the arguments), instead of a failed allocation deep in the run."""
    heads, dim = args.heads, args.dim
    if args.mode == "forward" and _forward_option(args, "qkv") == "lm":
        from ..lm.config import ModelConfig  # the trained model's own H and d

        heads, dim = ModelConfig().n_head, ModelConfig().head_dim
    n = max(args.n)
    need = input_bytes(args.mode, n, args.batch, heads, dim)
    cap, cap_text = _memory_cap(args)
    if need > cap:
        raise ValueError(
            f"--n {n} with --batch {args.batch} --heads {heads} --dim {dim} needs {_size(need)} for q, k, v "
            f"(with the reference, cache or gradients of --mode {args.mode}), above {cap_text}; "
            "use a smaller --n, --batch, --heads or --dim"
        )


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The forward sweep's config; forward-only options left out take their defaults."""
    return BenchConfig(
        n_values=args.n, samples=args.samples, schemes=args.schemes, methods=_forward_option(args, "methods"),
        heads=args.heads, dim=args.dim, batch=args.batch, causal=_forward_option(args, "causal"),
        device=args.device, dtype=args.dtype, repeat=args.repeat, seed=args.seed, qkv=_forward_option(args, "qkv"),
        score_std=_forward_option(args, "score_std"), max_dense_gib=_forward_option(args, "max_dense_gib"),
        max_call_s=_forward_option(args, "max_call_s"), threads=args.threads,
    )  # fmt: skip


def _progress_bar(total: int):
    """A tqdm bar on stderr, updated by the runner's progress callback."""
    from tqdm import tqdm

    bar = tqdm(total=total, file=sys.stderr, unit="case", dynamic_ncols=True)

    def progress(done: int, total: int, label: str) -> None:
        bar.update(done - bar.n)
        bar.set_postfix_str(label[:60])

    return bar, progress


def format_table(df: pd.DataFrame) -> str:
    """The printed table: one line per (n, method case)."""
    columns = ["n", "label", "time_ms", "time_cached_ms", "floor_ms", "peak_mem_mb", "rel_error", "max_abs_error"]
    shown = df[[*columns, "gflops", "efficiency", "status"]]
    return shown.to_string(
        index=False,
        formatters={
            "time_ms": "{:.1f}".format,
            "time_cached_ms": "{:.1f}".format,
            "floor_ms": "{:.1f}".format,
            "peak_mem_mb": "{:.0f}".format,
            "rel_error": "{:.2e}".format,
            "max_abs_error": "{:.2e}".format,
            "gflops": "{:.1f}".format,
            "efficiency": "{:.0%}".format,
        },  # fmt: skip
        na_rep="-",
    )


def run_model_steps(args: argparse.Namespace) -> int:
    """``--mode decode`` or ``--mode training``: :mod:`alibi_lsh.bench.steps`."""
    config = StepConfig(
        mode=args.mode, n_values=args.n, samples=args.samples, schemes=args.schemes, batch=args.batch,
        heads=args.heads, dim=args.dim, repeat=args.repeat, seed=args.seed, device=args.device, dtype=args.dtype,
        threads=args.threads,
    )  # fmt: skip
    df = run_steps(config)
    print(f"machine: {df.attrs['machine']}")
    print(df.to_string(index=False, float_format="{:.3g}".format, na_rep="-"))
    if args.out:
        df.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.mode != "forward":
        refuse_forward_options(args)
        check_input_memory(args)
        return run_model_steps(args)
    config = config_from_args(args)
    check_input_memory(args)
    fit_min_n = _forward_option(args, "fit_min_n")
    if args.pareto_n is not None and args.pareto_n not in config.n_values:
        raise ValueError(f"--pareto-n must be one of the --n values {list(config.n_values)}, got {args.pareto_n}")
    if args.charts is not None:
        make_output_dir(args.charts, "--charts")  # now, not after a long sweep
    started = time.time()
    bar, progress = _progress_bar(len(set(config.n_values)) * len(config.cases()))
    try:
        df = run_benchmark(config, progress)
    finally:
        bar.close()
    print(f"machine: {df.attrs['machine']}")
    print(f"fp32 matmul (4096^3): {df.attrs['matmul_gflops']:.1f} GFLOP/s; sweep took {time.time() - started:.0f} s")
    print(format_table(df))
    slopes = fit_loglog_slopes(df, n_min=fit_min_n)
    if not slopes.empty:
        print(f"\nlog-log slope of time against n (n >= {fit_min_n}):")
        print(slopes.to_string(index=False, float_format="{:.2f}".format))
    if args.out:
        df.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    if args.charts:
        from .charts import save_all

        for path in save_all(df, args.charts, args.pareto_n):
            print(f"wrote {path}")
    return 0
