"""The compared methods, each as a small ``prepare`` function returning a zero-argument callable.

``prepare_*(q, k, v, slopes, causal, ...)`` does the one-off work a model would do once and reuse
(building the dense bias, the FlexAttention block mask) and returns ``run() -> (B, H, n, d_v)``.
The runner times ``run`` only, but measures peak memory over ``prepare`` plus the first ``run``,
so the dense bias counts against the memory of dense attention but not against its time.

Methods:

- ``dense``: ``scaled_dot_product_attention`` with a 4-D float bias (1, H, n, n) holding
  -m_h |i - j| and -inf above the diagonal: exact, O(H n^2) memory for the bias alone;
- ``flex``: FlexAttention under ``torch.compile`` with an ALiBi ``score_mod`` and a causal
  ``block_mask``: exact, no n x n tensor, skips the blocks above the diagonal;
- ``window``: ALiBi truncated to |i - j| < w_h with exp(-m_h w_h) < 1e-3 per head;
- ``lsh``: :func:`alibi_lsh.lsh_alibi_attention` for a scheme and a number of samples R.

FLOP counts follow the usual attention convention: 2 d per (query, key) pair for q k^T plus
2 d_v for the weighted sum of v, over the pairs each algorithm actually multiplies (softmax,
bias and masking are not counted).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..attention.lsh.draws import lsh_flops
from ..attention.lsh.entry import lsh_alibi_attention
from ..attention.window import window_alibi_attention

METHODS = ("dense", "flex", "window", "lsh")
# Window attention keeps |i - j| < w with exp(-m w) below this: dropped weights are < 0.1 % of the kernel.
WINDOW_TOLERANCE = 1e-3

Run = Callable[[], torch.Tensor]


@dataclass(frozen=True)
class Case:
    """One benchmarked method: ``method`` in :data:`METHODS`; ``scheme`` and ``samples`` for lsh only."""

    method: str
    scheme: str = ""
    samples: int = 0

    @property
    def label(self) -> str:
        """Short name for tables and chart legends, e.g. 'lsh binning R=16'."""
        return f"lsh {self.scheme} R={self.samples}" if self.method == "lsh" else self.method


# --------------------------------------------------------------------------------------------
# dense: SDPA with a materialised (1, H, n, n) float bias
# --------------------------------------------------------------------------------------------


def dense_bias(slopes: torch.Tensor, n: int, causal: bool, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The ALiBi bias -m_h |i - j| as a (1, H, n, n) tensor; -inf above the diagonal when causal."""
    position = torch.arange(n, device=device)
    distance = (position[:, None] - position[None, :]).to(dtype)
    bias = -slopes.to(device=device, dtype=dtype)[None, :, None, None] * distance.abs()
    if causal:
        bias.masked_fill_(distance < 0, -math.inf)
    return bias


def dense_bytes(heads: int, n: int, dtype: torch.dtype) -> int:
    """Bytes of the dense bias alone: H * n^2 * element size."""
    return heads * n * n * torch.empty(0, dtype=dtype).element_size()


def prepare_dense(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slopes: torch.Tensor, causal: bool) -> Run:
    """Exact ALiBi as one SDPA call with a float bias (the bias is built here, once)."""
    bias = dense_bias(slopes, q.shape[2], causal, q.dtype, q.device)
    return lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


# --------------------------------------------------------------------------------------------
# flex: FlexAttention with an ALiBi score_mod, compiled
# --------------------------------------------------------------------------------------------

_COMPILED_FLEX: Callable | None = None


def _compiled_flex_attention() -> Callable:
    """flex_attention wrapped in torch.compile once per process (each new n recompiles once)."""
    global _COMPILED_FLEX
    if _COMPILED_FLEX is None:
        from torch.nn.attention.flex_attention import flex_attention

        _COMPILED_FLEX = torch.compile(flex_attention, dynamic=False)
    return _COMPILED_FLEX


