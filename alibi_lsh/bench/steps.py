"""Attention as a model runs it: one decoding step against a key-value cache, and one training step.

- ``decode``: q (B, H, 1, d) against a cache k, v (B, H, n_k, d) for each n_k: exact ALiBi
  (:func:`alibi_attention`), the truncated window (w_h with exp(-m_h w_h) < 1e-3) and LSH with R
  samples and a fixed integer seed (so its block draws are cached across steps, as in a model).
  The error column is the relative error against the exact step.
- ``training``: forward and backward of q, k, v (B, H, n, d) for each n, with the peak extra
  memory of the forward alone (no autograd) and of the training step, so their ratio says what
  training costs in memory. The step is the attention's own: the forward with autograd, then
  ``out.backward(grad_out)`` with a fixed output gradient (B, H, n, d_v) given, as the layer above
  gives it in a model; like q, k and v it exists before the call and is not counted. The step's
  time and ``step_peak_mb`` measure that. ``loss_step_peak_mb`` measures the earlier definition
  for comparison: the backward of the linear loss sum(out * grad_out), whose product and whose
  gradient of out (two more (B, H, n, d_v) tensors) are allocated inside the step.

Times are medians of ``repeat`` calls after one warm-up. Peak memory (training only) is measured
with :class:`alibi_lsh.bench.runner.PeakMemory` in a fresh process per (method, n, forward, step
or loss step), after a tiny warm-up call of the same kind: in a process that has already run other cases the allocator
reuses freed memory and the resident-set high-water mark understates the peak. Nothing is
asserted: the rows are measurements.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch

from ..attention.exact import alibi_attention
from ..attention.lsh.entry import lsh_alibi_attention
from ..attention.window import window_alibi_attention
from ..samplers import SCHEMES
from ..slopes import alibi_slopes
from .methods import window_sizes
from .runner import DTYPES, PeakMemory, machine_description, time_call

MODES = ("decode", "training")
STEP_METHODS = ("exact", "window", "lsh")
Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class StepConfig:
    """What to measure: ``mode`` in :data:`MODES`; n_values (n_k for decode, n for training); LSH with
    ``samples`` (R) of each scheme in ``schemes``; B, H (standard slopes), d; seed of q, k, v and blocks."""

    mode: str
    n_values: tuple[int, ...]
    samples: tuple[int, ...] = (8,)
    schemes: tuple[str, ...] = ("binning",)
    batch: int = 4
    heads: int = 8
    dim: int = 64
    repeat: int = 5
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    threads: int | None = None
    measure_memory: bool = True  # training: peak memory, three fresh processes per (method, n)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not self.samples or any(r < 1 for r in self.samples):
            raise ValueError(f"samples must be integers >= 1, got {self.samples}")
        if not self.n_values or any(n < 1 for n in self.n_values):
            raise ValueError(f"n_values must be integers >= 1, got {self.n_values}")
        if any(scheme not in SCHEMES for scheme in self.schemes):
            raise ValueError(f"schemes must be among {SCHEMES}, got {self.schemes}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")

    def methods(self, slopes: torch.Tensor, n: int) -> dict[str, Attention]:
        """label -> attention(q, k, v) for exact, window and each LSH scheme."""
        windows = window_sizes(slopes, n)
        methods: dict[str, Attention] = {
            "exact": lambda q, k, v: alibi_attention(q, k, v, slopes),
            "window": lambda q, k, v: window_alibi_attention(q, k, v, slopes, windows),
        }
        for scheme in self.schemes:
            for samples in self.samples:
                methods[f"lsh {scheme} R={samples}"] = lambda q, k, v, s=scheme, r=samples: lsh_alibi_attention(
                    q, k, v, slopes, r, scheme=s, seed=self.seed
                )
        return methods


def _timed(run: Callable[[], object], repeat: int, device: torch.device) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls after one warm-up call, and the last result."""
    result = run()
    times = []
    for _ in range(repeat):
        seconds, result = time_call(run, device)
        times.append(seconds)
    return statistics.median(times), result


def peak_in_this_process(config: dict, n: int, label: str, kind: str) -> float | None:
    """Peak extra MiB of one ``kind`` call of method ``label`` at n: "forward" (no autograd), "step"
    (forward, then backward from a given output gradient) or "loss step" (forward, then backward of
    the linear loss)."""
    config = StepConfig(**{key: tuple(value) if isinstance(value, list) else value for key, value in config.items()})
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = torch.device(config.device)
    slopes = alibi_slopes(config.heads)
    through_loss = kind == "loss step"
    small = _inputs(config, 16, 16, device)
    # Load and warm the kernels and the modules the backward imports on its first call (not memory of the step).
    _training_step(config.methods(slopes, 16)[label], *small, torch.ones_like(small[0]), through_loss=through_loss)
    q, k, v = _inputs(config, n, n, device)
    method = config.methods(slopes, n)[label]
    grad_out = torch.ones(q.shape[:3] + (v.shape[-1],)).to(q)
    with PeakMemory(device) as memory:
        if kind == "forward":
            _forward(method, q, k, v)
        else:
            _training_step(method, q, k, v, grad_out, through_loss=through_loss)
    return None if memory.peak is None else memory.peak / 2**20


