"""The GPU check in one command: ``python -m alibi_lsh.bench.gpu_check --out DIR`` (about 5 minutes).

Made for a GPU machine that has its own CUDA build of torch and no network: besides this package
and the standard library it imports only torch, numpy, pandas and tqdm. Every row is appended to
``DIR/gpu_check.csv`` as soon as it is measured and every step goes to ``DIR/gpu_check.log``, so
whatever finished survives a cut-off. Two stages, within ``--budget-s`` seconds:

1. **smoke** (at most ``--smoke-s``, 60 s): every attention path on the device against float64
   references computed on the CPU: exact, window, LSH by the count-weighted pass and by the
   per-sample blocks (binning, qmc, cuts), causal and bidirectional, a key-value cache (n_q <
   n_k), GQA and key padding, bfloat16, and the gradient of the LSH pass against the dense
   reference estimator's. One row per check (``stage = smoke``) with its error, tolerance and
   ``ok`` or ``FAIL``; the fused-kernel fallbacks that warned are logged.
2. **sweep**: n = 1024 .. 131072 for bfloat16 and float32, H = 8, d = 64, causal: exact ALiBi by
   FlexAttention (``torch.compile`` once, dynamic length; its block mask skips the upper
   triangle), exact by SDPA with a float bias (where the bias fits in ``--max-bias-gib``), the
   window baseline and LSH binning at R = 8 and 64. Median time (LSH with its draws cache cleared
   before each call, and warm), peak memory, TFLOP/s and the error against the float32 output of
   FlexAttention (else SDPA, else the library's exact attention) at the same n (float32 runs
   first). A case predicted to overrun the budget is skipped with its reason.

Charts are drawn afterwards on any machine with the project installed (altair):
``python -m alibi_lsh.bench.gpu_check --charts-from DIR/gpu_check.csv --charts DIR``.
``--device cpu --smoke`` runs every code path at toy sizes (the test suite does, so that the
script cannot rot).
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ..attention.exact import alibi_attention
from ..attention.lsh.draws import DRAWS_CACHE, lsh_flops
from ..attention.lsh.entry import lsh_alibi_attention
from ..attention.lsh.reference import lsh_alibi_attention_reference
from ..attention.options import AttentionOptions
from ..attention.window import window_alibi_attention
from ..slopes import alibi_slopes
from .methods import dense_bias, window_sizes
from .runner import time_call

COLUMNS = [
    "stage", "check", "method", "scheme", "samples", "n", "label", "dtype", "time_ms", "time_cached_ms",
    "peak_mem_mb", "rel_error", "max_abs_error", "tolerance", "flops", "gflops", "tflops", "status", "device",
]  # fmt: skip
SWEEP_N = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
SMOKE_N = (64, 128)
SWEEP_SAMPLES = (8, 64)
# Time exponent in n, to predict a case from the previous n (and skip what would overrun).
COMPLEXITY = {"flex": 2.0, "sdpa": 2.0, "window": 1.0, "lsh": 1.0}


class Recorder:
    """Appends rows to the CSV (header once) and lines to the log, flushing each time."""

    def __init__(self, directory: Path, device: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.csv, self.log_path, self.device = directory / "gpu_check.csv", directory / "gpu_check.log", device
        self.started = time.perf_counter()
        self.failures = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def log(self, line: str) -> None:
        stamp = f"[{self.elapsed():7.1f} s] "
        with open(self.log_path, "a") as f:
            f.write(stamp + line.rstrip() + "\n")

    def row(self, **values) -> None:
        values.setdefault("device", self.device)
        frame = pd.DataFrame([{column: values.get(column) for column in COLUMNS}])
        frame.to_csv(self.csv, mode="a", header=not self.csv.exists(), index=False)
        self.failures += values.get("status", "ok") == "FAIL"
        shown = {k: v for k, v in values.items() if v is not None and k != "device"}
        self.log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))


def _peak_reset(device: torch.device) -> int:
    if device.type != "cuda":
        return 0
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device)


def _peak_mb(device: torch.device, start: int) -> float | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - start) / 2**20


def _relative(out: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    diff = out.detach().double().cpu() - reference.double().cpu()
    return (diff.norm() / reference.double().cpu().norm()).item(), diff.abs().max().item()


# --------------------------------------------------------------------------------------------
# Stage 1: smoke checks against float64 references on the CPU
# --------------------------------------------------------------------------------------------


def _smoke_inputs(batch=2, heads=4, kv_heads=2, n_q=40, n_k=56, dim=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, n_q, dim, generator=generator, dtype=torch.float64)
    k, v = (torch.randn(batch, kv_heads, n_k, dim, generator=generator, dtype=torch.float64) for _ in range(2))
    mask = torch.ones(batch, n_k, dtype=torch.bool)
    mask[0, :5], mask[-1, n_k - 3 :] = False, False  # left padding, right padding
    return q, k, v, mask


def smoke_checks(device: torch.device) -> list[tuple[str, Callable[[], tuple[float, float]], float]]:
    """(name, check returning (relative error, max abs error), tolerance on the relative error)."""
    q, k, v, mask = _smoke_inputs()
    slopes = torch.tensor([0.5, 0.1, 0.0, 0.02], dtype=torch.float64)  # head 2: plain attention
    common = {"enable_gqa": True, "key_padding_mask": mask}

    def on_device(dtype=torch.float32):
        return tuple(t.to(device=device, dtype=dtype) for t in (q, k, v))

    def compare(fast: Callable, reference: Callable, dtype=torch.float32) -> tuple[float, float]:
        return _relative(fast(*on_device(dtype)).float(), reference(q, k, v))

    checks = []
    for causal in (True, False):
        checks.append((
            f"exact causal={causal}",
            lambda causal=causal: compare(*[lambda *x: alibi_attention(*x, slopes, causal, **common)] * 2),
            1e-4,
        ))  # fmt: skip
        checks.append((
            f"window causal={causal}",
            lambda causal=causal: compare(
                lambda *x: window_alibi_attention(*x, slopes, [3, 9, 60, 20], causal, **common),
                lambda *x: window_alibi_attention(*x, slopes, [3, 9, 60, 20], causal, **common),
            ),
            1e-4,
        ))  # fmt: skip
        for scheme in ("binning", "qmc", "cuts"):
            for path in ("union", "per-sample"):
                kwargs = {"causal": causal, "scheme": scheme, "seed": 3, **common}

                def lsh_check(kwargs=kwargs, path=path):
                    return compare(
                        lambda *x: lsh_alibi_attention(
                            *x, slopes, 6, **kwargs, options=AttentionOptions(lsh_path=path)
                        ),
                        lambda *x: lsh_alibi_attention_reference(*x, slopes, 6, **kwargs),
                    )

                checks.append((f"lsh {path} {scheme} causal={causal}", lsh_check, 1e-4))
    kwargs = {"scheme": "binning", "seed": 3, **common}
    checks.append((
        "lsh union bfloat16",
        lambda: compare(
            lambda *x: lsh_alibi_attention(*x, slopes, 6, **kwargs),
            lambda *x: lsh_alibi_attention_reference(*x, slopes, 6, **kwargs),
            torch.bfloat16,
        ),
        3e-2,
    ))  # fmt: skip

    def gradient() -> tuple[float, float]:
        weights = torch.randn(q.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        leaves = [t.detach().clone().requires_grad_(True) for t in on_device()]
        (lsh_alibi_attention(*leaves, slopes, 6, **kwargs) * weights.to(device, torch.float32)).sum().backward()
        exact = [t.detach().clone().requires_grad_(True) for t in (q, k, v)]
        (lsh_alibi_attention_reference(*exact, slopes, 6, **kwargs) * weights).sum().backward()
        errors = [_relative(a.grad.float(), b.grad) for a, b in zip(leaves, exact)]
        return max(e[0] for e in errors), max(e[1] for e in errors)

    checks.append(("lsh union gradient (dq, dk, dv)", gradient, 1e-3))
    return checks


def run_smoke(recorder: Recorder, device: torch.device, limit_s: float) -> None:
    stop = recorder.elapsed() + limit_s
    for name, check, tolerance in smoke_checks(device):
        if recorder.elapsed() > stop:
            recorder.row(stage="smoke", check=name, status="skipped: smoke time limit")
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            try:
                relative, largest = check()
            except Exception as error:  # a check that crashes is a failure, recorded; the run goes on
                recorder.log(traceback.format_exc())
                recorder.row(stage="smoke", check=name, status="FAIL", method=f"{type(error).__name__}: {error}"[:200])
                continue
        for warning in caught:
            recorder.log(f"warning in {name}: {warning.message}")
        status = "ok" if relative <= tolerance else "FAIL"
        recorder.row(
            stage="smoke", check=name, rel_error=relative, max_abs_error=largest, tolerance=tolerance, status=status
        )


# --------------------------------------------------------------------------------------------
# Stage 2: the sweep
# --------------------------------------------------------------------------------------------


class _Flex:
    """FlexAttention with an ALiBi score_mod, compiled once with a dynamic sequence length."""

    def __init__(self, slopes: torch.Tensor):
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        self.slopes, self.create_block_mask = slopes, create_block_mask
        self.compiled = torch.compile(flex_attention, dynamic=True)

    def score_mod(self, score, b, h, q_idx, kv_idx):
        return score - self.slopes[h] * (q_idx - kv_idx).abs()

    @staticmethod
    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    def prepare(self, q, k, v) -> Callable[[], torch.Tensor]:
        n = q.shape[2]
        block_mask = self.create_block_mask(self.causal, None, None, n, n, device=q.device)
        return lambda: self.compiled(q, k, v, score_mod=self.score_mod, block_mask=block_mask)


def _cases(methods: tuple[str, ...], samples: tuple[int, ...]) -> list[tuple[str, int]]:
    return [(m, 0) for m in methods if m != "lsh"] + [("lsh", r) for r in samples if "lsh" in methods]


def _time(run: Callable, device: torch.device, repeat: int, before: Callable | None = None) -> tuple[float, object]:
    """Median seconds of up to ``repeat`` calls (a call over 2 s ends the repeats), and the last output."""
    times, out = [], None
    for _ in range(repeat):
        seconds, out = time_call(run, device, before)
        times.append(seconds)
        if seconds > 2.0:
            break
    return statistics.median(times), out


def run_sweep(recorder: Recorder, args: argparse.Namespace, device: torch.device) -> None:
    heads, dim = args.heads, args.dim
    slopes = alibi_slopes(heads).double()
    flex = None
    last: dict[tuple[str, str, int], tuple[int, float]] = {}
    from tqdm import tqdm

    cases = _cases(args.methods, args.samples)
    total = len(args.n) * len(args.dtypes) * len(cases)
    bar = tqdm(total=total, file=sys.stderr, unit="case", dynamic_ncols=True)
    for n in args.n:
        generator = torch.Generator().manual_seed(n)
        base = [torch.randn(1, heads, n, dim, generator=generator) for _ in range(3)]
        base[0] = base[0] * 2.0  # scores with standard deviation 2, as the CPU benchmark
        reference = None
        for dtype_name in sorted(args.dtypes, key=lambda name: name != "float32"):  # the reference first
            dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name]
            q, k, v = (t.to(device=device, dtype=dtype) for t in base)
            for method, samples in cases:
                bar.update(1)
                label = f"lsh binning R={samples}" if method == "lsh" else method
                row = {"stage": "sweep", "method": method, "scheme": "binning" if method == "lsh" else "",
                       "samples": samples, "n": n, "label": label, "dtype": dtype_name}  # fmt: skip
                reason = _skip_reason(method, n, heads, dtype, args, recorder, last.get((method, dtype_name, samples)))
                if reason:
                    recorder.row(**row, status=reason)
                    continue
                try:
                    if method == "flex" and flex is None:
                        flex = _Flex(slopes.to(device=device, dtype=torch.float32))
                    result = _measure(method, samples, q, k, v, slopes, flex, device, args.repeat)
                except Exception as error:  # out of memory, no compiler, ...: recorded, the sweep goes on
                    recorder.log(traceback.format_exc())
                    recorder.row(**row, status=f"failed: {type(error).__name__}: {str(error).splitlines()[0][:160]}")
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                    continue
                if method in ("flex", "sdpa") and dtype == torch.float32 and reference is None:
                    reference = result["out"].float()
                if reference is None:  # no exact method measured: the library's exact attention, untimed
                    reference = alibi_attention(*(t.float() for t in (q, k, v)), slopes).float()
                rel, largest = _relative(result["out"].float(), reference)
                flops = _flops(method, samples, n, dim, slopes)
                recorder.row(
                    **row, time_ms=1e3 * result["time"], time_cached_ms=result.get("time_cached"),
                    peak_mem_mb=result["peak"], rel_error=rel, max_abs_error=largest, flops=flops,
                    gflops=flops / result["time"] / 1e9, tflops=flops / result["time"] / 1e12, status="ok",
                )  # fmt: skip
                last[(method, dtype_name, samples)] = (n, result["time"])
                del result
    bar.close()


def _skip_reason(method, n, heads, dtype, args, recorder: Recorder, previous) -> str | None:
    if method == "sdpa":
        need = heads * n * n * torch.empty(0, dtype=dtype).element_size()
        if need > args.max_bias_gib * 2**30:
            return f"skipped: the bias needs {need / 2**30:.0f} GiB > --max-bias-gib {args.max_bias_gib:g}"
    left = args.budget_s - recorder.elapsed()
    if previous is not None:
        previous_n, seconds = previous
        predicted = seconds * (n / previous_n) ** COMPLEXITY[method] * (args.repeat + 2)
        if predicted > left:
            return f"skipped: predicted {predicted:.0f} s > {left:.0f} s left of --budget-s"
    elif left < 5:
        return "skipped: --budget-s spent"
    return None


def _measure(method, samples, q, k, v, slopes, flex, device, repeat) -> dict:
    start = _peak_reset(device)
    n = q.shape[2]
    before = None
    if method == "flex":
        run = flex.prepare(q, k, v)
    elif method == "sdpa":
        bias = dense_bias(slopes, n, True, q.dtype, device)
        run = lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    elif method == "window":
        windows = window_sizes(slopes, n)
        run = lambda: window_alibi_attention(q, k, v, slopes, windows)
    else:
        run = lambda: lsh_alibi_attention(q, k, v, slopes, samples, seed=0)
        before = DRAWS_CACHE.clear
    if before is not None:
        before()
    run()  # warm-up: compiles (flex, once per dtype), allocates
    peak = _peak_mb(device, start)
    seconds, out = _time(run, device, repeat, before)
    result = {"time": seconds, "out": out, "peak": peak}
    if method == "lsh":
        result["time_cached"] = 1e3 * _time(run, device, repeat)[0]
    return result


def _flops(method: str, samples: int, n: int, dim: int, slopes: torch.Tensor) -> int:
    """Useful FLOPs (4 d per visible pair; for LSH the causal pairs inside the drawn blocks)."""
    if method == "lsh":
        return lsh_flops(n, dim, slopes, samples, True, "binning", 0)
    if method == "window":
        return sum(4 * dim * (min(w, n) * (min(w, n) + 1) // 2 + (n - min(w, n)) * min(w, n))
                   for w in window_sizes(slopes, n))  # fmt: skip
    pairs = n * (n + 1) // 2 if method == "flex" else n * n  # a float bias hides nothing from SDPA
    return 4 * dim * len(slopes) * pairs


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from ..cli_args import bounded_int, existing_file, int_list, name_list, output_dir, positive_float

    parser = argparse.ArgumentParser(prog="python -m alibi_lsh.bench.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=output_dir, help="directory for gpu_check.csv and gpu_check.log (created; its parent must exist)"
    )
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--smoke", action="store_true", help="toy sizes (n = 64, 128; H = 2; d = 16): checks the paths")
    parser.add_argument(
        "--budget-s",
        type=positive_float(3600.0),
        default=290.0,
        help="seconds for the whole run, in (0, 3600] (default 290)",
    )
    parser.add_argument("--smoke-s", type=positive_float(600.0), default=60.0, help="seconds for stage 1 (default 60)")
    parser.add_argument("--n", type=int_list(16, 2**20), default=None, help="sequence lengths (default 1024 .. 131072)")
    parser.add_argument("--dtypes", type=name_list(("bfloat16", "float32")), default=("bfloat16", "float32"))
    parser.add_argument(
        "--methods",
        type=name_list(("flex", "sdpa", "window", "lsh")),
        default=("flex", "sdpa", "window", "lsh"),
        help="flex, sdpa, window, lsh (default all)",
    )
    parser.add_argument("--samples", type=int_list(1, 4096), default=SWEEP_SAMPLES, help="R of LSH (default 8,64)")
    parser.add_argument("--repeat", type=bounded_int(1, 100), default=3, help="timed calls per case (median)")
    parser.add_argument(
        "--max-bias-gib",
        type=positive_float(4096.0),
        default=40.0,
        help="largest SDPA float bias to allocate, GiB (default 40)",
    )
    parser.add_argument(
        "--charts-from", type=existing_file, default=None, help="draw the charts of this gpu_check.csv instead (CPU)"
    )
    parser.add_argument(
        "--charts", type=output_dir, default=None, help="directory for the charts of --charts-from (created)"
    )
    return parser  # fmt: skip


def draw_charts(csv: Path, directory: Path) -> list[Path]:
    """Time, error and Pareto charts of a gpu_check.csv, one folder per dtype (needs altair)."""
    from ..cli_args import read_csv
    from .charts import save_all

    frame = read_csv(csv, "--charts-from", COLUMNS, "a gpu_check.csv of this command").fillna({"scheme": ""})
    sweep = frame[frame["stage"] == "sweep"]
    paths = []
    for dtype, rows in sweep.groupby("dtype"):
        paths += save_all(rows, Path(directory) / str(dtype))
    return paths


def main(argv: list[str] | None = None) -> int:
    """Run the check (or draw charts); bad input is one ``error:`` line and status 2."""
    from ..cli_args import run_command

    return run_command(build_parser(), argv, lambda args: _run(args, sys.argv[1:] if argv is None else argv))


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    if args.charts_from is not None:
        if args.charts is None:
            print("error: --charts is required with --charts-from", file=sys.stderr)
            return 2
        for path in draw_charts(args.charts_from, args.charts):
            print(f"wrote {path}")
        return 0
    if args.out is None:
        print("error: --out is required (the directory for gpu_check.csv and gpu_check.log)", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: argument --device: cuda asked for, but torch sees no CUDA GPU", file=sys.stderr)
        return 2
    if (args.out / "gpu_check.csv").exists():
        print(f"error: argument --out: {args.out / 'gpu_check.csv'} exists; name a new directory", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    if args.smoke:
        args.heads, args.dim = 2, 16
        args.n = args.n or SMOKE_N
    else:
        args.heads, args.dim = 8, 64
        args.n = args.n or SWEEP_N
    recorder = Recorder(args.out, args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    recorder.log(
        f"gpu_check {datetime.datetime.now().isoformat(timespec='seconds')}: torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}, device {args.device} ({gpu}); argv {argv}"
    )
    run_smoke(recorder, device, args.smoke_s)
    run_sweep(recorder, args, device)
    recorder.log(f"done: {recorder.failures} smoke check(s) failed; rows in {recorder.csv}")
    print(f"wrote {recorder.csv} and {recorder.log_path} ({recorder.failures} failed checks)")
    return 1 if recorder.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