def prepare_flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slopes: torch.Tensor, causal: bool) -> Run:
    """Exact ALiBi with FlexAttention: the bias is computed inside the kernel from (h, q_idx, kv_idx)."""
    from torch.nn.attention.flex_attention import create_block_mask

    head_slopes = slopes.to(device=q.device, dtype=torch.float32)

    def alibi_score_mod(score, b, h, q_idx, kv_idx):
        return score - head_slopes[h] * (q_idx - kv_idx).abs()

    def causal_mask(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    n = q.shape[2]
    # _compile=True evaluates the mask block by block; the eager helper materialises n x n index
    # grids (about 10 bytes per pair: 10 GiB at n = 32768), which is not the method's cost.
    block_mask = create_block_mask(causal_mask, None, None, n, n, device=q.device, _compile=True) if causal else None
    flex = _compiled_flex_attention()
    return lambda: flex(q, k, v, score_mod=alibi_score_mod, block_mask=block_mask)


# --------------------------------------------------------------------------------------------
# window and lsh
# --------------------------------------------------------------------------------------------


def window_sizes(slopes: torch.Tensor, n: int, tolerance: float = WINDOW_TOLERANCE) -> list[int]:
    """Per-head w_h = the smallest integer with exp(-m_h w_h) < tolerance, capped at n (slope 0: n)."""
    bound = math.log(1.0 / tolerance)
    return [n if m <= 0 else min(n, math.floor(bound / m) + 1) for m in slopes.tolist()]


def prepare_window(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slopes: torch.Tensor, causal: bool) -> Run:
    """ALiBi restricted to the band |i - j| < w_h of :func:`window_sizes`."""
    windows = window_sizes(slopes, q.shape[2])
    return lambda: window_alibi_attention(q, k, v, slopes, windows, causal=causal)


def prepare_lsh(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor,
    causal: bool,
    scheme: str,
    samples: int,
    seed: int,
) -> Run:
    """Approximate ALiBi from R sampled block partitions per head (fixed seed: same blocks each run)."""
    return lambda: lsh_alibi_attention(q, k, v, slopes, samples, causal=causal, scheme=scheme, seed=seed)


def prepare(
    case: Case, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slopes: torch.Tensor, causal: bool, seed: int
) -> Run:
    """The ``run`` callable of ``case`` on these inputs."""
    if case.method == "dense":
        return prepare_dense(q, k, v, slopes, causal)
    if case.method == "flex":
        return prepare_flex(q, k, v, slopes, causal)
    if case.method == "window":
        return prepare_window(q, k, v, slopes, causal)
    if case.method == "lsh":
        return prepare_lsh(q, k, v, slopes, causal, case.scheme, case.samples, seed)
    raise ValueError(f"method must be one of {METHODS}, got {case.method!r}")


# --------------------------------------------------------------------------------------------
# FLOP counts (batch 1; the runner multiplies by B)
# --------------------------------------------------------------------------------------------


def _visible_pairs(n: int, window: int, causal: bool) -> int:
    """Number of (query, key) pairs with |i - j| < window (and j <= i when causal) among n positions."""
    w = min(window, n)
    causal_pairs = w * (w + 1) // 2 + (n - w) * w  # rows i < w see i + 1 keys, later rows see w
    return causal_pairs if causal else 2 * causal_pairs - n


def flop_count(case: Case, n: int, head_dim: int, value_dim: int, slopes: torch.Tensor, causal: bool, seed: int) -> int:
    """Multiply-add FLOPs of one call for batch 1 (see the module docstring for the convention)."""
    heads = len(slopes)
    per_pair = 2 * (head_dim + value_dim)
    if case.method == "dense":  # a float bias hides nothing from the kernel: all n^2 pairs
        return per_pair * heads * n * n
    if case.method == "flex":  # the block mask skips the upper triangle
        return per_pair * heads * _visible_pairs(n, n, causal)
    if case.method == "window":
        return per_pair * sum(_visible_pairs(n, w, causal) for w in window_sizes(slopes, n))
    if case.method == "lsh":
        return lsh_flops(n, head_dim, slopes, case.samples, causal, case.scheme, seed, value_dim)
    raise ValueError(f"method must be one of {METHODS}, got {case.method!r}")
