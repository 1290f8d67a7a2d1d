"""The LSH estimator written densely: the algorithm in ten lines, for tests and the app.

out = softmax(scale q k^T + log M_hat) v, with M_hat the mean of the R sampled block masks: the
same blocks (same seed, same function of (head, sample, position)) as :func:`lsh_alibi_attention`,
so the two agree to rounding. It builds n_k x n_k matrices and so is capped by MAX_DENSE_ELEMENTS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..._checks import (
    check_dense_size,
    check_flag,
    check_head_offset,
    check_head_slopes,
    check_num_samples,
    check_qkv,
    check_values,
    default_scale,
    key_padding_runs,
)
from .draws import sample_head_partitions


def block_mask_mean(
    n: int, slopes: torch.Tensor, num_samples: int, scheme: str, seed: int | torch.Generator | None, head_offset: int
) -> torch.Tensor:
    """M_hat (H, n, n) float64: the fraction of each head's R sampled partitions of positions 0..n-1
    in which i and j share a block (the blocks of :func:`lsh_alibi_attention` for these arguments)."""
    partitions = sample_head_partitions(n, slopes, num_samples, scheme, seed, head_offset)  # [head][sample]
    return torch.stack([sum(p.mask().double() for p in head) / num_samples for head in partitions])


def lsh_alibi_attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    num_samples: int,
    causal: bool = True,
    scheme: str = "binning",
    seed: int | torch.Generator | None = None,
    scale: float | None = None,
    *,
    key_padding_mask: torch.Tensor | None = None,
    enable_gqa: bool = False,
    head_offset: int = 0,
) -> torch.Tensor:
    """The LSH estimator written densely in float64: softmax(scale q k^T + log M_hat) v.

    M_hat is the mean of ``num_samples`` sampled block masks per head, drawn from the same function
    of (seed, global head, sample, position) as :func:`lsh_alibi_attention`, so the two agree to
    rounding. Queries are bottom-right aligned (``x`` = visible, causal)::

        n_q = 2, n_k = 5     keys 0 1 2 3 4
        query 0 (position 3)      x x x x .
        query 1 (position 4)      x x x x x

    Args:
        q, k, v, slopes, num_samples, causal, scheme, seed, scale, key_padding_mask, enable_gqa,
            head_offset: as :func:`lsh_alibi_attention` (shapes (B, H, n_q, d), (B, H_kv, n_k, d),
            (B, H_kv, n_k, d_v), (H,); every key is read, so all must be finite).

    Returns:
        out: (B, H, n_q, d_v) in q's dtype and on q's device (computed in float64 on the CPU).

    Raises:
        ValueError: as :func:`lsh_alibi_attention`, and when the dense work (H + B H) n_k^2 exceeds
            MAX_DENSE_ELEMENTS.
    """
    group = check_qkv(q, k, v, enable_gqa)
    causal = check_flag("causal", causal)
    device, (q, k, v) = q.device, (t.cpu() for t in (q, k, v))
    batch, heads, n_q, _ = q.shape
    n_k = k.shape[2]
    slopes = check_head_slopes(slopes, heads)
    num_samples = check_num_samples(num_samples)
    head_offset = check_head_offset(head_offset, group, heads)
    scale = default_scale(scale, q.shape[-1])
    runs = key_padding_runs(key_padding_mask, batch, n_k)
    check_values(q, k, v, scale)
    check_dense_size(
        "n_k", (heads + batch * heads) * n_k * n_k, f"(H + B H) n_k^2 = ({heads} + {batch * heads}) * {n_k}^2"
    )

    mean_mask = block_mask_mean(n_k, slopes, num_samples, scheme, seed, head_offset)
    out = attention_with_mask_mean(q, k, v, mean_mask, scale, causal, runs)
    return out.to(device=device, dtype=q.dtype)


def attention_with_mask_mean(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mean_mask: torch.Tensor,
    scale: float,
    causal: bool,
    runs: list[tuple[int, int]] | None = None,
) -> torch.Tensor:
    """The estimator's second half: softmax(scale q k^T + log M_hat) v, in float64, head by head.

    Args:
        q: (B, H, n_q, d), the last n_q of the n_k positions; k, v: (B, H_kv, n_k, d / d_v), H_kv | H.
        mean_mask: (H, n_k, n_k) M_hat over positions counted from a row's first real key.
        scale: factor on q.k; causal: keys after the query get no weight.
        runs: [first, end) of each batch row's real keys (None: every key is real).

    Returns:
        out: (B, H, n_q, d_v) float64 on the CPU; queries at padding positions give 0.
    """
    batch, heads, n_q, _ = q.shape
    n_k = k.shape[2]
    group = heads // k.shape[1]
    out = torch.zeros(batch, heads, n_q, v.shape[-1], dtype=torch.float64)
    for b, (first, end) in enumerate(runs or [(0, n_k)] * batch):
        rows = [t for t in range(n_q) if first <= n_k - n_q + t < end]  # queries at real positions
        if not rows:
            continue
        query_pos = torch.tensor(rows) + n_k - n_q - first  # positions count from the first real key
        key_pos = torch.arange(end - first)
        for h in range(heads):  # one n x n matrix at a time
            keys, values = k[b, h // group, first:end].double(), v[b, h // group, first:end].double()
            scores = scale * q[b, h, rows].double() @ keys.T + torch.log(mean_mask[h][query_pos][:, key_pos].double())
            if causal:
                scores = scores.masked_fill(key_pos[None, :] > query_pos[:, None], -math.inf)
            out[b, h, rows] = torch.softmax(scores, dim=-1) @ values
    return out
