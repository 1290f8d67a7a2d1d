"""Exact ALiBi attention, the reference: softmax(scale q k^T - m |i - j|) v, a chunk of query rows at a time.

No n x n matrix: each chunk of query rows builds its (H, rows, keys) bias, runs one fused call
and keeps only the output and its log-sum-exp; the backward pass rebuilds the bias chunk by chunk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._checks import (
    check_flag,
    check_head_slopes,
    check_qkv,
    check_values,
    compute_dtype,
    default_scale,
    key_padding_runs,
)
from .fused import attention_backward, attention_forward
from .numerics import attend_with_value_scale, value_scale
from .options import DEFAULT_OPTIONS, AttentionOptions, check_options
from .padding import over_real_keys


def alibi_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    causal: bool = True,
    scale: float | None = None,
    *,
    key_padding_mask: torch.Tensor | None = None,
    enable_gqa: bool = False,
    options: AttentionOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Exact ALiBi attention (Press et al., 2022): softmax(scale q k^T - m |i - j|) v, never n x n at once.

    In SDPA's (B, H, n, d) layout.

    Positions are absolute: queries are bottom-right aligned, the last n_q of the n_k positions, so
    a decoding step (n_q = 1) or a chunked prefill runs against a key-value cache (``x`` = visible,
    causal; FlashAttention >= 2.1's alignment)::

        n_q = 2, n_k = 5     keys 0 1 2 3 4
        query 0 (position 3)      x x x x .
        query 1 (position 4)      x x x x x

    Args:
        q: (B, H, n_q, d), float16, bfloat16, float32 or float64; finite.
        k: (B, H_kv, n_k, d), q's dtype and device, n_k >= n_q; finite.
        v: (B, H_kv, n_k, d_v), q's dtype and device; finite.
        slopes: (H,) ALiBi slopes m_h >= 0, finite, one per query head (the bias is -m_h |i - j|).
        causal: hide keys after each query.
        scale: softmax scale > 0, default 1 / sqrt(d).
        key_padding_mask: (B, n_k) bool or 0/1, 1 = real token (Hugging Face's ``attention_mask``),
            one contiguous run per row; a row's positions count from its first real token, padded
            query rows return 0.
        enable_gqa: H a multiple of H_kv; query head h reads kv head h // (H / H_kv) (SDPA's rule).
        options: kernels and budgets (:class:`AttentionOptions`); never change the result beyond rounding.

    Returns:
        out: (B, H, n_q, d_v) in q's dtype, accumulated in float32 (float64 for float64 inputs);
        differentiable in q, k, v.

    Raises:
        ValueError: bad shapes, dtypes, devices, slopes, scale or mask; NaN or inf in q, k, v;
            scores scale * q.k that could overflow.
    """
    group = check_qkv(q, k, v, enable_gqa)
    causal = check_flag("causal", causal)
    options = check_options(options)
    slopes = check_head_slopes(slopes, q.shape[1])
    scale = default_scale(scale, q.shape[-1])
    runs = key_padding_runs(key_padding_mask, q.shape[0], k.shape[2])

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        check_values(q, k, v, scale)
        values = value_scale(v, k.shape[2])
        return attend_with_value_scale(lambda v: exact_alibi(q, k, v, slopes, causal, scale, group, options), v, values)

    return over_real_keys(attend, q, k, v, runs)


