"""Run the comparison: every method on the same inputs, timed, memory-measured and scored.

``run_benchmark(config, progress)`` returns one row per (n, method case) with the median wall
time after a warm-up, the peak extra memory, the errors against the float64 reference, the FLOP
count, its floor (the time those FLOPs take at this machine's measured fp32 matmul rate) and the
achieved GFLOP/s as a fraction of that rate. LSH is timed twice: ``time_ms`` with the block
draws cache cleared before every call (the draws are part of the work of a call), and
``time_cached_ms`` with it warm, as repeated calls with one integer seed find it.
Nothing is asserted here: a case that cannot run (memory, predicted time, a compiler error) is
recorded with a ``status`` saying why, and the sweep goes on.
"""

from __future__ import annotations

import ctypes
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..attention.lsh.draws import DRAWS_CACHE
from ..samplers import SCHEMES
from ..slopes import alibi_slopes
from .ground_truth import exact_reference, output_errors
from .methods import METHODS, Case, dense_bytes, flop_count, prepare

Progress = Callable[[int, int, str], None]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
QKV_SOURCES = ("random", "lm")
COLUMNS = [
    "method", "scheme", "samples", "n", "label", "time_ms", "time_cached_ms", "floor_ms", "repeats",
    "peak_mem_mb", "rel_error", "max_abs_error", "flops", "gflops", "matmul_gflops", "efficiency", "heads",
    "dim", "batch", "causal", "device", "dtype", "qkv", "status",
]  # fmt: skip


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. Sizes: n_values (context lengths), samples (R of lsh), heads H, dim d.

    ``methods`` is a subset of ("dense", "flex", "window", "lsh"); ``schemes`` of the lsh
    schemes. ``qkv`` "random" draws q, k, v with entries N(0, 1), q scaled so the scores
    q.k/sqrt(d) have standard deviation ``score_std``; "lm" takes them from the trained language
    model (its own H, d and slopes). ``max_dense_gib`` caps the dense bias; a call predicted (from
    the previous n, with the method's complexity) to take more than ``max_call_s`` seconds is
    skipped; a warm-up call longer than ``long_call_s`` seconds is kept as the only measurement.
    ``threads`` sets torch's intra-op threads for the run (None: torch's default). On a shared
    machine one thread per free core avoids threads waiting for a descheduled sibling.
    """

    n_values: tuple[int, ...] = (512, 1024, 2048, 4096)
    samples: tuple[int, ...] = (1, 4, 16, 64)
    schemes: tuple[str, ...] = ("binning",)
    methods: tuple[str, ...] = METHODS
    heads: int = 8
    dim: int = 64
    batch: int = 1
    causal: bool = True
    device: str = "cpu"
    dtype: str = "float32"
    repeat: int = 3
    seed: int = 0
    qkv: str = "random"
    score_std: float = 2.0
    max_dense_gib: float = 10.0
    max_call_s: float = 120.0
    long_call_s: float = 2.0
    lm_layer: int = 0
    measure_matmul: bool = True
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("n_values", "samples", "schemes", "methods"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_ints("n_values", self.n_values, 2, 2**20)
        _check_ints("samples", self.samples, 1, 4096)
        _check_choices("schemes", self.schemes, SCHEMES)
        _check_choices("methods", self.methods, METHODS)
        if "lsh" in self.methods and not self.samples:
            raise ValueError("samples must hold at least one R >= 1 when methods include 'lsh'")
        for name, low, high in (
            ("heads", 1, 256),
            ("dim", 1, 1024),
            ("batch", 1, 64),
            ("repeat", 1, 100),
            ("lm_layer", 0, 64),
        ):
            _check_ints(name, (getattr(self, name),), low, high)
        _check_ints("seed", (self.seed,), 0, 2**63 - 1)
        if self.threads is not None:
            _check_ints("threads", (self.threads,), 1, 1024)
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' asked for, but torch sees no CUDA GPU; use device 'cpu'")
        _check_choices("dtype", (self.dtype,), tuple(DTYPES))
        _check_choices("qkv", (self.qkv,), QKV_SOURCES)
        for name in ("score_std", "max_dense_gib", "max_call_s", "long_call_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")

    def cases(self) -> list[Case]:
        """The method cases of one n, in table order."""
        cases = [Case(method) for method in self.methods if method != "lsh"]
        if "lsh" in self.methods:
            cases += [Case("lsh", scheme, r) for scheme in self.schemes for r in sorted(set(self.samples))]
        return cases


def _check_ints(name: str, values: tuple, low: int, high: int) -> None:
    if not values:
        raise ValueError(f"{name} must hold at least one integer in [{low}, {high}]")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ValueError(f"{name} must be integers in [{low}, {high}], got {value!r}")


def _check_choices(name: str, values: tuple, allowed: tuple) -> None:
    if not values:
        raise ValueError(f"{name} must hold at least one of {allowed}")
    for value in values:
        if value not in allowed:
            raise ValueError(f"{name} must be drawn from {allowed}, got {value!r}")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def make_inputs(config: BenchConfig, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v (B, H, n, d) in the config's dtype and device, and the slopes (H,) float64."""
    dtype, device = DTYPES[config.dtype], torch.device(config.device)
    if config.qkv == "lm":
        try:
            from ..lm.qkv import real_qkv
        except ImportError as error:  # the language-model package is optional for the benchmark
            raise ValueError(f"qkv 'lm' needs alibi_lsh.lm.qkv.real_qkv, which cannot be imported: {error}") from error
        try:
            q, k, v, slopes = real_qkv(n, layer=config.lm_layer, batch=config.batch, seed=config.seed)
        except (FileNotFoundError, OSError) as error:
            raise ValueError(
                f"qkv 'lm' needs the trained language model, which could not be loaded: {error}"
            ) from error
        return (*(t.to(device=device, dtype=dtype) for t in (q, k, v)), torch.as_tensor(slopes, dtype=torch.float64))
    generator = torch.Generator().manual_seed(config.seed + n)
    shape = (config.batch, config.heads, n, config.dim)
    q, k, v = (torch.randn(shape, generator=generator) for _ in range(3))
    q = q * config.score_std  # q.k / sqrt(d) then has standard deviation score_std
    return (*(t.to(device=device, dtype=dtype) for t in (q, k, v)), alibi_slopes(config.heads).double())


