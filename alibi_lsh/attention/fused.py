"""The one door to torch's private fused attention ops (the ones that return the log-sum-exp).

Every attention path here is built from calls of plain attention on some query rows and some keys,
merged by their log-sum-exps; the backward pass re-runs each call's flash-attention backward with
the *merged* output and log-sum-exp (as split-KV decoding does). So the paths need two functions:

- :func:`attention_forward`: (out, lse) of softmax(scale q k^T + mask) v;
- :func:`attention_backward`: (dq, dk, dv) of that attention, given out and lse.

Both run torch's ``_scaled_dot_product_flash_attention_for_cpu`` (and its backward) on the CPU and
``_scaled_dot_product_efficient_attention`` (forward, with the additive mask as its ``attn_bias``
in q's dtype, rows padded to a multiple of 16 keys as SDPA pads them) on CUDA, where the
installed torch has them, and a plain matmul softmax otherwise (the CUDA backward among them). Only "this input is not
supported" errors select the matmul path; out-of-memory and every other error propagate. The
first fallback for a reason warns once.

Conventions (FlashAttention's): q (B, N, L_q, d), k (B, N, L_k, d), v (B, N, L_k, d_v), N
independent blocks or heads; ``causal`` is the kernel's top-left causal mask (key j visible to
query i iff j <= i), used for square blocks; ``mask`` is an additive float mask or a bool mask
(True = visible) broadcastable to (B, N, L_q, L_k). lse is natural-log, (B, N, L_q), float32
(float64 for float64 inputs); a query row that sees no key gets out 0 and lse -inf, and its
gradient is zero.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

from .._checks import compute_dtype

_CPU_FORWARD = "_scaled_dot_product_flash_attention_for_cpu"
_CPU_BACKWARD = "_scaled_dot_product_flash_attention_for_cpu_backward"
_CUDA_FORWARD = "_scaled_dot_product_efficient_attention"
_CPU_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
_CUDA_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
# Messages of the errors that mean "this kernel does not take this input" (and nothing worse).
_UNSUPPORTED = ("not implemented for", "not supported", "no available kernel", "should have the same", "aligned")
# The CUDA kernel reads bias rows whose stride is a multiple of this many elements.
_CUDA_BIAS_ALIGNMENT = 16

# Reasons already warned about, and inputs the fused kernels refused: (device type, dtype, direction).
_WARNED: set[str] = set()
_REFUSED: set[tuple[str, torch.dtype, str]] = set()


def _op(name: str):
    return getattr(torch.ops.aten, name) if hasattr(torch.ops.aten, name) else None


def _fall_back(reason: str) -> None:
    if reason not in _WARNED:
        _WARNED.add(reason)
        warnings.warn(f"alibi_lsh attention: {reason}; using the slower matmul path", RuntimeWarning, stacklevel=3)


def _fused_kernel(q: torch.Tensor, direction: str, has_mask: bool, fused: bool):
    """The private op for this input, or None: not asked for (``fused`` False) or none exists (warned once)."""
    if not fused:
        return None
    device, dtype = q.device.type, q.dtype
    if (device, dtype, direction) in _REFUSED:
        return None
    if device == "cpu" and dtype in _CPU_DTYPES:
        op = _op(_CPU_FORWARD if direction == "forward" else _CPU_BACKWARD)
    elif device == "cuda" and dtype in _CUDA_DTYPES and direction == "forward":
        op = _op(_CUDA_FORWARD)
    else:
        op = None
    if op is None:
        what = "masked " if has_mask else ""
        _fall_back(f"no fused {what}attention {direction} for {dtype} on {device} in torch {torch.__version__}")
    return op


def _call(op, q: torch.Tensor, direction: str, *args, **kwargs):
    """Run a fused op; None if it refused the input (remembered, warned once), else its result."""
    try:
        return op(*args, **kwargs)
    except RuntimeError as error:
        message = str(error).lower()
        if not any(marker in message for marker in _UNSUPPORTED):
            raise
        _REFUSED.add((q.device.type, q.dtype, direction))
        _fall_back(f"the fused attention {direction} refused {q.dtype} on {q.device.type} ({error})")
        return None


def _additive(mask: torch.Tensor | None, q: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(additive float mask in a dtype the kernels take, bool rows that see no key or None)."""
    if mask is None:
        return None, None
    mask = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape))  # the CPU kernel takes 2-D or 4-D
    dtype = q.dtype if q.dtype in (torch.float32, torch.float64) else torch.float32
    if mask.dtype == torch.bool:
        empty = ~mask.any(dim=-1)
        additive = torch.zeros(mask.shape, dtype=dtype, device=q.device).masked_fill_(~mask, -math.inf)
        return additive, (empty if bool(empty.any()) else None)
    return mask.to(dtype), None


