"""The fused attention kernels that return the log-sum-exp, and the plain matmul fallback.

torch's private ``_scaled_dot_product_*`` ops are called from this module only.
"""

from __future__ import annotations

import math

import torch


def block_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_valid: torch.Tensor, causal: bool, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain attention inside padded blocks, returning the output and its log-sum-exp (reference path).

    q, k: (B, N, W, d); v: (B, N, W, d_v); key_valid: bool (N, W), real positions first, padding
    after. Returns o (B, N, W, d_v) and lse (B, N, W), both float32. Rows of padding positions
    hold finite junk that the caller discards. Causal masking hides the trailing padding by
    itself; bidirectional attention masks it explicitly.
    """
    width = q.shape[-2]
    scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale  # (B, N, W, W)
    # Causal: the upper triangle (W, W); bidirectional: the padding keys (N, 1, W).
    hidden = torch.ones(width, width, dtype=torch.bool, device=q.device).triu(1) if causal else ~key_valid[:, None, :]
    scores = scores.masked_fill(hidden, -math.inf)
    lse = torch.logsumexp(scores, dim=-1)
    weights = torch.exp(scores - lse.unsqueeze(-1))
    return torch.matmul(weights, v.float()), lse


# Set to False the first time the fused kernel refuses an input (dtype, device, old torch), so
# later calls go straight to the matmul path instead of raising and catching every time.
_FUSED_OK: dict[tuple[str, torch.dtype, bool], bool] = {}


def _fused_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float, key_valid: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One fused attention call returning (out (B, N, W, d_v), lse (B, N, W) float32).

    q, k: (B, N, W, d) (N plays the role of heads: N independent blocks of length W); any strides
    a view gives. ``key_valid`` (N, W) bool marks real keys (None: all real). With causal
    attention trailing padding is hidden by the causal mask itself, so no mask is passed.
    """
    key = (q.device.type, q.dtype, causal or key_valid is None)
    if _FUSED_OK.get(key, True):
        try:
            mask = None
            if key_valid is not None and not causal:
                mask = torch.zeros(key_valid.shape, dtype=q.dtype, device=q.device)
                mask = mask.masked_fill(~key_valid, -math.inf)[None, :, None, :]  # (1, N, 1, W)
            if q.device.type == "cpu":
                out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                    q, k, v, 0.0, causal, attn_mask=mask, scale=scale
                )
            elif q.device.type == "cuda":
                if mask is not None:
                    mask = mask.expand(q.shape[0], -1, q.shape[2], -1)
                out, lse, *_ = torch.ops.aten._scaled_dot_product_efficient_attention(
                    q.contiguous(), k.contiguous(), v.contiguous(), mask, True, 0.0, causal, scale=scale
                )
                lse = lse[..., : q.shape[2]]  # the kernel pads the lse rows to a multiple of 32
            else:
                raise RuntimeError(f"no fused attention with log-sum-exp on {q.device.type}")
            return out, lse.float()
        except RuntimeError:
            _FUSED_OK[key] = False
    if key_valid is None:
        key_valid = torch.ones(q.shape[1], q.shape[2], dtype=torch.bool, device=q.device)
    return block_attention(q, k, v, key_valid, causal, scale)


def _fused_attention_masked(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention with an additive float mask (float32 inputs): fused where possible, else matmul."""
    if q.device.type == "cpu" and _FUSED_OK.get(("cpu-mask", q.dtype, False), True):
        try:
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                q, k, v, 0.0, False, attn_mask=bias, scale=scale
            )
        except RuntimeError:
            _FUSED_OK[("cpu-mask", q.dtype, False)] = False
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale + bias
    lse = torch.logsumexp(scores, dim=-1)
    return torch.matmul(torch.exp(scores - lse.unsqueeze(-1)), v), lse
