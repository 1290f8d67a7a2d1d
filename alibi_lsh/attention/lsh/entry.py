"""ALiBi attention approximated by R ordinary attentions inside random short blocks.

Replacing the kernel K = exp(-m|i-j|) by the mean of R sampled block masks gives (notes, section 3)

    out_i = sum_r exp(l_ri) o_ri / sum_r exp(l_ri),

where o_ri is plain attention of query i over the keys of its block in sample r and l_ri its
log-sum-exp: one softmax over the multiset of (sample, key) pairs. This is exact algebra; the
only approximation is M_hat for K. Cost per sample is about n * W * d instead of n^2 * d.
:func:`lsh_alibi_attention_reference` (in :mod:`.reference`) writes the same estimator densely.

Each head takes one of two paths, both differentiable in q, k, v:

- slope 0: one block holding everything, i.e. exact attention without bias (:mod:`.exact`);
- the others: the count-weighted pass (:mod:`.union`), one softmax per query over the union of
  its sampled blocks with the bias log c_ij, every head, tile and padded batch row of the call
  in a few fused calls, one per width class.

``SAMPLE_PATH = "per-sample"`` selects the readable path instead (:mod:`.blocks`): ordinary
attention inside every block of every sample, merged by an online log-sum-exp (:mod:`.merge`).
It computes the same estimator, and the tests hold the two (and the dense reference) equal.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..._checks import (
    check_head_offset,
    check_head_slopes,
    check_num_samples,
    check_qkv,
    check_values,
    default_scale,
    key_padding_runs,
)
from ..exact import exact_alibi
from ..padding import over_real_keys
from .draws import DRAWS_CACHE, HeadDraw
from .geometry import first_key_read, query_rows
from .per_sample import BlockPlan, PerSampleAttention
from .union import head_groups, union_attention

# "union": the count-weighted pass (the fast path); "per-sample": R block attentions merged.
SAMPLE_PATH = "union"


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
    """Approximate ALiBi attention from ``num_samples`` (R, 1 <= R <= 2^16 = 65536) random block partitions per head.

    SDPA's (B, H, n, d) layout: q (B, H, n_q, d), k (B, H_kv, n_k, d), v (B, H_kv, n_k, d_v), n_q <=
    n_k, queries bottom-right aligned (the last n_q positions); ``slopes`` (H,) per query head,
    m >= 0. Each head draws R partitions (``scheme``: "binning", "cuts" or "qmc"), runs ordinary
    attention inside each block (causal inside blocks when ``causal``) and merges the R results
    with log-sum-exp weights; a head with slope 0 is plain attention. ``enable_gqa`` and
    ``key_padding_mask`` as in :func:`alibi_attention`: with padding, a row's positions (and so its
    blocks) count from its first real token, so a left-padded row gives what the sequence gives
    alone.

    The blocks are a documented function of (seed, global head, sample, position) (docs/blocks.md):
    head h of this call is global head ``head_offset + h`` (``head_offset`` an integer in
    [0, 2^32 - H], as the global heads are 32-bit words; with ``enable_gqa`` a multiple of
    H / H_kv), so a shard holding heads [a, b) with ``slopes[a:b]`` and ``head_offset=a``
    reproduces those heads of the full call, and decoding token by token reproduces the rows of
    one full call. ``seed``: an int in [0, 2^63 - 1] (these guarantees; draws cached per seed,
    head_offset, slopes, R and scheme), None (one seed drawn per call from torch's generator) or a
    torch.Generator (one seed drawn from it per call; refused with ``head_offset`` != 0).

    Computed in float64 for float64 inputs, else accumulated in float32; returns (B, H, n_q, d_v)
    in q's dtype. Time O(B H n U d) for a mean union of U (about H_R / m keys per query, H_R the
    R-th harmonic number); memory O(H n R) for the block bounds plus fused calls of at most 16 MiB
    of bias and gathers, never n x n; a decoding step reads only the keys of the blocks that
    hold its query. Differentiable in q, k, v: the gradient is
    that of the estimator computed. Raises ValueError for bad arguments, non-finite inputs or
    scores that would overflow.
    """
    group = check_qkv(q, k, v, enable_gqa)
    slopes = check_head_slopes(slopes, q.shape[1])
    num_samples = check_num_samples(num_samples)
    head_offset = check_head_offset(head_offset, group, q.shape[1])
    scale = default_scale(scale, q.shape[-1])
    runs = key_padding_runs(key_padding_mask, q.shape[0], k.shape[2])
    draws = DRAWS_CACHE.get(slopes, num_samples, scheme, seed, head_offset)

    plain = [h for h in range(q.shape[1]) if draws[h].is_plain]
    sampled = [h for h in range(q.shape[1]) if not draws[h].is_plain]
    parts = []
    if plain:
        plain_heads = lambda *qkv: plain_attention(*qkv, plain, group, causal, scale)
        parts.append(over_real_keys(plain_heads, q, k, v, runs, len(plain)))
    groups = head_groups(sampled, num_samples, query_rows(q.shape[0], q.shape[2], k.shape[2], runs))
    if sampled and SAMPLE_PATH == "union" and groups is not None:
        parts += [union_attention(q, k, v, draws, heads, group, runs, causal, scale) for heads in groups]
    elif sampled:  # the readable path, or a head whose block bounds would not fit in memory
        per_sample = lambda *qkv: per_sample_attention(*qkv, draws, sampled, group, causal, scale)
        parts.append(over_real_keys(per_sample, q, k, v, runs, len(sampled)))
    out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
    order = plain + sampled
    if order != sorted(order):  # back to the call's head order
        out = out[:, torch.tensor(order).argsort().to(q.device)]
    return out


def plain_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: list[int], group: int, causal: bool, scale: float
) -> torch.Tensor:
    """Heads with slope 0 (one block holding everything) on unpadded inputs; (B, len(heads), n_q, d_v)."""
    check_values(q, k, v, scale)
    zero = torch.zeros(1, dtype=torch.float64)
    outputs = []
    for h in heads:
        kv = slice(h // group, h // group + 1)
        outputs.append(exact_alibi(q[:, h : h + 1], k[:, kv], v[:, kv], zero, causal, scale, 1))
    return torch.cat(outputs, dim=1)


def per_sample_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    draws: list[HeadDraw],
    heads: list[int],
    group: int,
    causal: bool,
    scale: float,
) -> torch.Tensor:
    """The readable path: R block attentions per head merged by log-sum-exp (:mod:`.blocks`), for the
    sampled query heads ``heads`` on unpadded inputs (positions = key indices); (B, len(heads), n_q, d_v)."""
    batch, _, n_q, head_dim = q.shape
    n_k, value_dim = k.shape[2], v.shape[-1]
    first = min(first_key_read(draws[h], n_q, n_k) for h in heads)
    check_values(q, k[:, :, first:], v[:, :, first:], scale)  # the keys this call reads, no more
    plan = BlockPlan(draws, heads, group, (batch, n_q, n_k, head_dim, value_dim), causal, scale)
    return PerSampleAttention.apply(plan, q, k, v)
