"""Exact ALiBi attention, the reference.

It takes q, k, v shaped (B, H, n, d) as torch's ``scaled_dot_product_attention`` does and return
(B, H, n, d_v) in the dtype of the inputs, without building an n x n matrix: it walks over chunks
of query rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .._checks import check_head_slopes, check_qkv, default_scale

# Elements of one chunk's bias/score matrix (B * H * rows * n): 2**25 float32 values = 128 MiB.
CHUNK_ELEMENTS = 2**25


def alibi_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    causal: bool = True,
    scale: float | None = None,
) -> torch.Tensor:
    """Exact ALiBi attention softmax(scale q k^T - m|i-j|) v, the reference; (B, H, n, d_v).

    ``slopes`` (H,) are per-head m >= 0. Computed in float32 (float64 stays float64) with torch SDPA
    and a float bias, a chunk of query rows at a time so memory stays O(B H n * rows).
    """
    check_qkv(q, k, v)
    batch, heads, n, head_dim = q.shape
    slopes = check_head_slopes(slopes, heads)
    scale = default_scale(scale, head_dim)
    work_dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
    q_, k_, v_ = (t.to(work_dtype) for t in (q, k, v))
    slopes = slopes.to(device=q.device, dtype=work_dtype)
    out = torch.empty(batch, heads, n, v.shape[-1], dtype=work_dtype, device=q.device)
    rows = max(1, CHUNK_ELEMENTS // (batch * heads * n))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        keys = stop if causal else n  # a causal chunk never looks past its last row
        i = torch.arange(start, stop, device=q.device)
        j = torch.arange(keys, device=q.device)
        offset = (i[:, None] - j[None, :]).to(work_dtype)
        bias = -slopes[:, None, None] * offset.abs()
        if causal:
            bias = bias.masked_fill(offset < 0, -math.inf)
        out[:, :, start:stop] = F.scaled_dot_product_attention(
            q_[:, :, start:stop], k_[:, :, :keys], v_[:, :, :keys], attn_mask=bias, scale=scale
        )
    return out.to(q.dtype)