def exact_alibi(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor,
    causal: bool,
    scale: float,
    group: int,
    options: AttentionOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Exact ALiBi on checked, unpadded inputs (positions = key indices); differentiable."""
    return ExactALiBi.apply(q, k, v, slopes, causal, scale, group, options)


def _chunks(q: torch.Tensor, k: torch.Tensor, bias_elements: int) -> list[tuple[int, int]]:
    batch, heads, n_q, _ = q.shape
    rows = max(1, bias_elements // (batch * heads * k.shape[2]))
    return [(start, min(n_q, start + rows)) for start in range(0, n_q, rows)]


def _bias(slopes: torch.Tensor, start: int, stop: int, keys: int, p0: int, causal: bool, dtype) -> torch.Tensor:
    """(H, rows, keys) bias -m |i - j| of query rows start..stop-1 (position p0 + row); -inf ahead if causal.

    A slope beyond the dtype's range is clamped to its largest finite value: -m at distance 1
    and -inf beyond still leave only the diagonal, which is the exact limit (never inf * 0).
    """
    device = slopes.device
    position = p0 + torch.arange(start, stop, device=device)
    distance = (position[:, None] - torch.arange(keys, device=device)[None, :]).to(dtype)
    bias = -slopes.clamp_max(torch.finfo(dtype).max).to(dtype)[:, None, None] * distance.abs()
    if causal:
        bias = bias.masked_fill(distance < 0, -math.inf)
    return bias


def _fold(t: torch.Tensor, kv_heads: int) -> torch.Tensor:
    """(B, H, rows, c) -> (B, H_kv, G * rows, c): the G query heads of a kv head as more rows."""
    batch, heads, rows, width = t.shape
    return t.reshape(batch, kv_heads, heads // kv_heads * rows, width)


class ExactALiBi(torch.autograd.Function):
    """Chunked exact ALiBi; saves q, k, v, the output and its log-sum-exp, rebuilds biases in backward."""

    @staticmethod
    def forward(ctx, q, k, v, slopes: torch.Tensor, causal: bool, scale: float, group: int, options: AttentionOptions):
        batch, heads, n_q, _ = q.shape
        kv_heads, n_k = k.shape[1], k.shape[2]
        dtype = compute_dtype(q.dtype)
        slopes = slopes.to(device=q.device)
        out = q.new_empty(batch, heads, n_q, v.shape[-1])
        lse = torch.empty(batch, heads, n_q, dtype=dtype, device=q.device)
        for start, stop in _chunks(q, k, options.exact_bias_elements):
            keys = n_k - n_q + stop if causal else n_k  # a causal chunk never looks past its last row
            bias = _bias(slopes, start, stop, keys, n_k - n_q, causal, dtype)
            o, chunk_lse = attention_forward(
                _fold(q[:, :, start:stop], kv_heads), k[:, :, :keys], v[:, :, :keys], scale, False,
                bias.reshape(kv_heads, group * (stop - start), keys), fused=options.fused,
            )  # fmt: skip
            out[:, :, start:stop] = o.reshape(batch, heads, stop - start, -1)
            lse[:, :, start:stop] = chunk_lse.reshape(batch, heads, stop - start)
        ctx.causal, ctx.scale, ctx.options = causal, scale, options
        ctx.save_for_backward(q, k, v, slopes, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, slopes, out, lse = ctx.saved_tensors
        batch, heads, n_q, _ = q.shape
        kv_heads, n_k = k.shape[1], k.shape[2]
        group = heads // kv_heads
        dtype = lse.dtype
        grad_q = torch.empty(q.shape, dtype=q.dtype, device=q.device)
        grad_k = torch.zeros(k.shape, dtype=dtype, device=q.device)
        grad_v = torch.zeros(v.shape, dtype=dtype, device=q.device)
        for start, stop in _chunks(q, k, ctx.options.exact_bias_elements):
            keys = n_k - n_q + stop if ctx.causal else n_k
            bias = _bias(slopes, start, stop, keys, n_k - n_q, ctx.causal, dtype)
            rows = slice(start, stop)
            dq, dk, dv = attention_backward(
                _fold(grad_out[:, :, rows], kv_heads), _fold(q[:, :, rows], kv_heads), k[:, :, :keys], v[:, :, :keys],
                _fold(out[:, :, rows], kv_heads), lse[:, :, rows].reshape(batch, kv_heads, -1), ctx.scale, False,
                bias.reshape(kv_heads, group * (stop - start), keys), fused=ctx.options.fused,
            )  # fmt: skip
            grad_q[:, :, rows] = dq.reshape(batch, heads, stop - start, -1)
            grad_k[:, :, :keys] += dk
            grad_v[:, :, :keys] += dv
        return grad_q, grad_k.to(k.dtype), grad_v.to(v.dtype), None, None, None, None, None