# --------------------------------------------------------------------------------------------
# Machine: matmul throughput, memory
# --------------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: str = "cpu", size: int = 4096, repeat: int = 5) -> float:
    """Median fp32 GFLOP/s of a size x size matmul on ``device``: the roofline the efficiency refers to."""
    dev = torch.device(device)
    a, b = (torch.randn(size, size, device=dev) for _ in range(2))
    a @ b
    times = []
    for _ in range(repeat):
        _sync(dev)
        start = time.perf_counter()
        a @ b
        _sync(dev)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def machine_description(device: str = "cpu") -> str:
    """One line naming the processor, core count, memory and torch version."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = _meminfo("MemTotal")
    text = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if memory:
        text += f", {memory / 2**30:.0f} GiB RAM"
    if device == "cuda" and torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def _proc_bytes(path: str, key: str) -> int | None:
    """A 'Key:  <n> kB' entry of a /proc file (meminfo, self/status) in bytes; None where absent."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _meminfo(key: str) -> int | None:
    """A /proc/meminfo entry in bytes (None where there is no /proc)."""
    return _proc_bytes("/proc/meminfo", key)


class PeakMemory:
    """Peak extra memory of a block of code, in bytes.

    CUDA: the allocator's peak statistics. CPU: the process's resident-set high-water mark
    (VmHWM), reset before the block through /proc/self/clear_refs, minus the resident size at
    the start. glibc is told to serve every allocation above 1 MiB with mmap, so freed tensors
    leave the resident set at once and the mark tracks tensor memory closely. ``None`` where
    neither mechanism exists.
    """

    _tuned = False

    def __init__(self, device: torch.device):
        self.device = device
        self.peak: int | None = None

    @classmethod
    def _tune_malloc(cls) -> None:
        if cls._tuned:
            return
        cls._tuned = True
        _mallopt(1 << 20, 128 << 10)  # mmap above 1 MiB, return freed heap tops above 128 KiB

    @staticmethod
    def _status(key: str) -> int | None:
        return _proc_bytes("/proc/self/status", key)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            return self
        self._tune_malloc()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the VmHWM high-water mark to the current RSS
            self._start = self._status("VmRSS")
        except OSError:
            self._start = None
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._start
        elif self._start is not None:
            high = self._status("VmHWM")
            self.peak = None if high is None else max(0, high - self._start)


