"""ALiBi attention approximated by R ordinary attentions inside random short blocks.

Replacing the kernel K = exp(-m|i-j|) by the mean of R sampled block masks gives (notes, section 3)

    out_i = sum_r exp(l_ri) o_ri / sum_r exp(l_ri),

where o_ri is plain (unbiased, un-biased-by-position) attention of query i over the keys of its
block in sample r, and l_ri is that attention's log-sum-exp. This is exact algebra; the only
approximation is M_hat for K. Cost per sample is about n * W * d instead of n^2 * d.

Implementation, chosen by profiling (the first version spent its time building Python partition
objects, gathering blocks into padded tiles and computing softmax by hand):

- the partitions of all heads are drawn as tensors (one width and shift per sample for binning
  and qmc, a cut pattern per sample for cuts), from exactly the random stream of
  :func:`sample_head_partitions`;
- binning/qmc: every block of one (head, sample) has the same width W except the first and the
  last, so the middle blocks are a zero-copy ``view`` of q, k, v as (B, blocks, W, d) and the
  two end blocks are plain slices: three fused attention calls per (head, sample), no gather,
  no padding, no mask;
- cuts: blocks of varying length are gathered into tiles of a few padded widths (8, 12, 16, 24,
  ...), one fused attention call per width class;
- the fused kernel (torch's flash attention on CPU, memory-efficient attention on CUDA) returns
  the log-sum-exp together with the output, so the scores are never recomputed; a plain matmul
  softmax is the fallback where no such kernel exists (e.g. float64 on CUDA);
- samples are processed in chunks and merged with a running (online) log-sum-exp in float32, so
  memory is O(B H n (d + W)), never n x n;
- narrow heads (every sampled block <= BAND_MAX_WIDTH, e.g. slopes 1/2..1/16) are overhead-bound
  as R calls over tiny blocks, so a cost model sends them down a band path instead: the same
  estimator, out_i = sum_j e^{s_ij} M_hat_ij v_j / sum_j e^{s_ij} M_hat_ij, computed once over
  the band |i - j| < max W with log M_hat as an additive mask (M_hat counted from the sampled
  blocks in O(R n)). Identical output up to float rounding (tested), cost independent of R.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .._checks import check_head_slopes, check_int, check_qkv, default_scale
from .band import _band_attention, band_is_cheaper, band_log_weights
from .blocks import _binning_chunk, _cuts_chunk
from .draws import draw_head_blocks

# Elements of the per-chunk output buffer (B * H * R_chunk * n * d_v): 2**25 float32 = 128 MiB.
CHUNK_ELEMENTS = 2**25


def lsh_alibi_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    num_samples: int,
    causal: bool = True,
    scheme: str = "binning",
    seed: int | torch.Generator | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """Approximate ALiBi attention from ``num_samples`` random block partitions per head.

    q, k: (B, H, n, d); v: (B, H, n, d_v); ``slopes`` (H,) per-head m >= 0. Each head draws its
    own R partitions (``scheme``: "binning", "cuts" or "qmc"; ``seed`` int or torch.Generator
    makes them reproducible), runs ordinary attention inside each block (causal inside blocks when
    ``causal``) and combines the R results with log-sum-exp weights. A head with slope 0 is plain
    attention. Accumulates in float32 on the device of q; returns (B, H, n, d_v) in q's dtype.
    Memory O(B H n (d + W)) per sample chunk: no n x n matrix is ever formed.
    """
    check_qkv(q, k, v)
    batch, heads, n, head_dim = q.shape
    value_dim = v.shape[-1]
    slopes = check_head_slopes(slopes, heads)
    num_samples = check_int("num_samples", num_samples)
    scale = default_scale(scale, head_dim)
    draws = draw_head_blocks(n, slopes, num_samples, scheme, seed)
    device = q.device

    out = torch.empty(batch, heads, n, value_dim, dtype=torch.float32, device=device)
    band_heads = {}
    for h in range(heads):
        cheaper, band = band_is_cheaper(draws[h], n, causal)
        if cheaper:
            band_heads[h] = band
    flat_heads = [h for h in range(heads) if not draws[h].is_plain and h not in band_heads]
    plain_heads = [h for h in range(heads) if draws[h].is_plain]
    if plain_heads:  # one block holding everything: ordinary attention, flash kernel, exact
        out[:, plain_heads] = F.scaled_dot_product_attention(
            q[:, plain_heads].float(),
            k[:, plain_heads].float(),
            v[:, plain_heads].float(),
            is_causal=causal,
            scale=scale,
        )
    for h, band in band_heads.items():  # narrow heads: all samples in one banded pass
        log_weights = band_log_weights(draws[h], n, band, causal)
        out[:, h] = _band_attention(q[:, h], k[:, h], v[:, h], log_weights, band, causal, scale)
    if not flat_heads:
        return out.to(q.dtype)

    fill_chunk = _cuts_chunk if scheme == "cuts" else _binning_chunk
    live = len(flat_heads)
    running_max = torch.full((batch, live, n), -math.inf, dtype=torch.float32, device=device)
    running_sum = torch.zeros(batch, live, n, dtype=torch.float32, device=device)
    accumulated = torch.zeros(batch, live, n, value_dim, dtype=torch.float32, device=device)

    chunk = max(1, CHUNK_ELEMENTS // (batch * live * n * value_dim))
    for first in range(0, num_samples, chunk):
        samples = range(first, min(num_samples, first + chunk))
        chunk_lse = torch.empty(batch, live, len(samples), n, dtype=torch.float32, device=device)
        pieces = fill_chunk(q, k, v, draws, flat_heads, samples, chunk_lse, causal, scale)

        # Online log-sum-exp merge of this chunk's samples into the running totals.
        new_max = torch.maximum(running_max, chunk_lse.amax(dim=2))
        decay = torch.exp(running_max - new_max)
        weights = torch.exp(chunk_lse - new_max.unsqueeze(2))  # (B, h, S, n)
        running_sum = running_sum * decay + weights.sum(dim=2)
        accumulated *= decay.unsqueeze(-1)
        for row, slot, start, o in pieces:  # in place, straight from the kernel's outputs
            stop = start + o.shape[1]
            accumulated[:, row, start:stop].addcmul_(weights[:, row, slot, start:stop].unsqueeze(-1), o)
        running_max = new_max

    out[:, flat_heads] = accumulated / running_sum.unsqueeze(-1)
    return out.to(q.dtype)