def _cuda_bias(additive: torch.Tensor, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The additive mask as the CUDA kernel's attn_bias: q's dtype, (B, N, L_q, L_k) with broadcast
    dimensions kept at stride 0, rows in storage padded to a multiple of 16 keys (sliced back)."""
    keys = k.shape[2]
    padded = -(-keys // _CUDA_BIAS_ALIGNMENT) * _CUDA_BIAS_ALIGNMENT
    bias = additive.to(q.dtype)
    if padded != keys or bias.stride(-1) != 1 or bias.stride(-2) % _CUDA_BIAS_ALIGNMENT:
        storage = bias.new_zeros(*bias.shape[:-1], padded)
        storage[..., :keys] = bias
        bias = storage[..., :keys]
    return bias.expand(q.shape[0], q.shape[1], q.shape[2], keys)


def _unit_last_stride(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors with stride 1 along their last dimension (copied where it is not).

    The CPU kernels honour the strides of every dimension but the last, which they read as if it
    were 1: a slice like ``x[..., ::2]`` or an ``expand`` along d would silently give wrong numbers.
    """
    return tuple(t if t.shape[-1] <= 1 or t.stride(-1) == 1 else t.contiguous() for t in tensors)


def _same_head_size(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The CPU kernel needs d = d_v: zero-pad the narrower side (zeros add nothing to q.k or to out)."""
    d, d_v = q.shape[-1], v.shape[-1]
    if d < d_v:
        return F.pad(q, (0, d_v - d)), F.pad(k, (0, d_v - d)), v
    if d_v < d:
        return q, k, F.pad(v, (0, d - d_v))
    return q, k, v


def attention_forward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    scale: float,
    causal: bool = False,
    mask: torch.Tensor | None = None,
    *,
    fused: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(scale q k^T + mask) v and its log-sum-exp; shapes and conventions in the module docstring.

    ``fused`` False takes the matmul path (AttentionOptions.fused). Returns out (B, N, L_q, d_v) in
    q's dtype and lse (B, N, L_q) in float32 (float64 inputs: float64).
    """
    additive, empty = _additive(mask, q)
    result = None
    op = _fused_kernel(q, "forward", additive is not None, fused)
    if op is not None:
        if q.device.type == "cpu":
            qq, kk, vv = _unit_last_stride(*_same_head_size(q, k, v))
            result = _call(op, q, "forward", qq, kk, vv, 0.0, causal, attn_mask=additive, scale=scale)
            if result is not None:
                result = (result[0][..., : v.shape[-1]], result[1])
        else:
            bias = None if additive is None else _cuda_bias(additive, q, k)
            result = _call(
                op, q, "forward", q.contiguous(), k.contiguous(), v.contiguous(), bias, True, 0.0, causal, scale=scale
            )
            if result is not None:
                result = (result[0], result[1][..., : q.shape[2]])  # lse rows padded to a multiple of 32
    if result is None:
        result = _matmul_forward(q, k, v, scale, causal, additive)
    out, lse = result[0], result[1].to(compute_dtype(q.dtype))
    if empty is not None:  # the CPU kernel reports lse 0 for a row without keys: make it -inf, out 0
        empty = empty.expand(lse.shape)
        lse = lse.masked_fill(empty, -math.inf)
        out = out.masked_fill(empty[..., None], 0.0)
    return out, lse


def attention_backward(
    grad_out: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    lse: torch.Tensor,
    scale: float,
    causal: bool = False,
    mask: torch.Tensor | None = None,
    *,
    fused: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dq, dk, dv) of :func:`attention_forward` for given ``out`` and ``lse``, in q's dtype.

    ``out`` and ``lse`` need not be this call's own: passing the output and log-sum-exp of a
    softmax over a larger key set gives this call's share of *that* softmax's gradient, which is
    how merged attentions are differentiated. Rows with lse = -inf (no key) get zero gradient.
    """
    additive, _ = _additive(mask, q)
    # exp(s - lse) must be 0 for a row without keys; lse = +inf gives that, -inf would give NaN.
    lse = lse.masked_fill(lse == -math.inf, math.inf)
    op = _fused_kernel(q, "backward", additive is not None, fused)
    if op is not None:
        d, d_v = q.shape[-1], v.shape[-1]
        qq, kk, vv = _same_head_size(q, k, v)
        oo, gg = (F.pad(t, (0, d - d_v)) for t in (out, grad_out)) if d_v < d else (out, grad_out)
        qq, kk, vv, oo, gg = _unit_last_stride(qq, kk, vv, oo.to(q.dtype), gg.to(q.dtype))
        lse = lse.to(compute_dtype(q.dtype))
        grads = _call(
            op,
            q,
            "backward",
            gg,
            qq,
            kk,
            vv,
            oo,
            lse,
            0.0,
            causal,
            attn_mask=additive,
            scale=scale,
        )
        if grads is not None:
            dq, dk, dv = grads
            return dq[..., :d], dk[..., :d], dv[..., :d_v]
    return _matmul_backward(grad_out, q, k, v, out, lse, scale, causal, additive)


def _scores(
    q: torch.Tensor, k: torch.Tensor, scale: float, causal: bool, additive: torch.Tensor | None
) -> torch.Tensor:
    dtype = compute_dtype(q.dtype)
    scores = torch.matmul(q.to(dtype), k.to(dtype).transpose(-1, -2)) * scale
    if causal:
        hidden = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(hidden, -math.inf)
    return scores if additive is None else scores + additive.to(dtype)


def _matmul_forward(q, k, v, scale, causal, additive):
    scores = _scores(q, k, scale, causal, additive)
    lse = torch.logsumexp(scores, dim=-1)
    weights = torch.exp(scores - lse.masked_fill(lse == -math.inf, 0.0).unsqueeze(-1))  # no key: all 0
    return torch.matmul(weights, v.to(scores.dtype)).to(q.dtype), lse


def _matmul_backward(grad_out, q, k, v, out, lse, scale, causal, additive):
    scores = _scores(q, k, scale, causal, additive)
    dtype = scores.dtype
    weights = torch.exp(scores - lse.to(dtype).unsqueeze(-1))  # lse = +inf (no key): 0
    grad_out, out, v32 = grad_out.to(dtype), out.to(dtype), v.to(dtype)
    grad_v = torch.matmul(weights.transpose(-1, -2), grad_out)
    grad_weights = torch.matmul(grad_out, v32.transpose(-1, -2))
    row_dot = (grad_out * out).sum(dim=-1, keepdim=True)
    grad_scores = weights * (grad_weights - row_dot) * scale
    grad_q = torch.matmul(grad_scores, k.to(dtype))
    grad_k = torch.matmul(grad_scores.transpose(-1, -2), q.to(dtype))
    return grad_q.to(q.dtype), grad_k.to(q.dtype), grad_v.to(q.dtype)
