"""The entry point of LSH attention: checks, draws, then one branch to the chosen path.

Replacing the kernel K = exp(-m|i-j|) by the mean of R sampled block masks gives (notes, section 3)

    out_i = sum_r exp(l_ri) o_ri / sum_r exp(l_ri),

where o_ri is plain attention of query i over the keys of its block in sample r and l_ri its
log-sum-exp: one softmax over the multiset of (sample, key) pairs. This is exact algebra; the
only approximation is M_hat for K. :mod:`.reference` writes the same estimator densely.

A head with slope 0 has one block holding everything: plain attention (:mod:`..exact`). The other
heads take ``options.lsh_path``: the count-weighted union pass (:mod:`.union`, the fast path) or
the paper's construction, R ordinary block attentions merged by log-sum-exp (:mod:`.per_sample`),
also taken when one head's block bounds would not fit the union pass's memory budget. The tests
hold both paths equal to the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..._checks import (
    check_flag,
    check_head_offset,
    check_head_slopes,
    check_num_samples,
    check_qkv,
    check_values,
    default_scale,
    key_padding_runs,
)
from ..exact import exact_alibi
from ..numerics import attend_with_value_scale, value_scale
from ..options import DEFAULT_OPTIONS, AttentionOptions, check_options
from ..padding import over_real_keys
from .draws import HeadDraw
from .geometry import first_key_read, query_rows
from .per_sample import BlockPlan, PerSampleAttention
from .union import head_groups, union_attention


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
    options: AttentionOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Approximate ALiBi attention: the mean of R random block-diagonal masks in place of exp(-m |i - j|).

    In SDPA's (B, H, n, d) layout.

    out = softmax(scale q k^T + log M_hat) v, M_hat the mean of ``num_samples`` sampled block masks
    per head (the same blocks as :func:`lsh_alibi_attention_reference`). Queries are bottom-right
    aligned: with n_q < n_k they are the last n_q positions (``x`` = visible, causal)::

        n_q = 2, n_k = 5     keys 0 1 2 3 4
        query 0 (position 3)      x x x x .
        query 1 (position 4)      x x x x x

    Args:
        q: (B, H, n_q, d), float16, bfloat16, float32 or float64; finite.
        k: (B, H_kv, n_k, d), q's dtype and device, n_k >= n_q; finite where read.
        v: (B, H_kv, n_k, d_v), q's dtype and device; finite where read.
        slopes: (H,) ALiBi slopes m_h >= 0, finite (a sequence or a CPU or device tensor); 0 = plain attention.
        num_samples: R, partitions per head, an integer in [1, 2^16].
        causal: hide keys after each query (also inside blocks).
        scheme: how partitions are drawn, one of "binning", "cuts", "qmc".
        seed: an int in [0, 2^63 - 1] (the blocks are a function of (seed, global head, sample,
            position), docs/blocks.md), None (one seed drawn from torch's generator) or a
            torch.Generator (one seed drawn from it; refused with head_offset != 0).
        scale: softmax scale > 0, default 1 / sqrt(d).
        key_padding_mask: (B, n_k) bool or 0/1, 1 = real token, one contiguous run per row; a row's
            positions count from its first real token, padded query rows return 0.
        enable_gqa: H a multiple of H_kv; query head h reads kv head h // (H / H_kv).
        head_offset: global index of head 0, an integer in [0, 2^32 - H] (a multiple of H / H_kv
            with GQA): a shard holding heads [a, b) passes slopes[a:b] and head_offset = a.
        options: kernels, path and budgets (:class:`AttentionOptions`); never change the result
            beyond rounding.

    Returns:
        out: (B, H, n_q, d_v) in q's dtype, accumulated in float32 (float64 for float64 inputs);
        differentiable in q, k, v (the gradient of the estimator computed). Only the keys of the
        blocks holding a query are read: a decoding step reads a few keys behind its query.

    Raises:
        ValueError: bad shapes, dtypes, devices, slopes, num_samples, scheme, seed, head_offset,
            scale or mask; NaN or inf among the keys read; scores scale * q.k that could overflow.
    """
    group = check_qkv(q, k, v, enable_gqa)
    causal = check_flag("causal", causal)
    options = check_options(options)
    slopes = check_head_slopes(slopes, q.shape[1])
    num_samples = check_num_samples(num_samples)
    head_offset = check_head_offset(head_offset, group, q.shape[1])
    scale = default_scale(scale, q.shape[-1])
    runs = key_padding_runs(key_padding_mask, q.shape[0], k.shape[2])
    draws = options.draws_cache.get(slopes, num_samples, scheme, seed, head_offset)

    plain = [h for h in range(q.shape[1]) if draws[h].is_plain]  # slope 0: one block, plain attention
    sampled = [h for h in range(q.shape[1]) if not draws[h].is_plain]
    parts = []
    if plain:
        plain_heads = lambda *qkv: plain_attention(*qkv, plain, group, causal, scale, options)  # noqa: E731
        parts.append(over_real_keys(plain_heads, q, k, v, runs, len(plain)))
    if sampled:
        rows = query_rows(q.shape[0], q.shape[2], k.shape[2], runs)
        groups = head_groups(sampled, num_samples, rows, options.union_bounds_elements)
        if options.lsh_path == "union" and groups is not None:
            parts += [union_attention(q, k, v, draws, heads, group, runs, causal, scale, options) for heads in groups]
        else:  # the per-sample path, asked for or because one head's block bounds would not fit in memory
            per_sample = lambda *qkv: per_sample_attention(*qkv, draws, sampled, group, causal, scale, options)  # noqa: E731
            parts.append(over_real_keys(per_sample, q, k, v, runs, len(sampled)))
    out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
    order = plain + sampled
    if order != sorted(order):  # back to the call's head order
        out = out[:, torch.tensor(order).argsort().to(q.device)]
    return out


def plain_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    heads: list[int],
    group: int,
    causal: bool,
    scale: float,
    options: AttentionOptions,
) -> torch.Tensor:
    """Heads with slope 0 (one block holding everything) on unpadded inputs; (B, len(heads), n_q, d_v)."""
    check_values(q, k, v, scale)
    zero = torch.zeros(1, dtype=torch.float64)

    def attend(v: torch.Tensor) -> torch.Tensor:
        kv = [slice(h // group, h // group + 1) for h in heads]
        outputs = [
            exact_alibi(q[:, h : h + 1], k[:, g], v[:, g], zero, causal, scale, 1, options) for h, g in zip(heads, kv)
        ]
        return torch.cat(outputs, dim=1)

    return attend_with_value_scale(attend, v, value_scale(v, k.shape[2]))


def per_sample_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    draws: list[HeadDraw],
    heads: list[int],
    group: int,
    causal: bool,
    scale: float,
    options: AttentionOptions,
) -> torch.Tensor:
    """R block attentions per head merged by log-sum-exp (:mod:`.per_sample`), for the sampled query
    heads ``heads`` on unpadded inputs (positions = key indices); (B, len(heads), n_q, d_v)."""
    batch, _, n_q, head_dim = q.shape
    n_k, value_dim = k.shape[2], v.shape[-1]
    first = min(first_key_read(draws[h], n_q, n_k) for h in heads)
    check_values(q, k[:, :, first:], v[:, :, first:], scale)  # the keys this call reads, no more
    values = value_scale(v[:, :, first:], max(n_k, draws[heads[0]].num_samples))  # blocks, then R merged
    plan = BlockPlan(draws, heads, group, (batch, n_q, n_k, head_dim, value_dim), causal, scale, options)
    return attend_with_value_scale(lambda v: PerSampleAttention.apply(plan, q, k, v), v, values)
