"""Exact mode of a patched layer: ALiBi over the model's own positions and mask, as one SDPA call.

The three models add a bias per key, ``m * p_j``, to the scaled scores (the query's ``- m * p_i``
cancels in the softmax) and put the dtype's minimum on blocked entries. This computes exactly
that from the slopes and the model's positions, with no check on data values: any 0/1
``attention_mask`` (holes included), any cache layout the model fills, ``torch.export`` and
``torch.compile(fullgraph=True)``. A row whose every key is blocked gets the models' answer
too: equal weights on all keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def positions_from_mask(allowed: torch.Tensor | None, n_k: int, device: torch.device) -> torch.Tensor:
    """Key positions (B or 1, n_k) int64 as BLOOM and Falcon count them: ``cumsum(attention_mask) - 1``.

    ``allowed`` (B, heads, n_q, n_k) bool: the model's mask. Its last query row is causal AND
    real key, so it sees every real key at or before the last query (for a pre-allocated cache,
    unfilled slots stay blocked); a padding key keeps its predecessor's position, which no
    query reads. Without a mask, the key index.
    """
    if allowed is None:
        return torch.arange(n_k, device=device)[None]
    return allowed[:, 0, -1].to(torch.int64).cumsum(dim=-1) - 1


def index_positions(allowed: torch.Tensor | None, n_k: int, device: torch.device) -> torch.Tensor:
    """Key positions (1, n_k) int64 as MPT counts them: the key index, whatever the mask says."""
    return torch.arange(n_k, device=device)[None]


def model_alibi_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor,
    scale: float,
    allowed: torch.Tensor | None,
    key_positions: torch.Tensor,
    need_weights: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """softmax(scale q.k + m_h p_j, blocked entries at the dtype's minimum) v, in q's dtype.

    Args:
        q: (B, H, n_q, d) queries; k, v: (B, H_kv, n_k, d) and (B, H_kv, n_k, d_v), H_kv divides H
            (query head h reads kv head h // (H / H_kv)).
        slopes: (H,) ALiBi slopes on the scaled scores, any float dtype and device.
        scale: factor on q.k.
        allowed: (B, 1 or H, n_q, n_k) bool, True where query t may read key j (the model's mask);
            None means bottom-right causal over all keys.
        key_positions: (B or 1, n_k) int64 positions of the keys.
        need_weights: also return the attention weights (B, H, n_q, n_k).

    Returns:
        (output (B, H, n_q, d_v), weights or None), both in q's dtype; differentiable.
    """
    batch, heads, n_q, _ = q.shape
    n_k = k.shape[-2]
    group = heads // k.shape[1]
    bias = slopes.to(device=q.device, dtype=torch.float32)[:, None, None] * key_positions[:, None, None, :]
    bias = bias.to(q.dtype)  # (B or 1, H, 1, n_k)
    if allowed is None and n_q > 1:
        allowed = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril(n_k - n_q)[None, None]
    if allowed is not None:
        bias = bias.masked_fill(~allowed, torch.finfo(q.dtype).min)
    bias = bias.expand(batch, heads, n_q, n_k)
    if not need_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale, enable_gqa=group > 1), None
    if group > 1:
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale + bias
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(weights, v), weights