def _mallopt(mmap_threshold: int, trim_threshold: int) -> None:
    """glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (no-op without glibc), then a trim."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, mmap_threshold)
        libc.mallopt(-1, trim_threshold)
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


class SteadyHeap:
    """Timed calls with a warm heap: freed temporaries up to 64 MiB stay in the process for reuse.

    :class:`PeakMemory` makes every allocation above 1 MiB a fresh mmap, so that freed memory
    leaves the resident set at once; timed that way, every temporary would pay its page faults
    again on each call (about 1.5 us per 4 KiB page on the benchmark machine), which a long-running
    process, whose allocator keeps freed memory, does not. Inside this block glibc keeps freed
    memory below 64 MiB; on leaving, the measuring settings come back and the heap is trimmed.
    Applies on the CPU only (CUDA's caching allocator already reuses memory).
    """

    def __init__(self, device: torch.device):
        self.cpu = device.type == "cpu" and PeakMemory._tuned

    def __enter__(self) -> SteadyHeap:
        if self.cpu:
            _mallopt(64 << 20, 256 << 20)
        return self

    def __exit__(self, *exc) -> None:
        if self.cpu:
            _mallopt(1 << 20, 128 << 10)


# --------------------------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------------------------

# Time exponent in n used to predict a call's time from the previous n (and skip it if too long).
_COMPLEXITY = {"dense": 2.0, "flex": 2.0, "window": 1.0, "lsh": 1.0}


def time_call(run: Callable[[], object], device: torch.device, before: Callable[[], None] | None = None):
    """(seconds, output) of one call of ``run``, after ``before`` (not timed); on CUDA the queued
    work is waited for on both sides, so the seconds are the call's own."""
    if before is not None:
        before()
    _sync(device)
    start = time.perf_counter()
    out = run()
    _sync(device)
    return time.perf_counter() - start, out


def _measure(case: Case, run_inputs: tuple, config: BenchConfig, device: torch.device) -> dict:
    """Time (median of repeats after a warm-up), peak memory and output of one case.

    The warm-up call is the memory measurement (with the draws cache cleared first, so that an
    LSH call pays its draws); the timed calls run in a :class:`SteadyHeap`. LSH is timed with the
    draws cache cleared before each call (``time_s``) and then with it warm (``time_cached_s``).
    """
    q, k, v, slopes = run_inputs
    fresh_draws = DRAWS_CACHE.clear if case.method == "lsh" else None
    with PeakMemory(device) as memory:
        run = prepare(case, q, k, v, slopes, config.causal, config.seed)
        first, out = time_call(run, device, fresh_draws)  # warm-up: compiles (flex), allocates, spins up threads
    # A multi-second call is past every warm-up effect: one timed call is enough.
    repeat = 1 if first > config.long_call_s and case.method != "flex" else config.repeat
    result = {"peak": memory.peak, "out": out, "time_cached_s": None}
    with SteadyHeap(device):
        for key, before in (("time_s", fresh_draws), ("time_cached_s", None)):
            if key == "time_cached_s" and case.method != "lsh":
                break
            times = []
            for _ in range(repeat):
                seconds, result["out"] = time_call(run, device, before)
                times.append(seconds)
                if seconds > config.long_call_s:
                    break  # long calls: one timed call after the warm-up is enough
            result[key] = statistics.median(times)
            result["repeats"] = len(times)
    del run
    return result


def run_benchmark(config: BenchConfig, progress: Progress | None = None) -> pd.DataFrame:
    """Measure every case of ``config`` at every n; one row per (n, case), columns :data:`COLUMNS`.

    ``progress(done, total, label)`` is called after each measurement. The frame's ``attrs``
    hold the machine description, the measured matmul GFLOP/s and the config.
    """
    previous_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _run(config, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _run(config: BenchConfig, progress: Progress | None) -> pd.DataFrame:
    device = torch.device(config.device)
    peak_gflops = matmul_gflops(config.device) if config.measure_matmul else float("nan")
    cases = config.cases()
    n_values = sorted(set(config.n_values))
    total = len(n_values) * len(cases)
    rows: list[dict] = []
    last_time: dict[str, tuple[int, float]] = {}
    done = 0
    for n in n_values:
        q, k, v, slopes = make_inputs(config, n)
        batch, heads, _, dim = q.shape
        reference = _reference_all_cores(q, k, v, slopes, config.causal)
        for case in cases:
            row = {
                "method": case.method, "scheme": case.scheme, "samples": case.samples, "n": n, "label": case.label,
                "heads": heads, "dim": dim, "batch": batch, "causal": config.causal, "device": config.device,
                "dtype": config.dtype, "qkv": config.qkv, "matmul_gflops": peak_gflops,
            }  # fmt: skip
            status = _skip_reason(case, n, heads, config, last_time)
            if status is None:
                try:
                    result = _measure(case, (q, k, v, slopes), config, device)
                except (RuntimeError, MemoryError, ImportError, AssertionError) as error:  # record, go on
                    status = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
                else:
                    status = "ok"
                    flops = batch * flop_count(case, n, dim, v.shape[-1], slopes, config.causal, config.seed)
                    rel, max_abs = output_errors(result["out"], reference)
                    row.update(
                        time_ms=1e3 * result["time_s"], repeats=result["repeats"],
                        time_cached_ms=None if result["time_cached_s"] is None else 1e3 * result["time_cached_s"],
                        floor_ms=1e3 * flops / (peak_gflops * 1e9),
                        peak_mem_mb=None if result["peak"] is None else result["peak"] / 2**20,
                        rel_error=rel, max_abs_error=max_abs, flops=flops,
                        gflops=flops / result["time_s"] / 1e9,
                        efficiency=flops / result["time_s"] / 1e9 / peak_gflops,
                    )  # fmt: skip
                    last_time[case.label] = (n, result["time_s"])
                    del result
            row["status"] = status
            rows.append(row)
            done += 1
            if progress is not None:
                progress(done, total, f"n={n} {case.label}: {status}")
        del q, k, v, reference
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    frame.attrs.update(machine=machine_description(config.device), matmul_gflops=peak_gflops, config=repr(config))
    return frame


def _size(num_bytes: float) -> str:
    """Bytes as a short human string: '8.6 GiB', '512 MiB', '32 KiB'."""
    for unit, power in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if num_bytes >= 2**power:
            return f"{num_bytes / 2**power:.3g} {unit}"
    return f"{num_bytes:.0f} B"


def _reference_all_cores(q, k, v, slopes, causal) -> torch.Tensor:
    """The float64 reference with every core (it is not timed; large matmuls share cores well)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or threads)
    try:
        return exact_reference(q, k, v, slopes, causal)
    finally:
        torch.set_num_threads(threads)


def _skip_reason(case: Case, n: int, heads: int, config: BenchConfig, last_time: dict) -> str | None:
    """Why this case is not run at this n, or None: dense memory cap, predicted time cap."""
    if case.method == "dense":
        need = config.batch * dense_bytes(heads, n, DTYPES[config.dtype])
        available = _meminfo("MemAvailable") if config.device == "cpu" else None
        if config.device == "cuda":
            available = torch.cuda.mem_get_info()[0]
        if need > config.max_dense_gib * 2**30:
            return f"skipped: dense bias needs {_size(need)} > max_dense_gib = {config.max_dense_gib:g} GiB"
        if available is not None and need > 0.7 * available:
            return f"skipped: dense bias needs {_size(need)}, {_size(available)} free"
    if case.label in last_time:
        previous_n, previous_s = last_time[case.label]
        predicted = previous_s * (n / previous_n) ** _COMPLEXITY[case.method]
        if predicted > config.max_call_s:
            return f"skipped: predicted {predicted:.0f} s per call > max_call_s = {config.max_call_s:g}"
    return None


# --------------------------------------------------------------------------------------------
# Scaling fit
# --------------------------------------------------------------------------------------------


def fit_loglog_slopes(df: pd.DataFrame, n_min: int = 0, n_max: int | None = None) -> pd.DataFrame:
    """Least-squares slope of log(time) against log(n) per (method, scheme, samples).

    Uses the rows with status "ok" and n in [n_min, n_max]; a case with fewer than two such n
    gets slope NaN. Columns: method, scheme, samples, slope, n_min, n_max, points.
    """
    ok = df[(df["status"] == "ok") & (df["n"] >= n_min)]
    if n_max is not None:
        ok = ok[ok["n"] <= n_max]
    out = []
    for (method, scheme, samples), group in ok.groupby(["method", "scheme", "samples"], sort=False):
        group = group.sort_values("n")
        slope = float("nan")
        if group["n"].nunique() >= 2:
            slope = float(
                np.polyfit(np.log(group["n"].to_numpy(float)), np.log(group["time_ms"].to_numpy(float)), 1)[0]
            )
        out.append({
            "method": method, "scheme": scheme, "samples": samples, "slope": slope,
            "n_min": int(group["n"].min()), "n_max": int(group["n"].max()), "points": int(group["n"].nunique()),
        })  # fmt: skip
    return pd.DataFrame(out, columns=["method", "scheme", "samples", "slope", "n_min", "n_max", "points"])
