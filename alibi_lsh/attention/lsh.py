"""ALiBi attention approximated by R ordinary attentions inside random short blocks.

Replacing the kernel K = exp(-m|i-j|) by the mean of R sampled block masks gives (notes, section 3)

    out_i = sum_r exp(l_ri) o_ri / sum_r exp(l_ri),

where o_ri is plain attention of query i over the keys of its block in sample r and l_ri its
log-sum-exp: one softmax over the multiset of (sample, key) pairs. This is exact algebra; the
only approximation is M_hat for K. Cost per sample is about n * W * d instead of n^2 * d.
:func:`lsh_alibi_attention_reference` (in :mod:`.reference`) writes the same estimator densely.

Each head takes one of three paths, all differentiable in q, k, v:

- slope 0: one block holding everything, i.e. exact attention without bias (:mod:`.exact`);
- narrow heads (every sampled block <= BAND_MAX_WIDTH), where R calls over tiny blocks are
  overhead-bound, when a cost model says so: the band path (:mod:`.band`), one banded attention
  with log M_hat as the bias, cost independent of R;
- the others: the per-sample block path (:mod:`.blocks`), fused calls on zero-copy views or
  gathered tiles of the blocks, merged by an online log-sum-exp (:mod:`.merge`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._checks import (
    check_head_offset,
    check_head_slopes,
    check_int,
    check_qkv,
    check_values,
    default_scale,
    key_padding_runs,
)
from .band import band_attention, band_is_cheaper
from .blocks import BlockPlan, PerSampleAttention, first_key_read
from .draws import HeadDraw, attention_draws
from .exact import exact_alibi
from .padding import over_real_keys


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
    *,
    key_padding_mask: torch.Tensor | None = None,
    enable_gqa: bool = False,
    head_offset: int = 0,
) -> torch.Tensor:
    """Approximate ALiBi attention from ``num_samples`` (R) random block partitions per head.

    SDPA's (B, H, n, d) layout: q (B, H, n_q, d), k (B, H_kv, n_k, d), v (B, H_kv, n_k, d_v), n_q <=
    n_k, queries bottom-right aligned (the last n_q positions); ``slopes`` (H,) per query head,
    m >= 0. Each head draws R partitions (``scheme``: "binning", "cuts" or "qmc"), runs ordinary
    attention inside each block (causal inside blocks when ``causal``) and merges the R results
    with log-sum-exp weights; a head with slope 0 is plain attention. ``enable_gqa`` and
    ``key_padding_mask`` as in :func:`alibi_attention`: with padding, a row's positions (and so its
    blocks) count from its first real token, so a left-padded row gives what the sequence gives
    alone.

    The blocks are a documented function of (seed, global head, sample, position) (docs/blocks.md):
    head h of this call is global head ``head_offset + h`` (with ``enable_gqa`` a multiple of
    H / H_kv), so a shard holding heads [a, b) with ``slopes[a:b]`` and ``head_offset=a``
    reproduces those heads of the full call, and decoding token by token reproduces the rows of
    one full call. ``seed``: an int in [0, 2^63 - 1] (these guarantees; draws cached per seed,
    head_offset, slopes, R and scheme), None (one seed drawn per call from torch's generator) or a
    torch.Generator (one seed drawn from it per call; refused with ``head_offset`` != 0).

    Computed in float64 for float64 inputs, else accumulated in float32; returns (B, H, n_q, d_v)
    in q's dtype. Memory O(B H n (d + W)) per sample chunk, never n x n; a decoding step reads
    only the keys of the blocks that hold its query. Differentiable in q, k, v: the gradient is
    that of the estimator computed. Raises ValueError for bad arguments, non-finite inputs or
    scores that would overflow.
    """
    group = check_qkv(q, k, v, enable_gqa)
    slopes = check_head_slopes(slopes, q.shape[1])
    num_samples = check_int("num_samples", num_samples)
    scale = default_scale(scale, q.shape[-1])
    runs = key_padding_runs(key_padding_mask, q.shape[0], k.shape[2])
    head_offset = check_head_offset(head_offset, group)
    draws = attention_draws(slopes, num_samples, scheme, seed, head_offset)

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return lsh_estimate(q, k, v, draws, group, causal, scale)

    return over_real_keys(attend, q, k, v, runs)


def lsh_estimate(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, draws: list[HeadDraw], group: int, causal: bool, scale: float
) -> torch.Tensor:
    """The estimator on unpadded inputs (positions = key indices), each head on its path; (B, H, n_q, d_v)."""
    batch, heads, n_q, head_dim = q.shape
    n_k, value_dim = k.shape[2], v.shape[-1]
    band_heads, block_heads, first = {}, [], n_k - n_q
    for h in range(heads):
        cheaper, band = band_is_cheaper(draws[h], n_q, n_k, causal)
        if draws[h].is_plain:
            first = 0
        elif cheaper:
            band_heads[h] = band
            first = min(first, max(0, n_k - n_q - band + 1))
        else:
            block_heads.append(h)
            first = min(first, first_key_read(draws[h], n_q, n_k))
    check_values(q, k[:, :, first:], v[:, :, first:], scale)  # the keys this call reads, no more

    out = q.new_empty(batch, heads, n_q, value_dim)
    for h in range(heads):
        kv = h // group
        if draws[h].is_plain:  # one block holding everything: plain attention
            zero = torch.zeros(1, dtype=torch.float64)
            out[:, h : h + 1] = exact_alibi(
                q[:, h : h + 1], k[:, kv : kv + 1], v[:, kv : kv + 1], zero, causal, scale, 1
            )
        elif h in band_heads:  # narrow heads: all samples in one banded pass
            out[:, h] = band_attention(q[:, h], k[:, kv], v[:, kv], draws[h], band_heads[h], causal, scale)
    if block_heads:
        plan = BlockPlan(draws, block_heads, group, (batch, n_q, n_k, head_dim, value_dim), causal, scale)
        out[:, block_heads] = PerSampleAttention.apply(plan, q, k, v)
    return out