def _fresh_process_peak_mb(config: StepConfig, n: int, label: str, kind: str) -> float | None:
    arguments = json.dumps([dataclasses.asdict(config), n, label, kind])
    code = (
        "import json, sys; from alibi_lsh.bench.steps import peak_in_this_process as peak; "
        "print(json.dumps(peak(*json.loads(sys.argv[1]))))"
    )
    result = subprocess.run([sys.executable, "-c", code, arguments], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _inputs(config: StepConfig, n_q: int, n_k: int, device: torch.device):
    generator = torch.Generator().manual_seed(config.seed)
    shape = (config.batch, config.heads)
    q = torch.randn(*shape, n_q, config.dim, generator=generator)
    k, v = (torch.randn(*shape, n_k, config.dim, generator=generator) for _ in range(2))
    dtype = DTYPES[config.dtype]
    return tuple(t.to(device=device, dtype=dtype) for t in (q, k, v))


def _forward(method: Attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return method(q, k, v)


def _training_step(
    method: Attention,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    grad_out: torch.Tensor,
    through_loss: bool = False,
) -> torch.Tensor:
    """Forward with autograd, then backward from the output gradient ``grad_out``; returns dq.

    ``through_loss``: backward of the linear loss sum(out * grad_out) instead (the same gradients,
    plus the loss's product and its gradient of out allocated in the step).
    """
    leaves = [t.detach().requires_grad_(True) for t in (q, k, v)]
    out = method(*leaves)
    if through_loss:
        (out * grad_out).sum().backward()
    else:
        out.backward(grad_out)
    return leaves[0].grad


def run_decode(config: StepConfig) -> list[dict]:
    """One decoding step (n_q = 1) for each n_k: time and error against the exact step."""
    device = torch.device(config.device)
    slopes = alibi_slopes(config.heads)
    rows = []
    for n_k in config.n_values:
        q, k, v = _inputs(config, 1, n_k, device)
        exact = alibi_attention(q, k, v, slopes).double()
        for label, method in config.methods(slopes, n_k).items():
            step = functools.partial(_forward, method, q, k, v)
            seconds, out = _timed(step, config.repeat, device)
            error = ((out.double() - exact).norm() / exact.norm()).item()
            rows.append({"mode": "decode", "method": label, "n": n_k, "time_ms": seconds * 1e3, "rel_error": error})
    return rows


def run_training(config: StepConfig) -> list[dict]:
    """Forward alone and forward + backward for each n: times and peak memory of both."""
    device = torch.device(config.device)
    slopes = alibi_slopes(config.heads)
    rows = []
    for n in config.n_values:
        q, k, v = _inputs(config, n, n, device)
        grad_out = torch.randn(q.shape[:3] + (v.shape[-1],), generator=torch.Generator().manual_seed(1)).to(q)
        for label, method in config.methods(slopes, n).items():
            forward = functools.partial(_forward, method, q, k, v)
            step = functools.partial(_training_step, method, q, k, v, grad_out)
            forward_s, _ = _timed(forward, config.repeat, device)
            step_s, _ = _timed(step, config.repeat, device)
            forward_mb, step_mb, loss_step_mb = (
                _fresh_process_peak_mb(config, n, label, kind) if config.measure_memory else None
                for kind in ("forward", "step", "loss step")
            )
            rows.append(
                {"mode": "training", "method": label, "n": n, "forward_ms": forward_s * 1e3,
                 "step_ms": step_s * 1e3, "forward_peak_mb": forward_mb, "step_peak_mb": step_mb,
                 "memory_ratio": None if not forward_mb or step_mb is None else step_mb / forward_mb,
                 "loss_step_peak_mb": loss_step_mb}
            )  # fmt: skip
    return rows


def run_steps(config: StepConfig) -> pd.DataFrame:
    """The rows of ``config.mode`` as a frame; ``attrs`` hold the machine and the config."""
    previous_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        rows = run_decode(config) if config.mode == "decode" else run_training(config)
        frame = pd.DataFrame(rows)
        frame.attrs.update(machine=machine_description(config.device), config=repr(config))
        return frame
    finally:
        torch.set_num_threads(previous_threads)
