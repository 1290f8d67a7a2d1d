"""The attention weights that LSH and window modes apply, formed densely for ``output_attentions=True``.

LSH: the dense estimator's softmax(scale q.k + log M_hat), M_hat the mean of the R block masks of
the same (seed, global head, sample) as the fast path (:func:`~alibi_lsh.attention.lsh.reference.block_mask_mean`,
as the dense reference estimator). Window: softmax(scale q.k - m |i - j|) over the
keys with |i - j| < w. Both count positions from each row's first real key, as the fast paths
do, and give all-zero rows to queries at padding positions (whose outputs are 0). The weights
are n_q x n_k per head, so their size is capped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from alibi_lsh.attention.lsh.reference import block_mask_mean
from alibi_lsh.attention.spec import AttentionSpec
from alibi_lsh.attention.window import check_windows

# Default cap on the dense work of one layer's weights (float64 elements: 256 MiB).
MAX_WEIGHT_ELEMENTS = 2**25

# prior(query positions (r,), key positions (L,)) -> (H, r, L) float64 added to the scaled scores
Prior = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mode_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    slopes: torch.Tensor,
    spec: AttentionSpec,
    scale: float,
    key_padding_mask: torch.Tensor | None,
    head_offset: int,
    max_elements: int = MAX_WEIGHT_ELEMENTS,
) -> torch.Tensor:
    """The causal attention weights (B, H, n_q, n_k) in q's dtype that ``spec`` (lsh or window) applies.

    Args:
        q: (B, H, n_q, d), the last n_q of the n_k positions; k: (B, H_kv, n_k, d), H_kv divides H.
        slopes: (H,) float64 ALiBi slopes on the scaled scores.
        spec: an AttentionSpec of kind "lsh" (with an integer seed) or "window".
        scale: factor on q.k.
        key_padding_mask: (B, n_k) bool, True = real key, one contiguous run per row; None: all real.
        head_offset: global index of q's first head (keys the LSH blocks).
        max_elements: cap on the dense elements formed, B H n_q n_k (+ H n_k^2 for LSH's M_hat).

    Raises:
        ValueError: above ``max_elements``; for LSH with ``seed=None`` (each call draws fresh
            blocks, so no second draw could show the ones applied); for kind "exact".
    """
    batch, heads, n_q, _ = q.shape
    n_k = k.shape[2]
    elements = batch * heads * n_q * n_k + (heads * n_k * n_k if spec.kind == "lsh" else 0)
    if elements > max_elements:
        raise ValueError(
            f"output_attentions=True in {spec.kind} mode would form {elements} weight elements "
            f"(B={batch}, H={heads}, n_q={n_q}, n_k={n_k}), above max_weight_elements = {max_elements}; "
            "use fewer tokens or pass a larger max_weight_elements to patch_attention"
        )
    if spec.kind == "lsh":
        prior = _lsh_prior(n_k, slopes, spec, head_offset, q.device)
    elif spec.kind == "window":
        prior = _window_prior(slopes, spec, q.device)
    else:
        raise ValueError(f"mode_weights covers the lsh and window kinds, got spec.kind = {spec.kind!r}")
    return _causal_softmax(q, k, scale, key_padding_mask, prior).to(q.dtype)


def _lsh_prior(n_k: int, slopes: torch.Tensor, spec: AttentionSpec, head_offset: int, device: torch.device) -> Prior:
    if spec.seed is None:
        raise ValueError(
            "output_attentions=True in lsh mode needs an integer spec.seed: with seed=None every call draws "
            "fresh blocks, so the weights of the blocks applied cannot be formed again"
        )
    mean_mask = block_mask_mean(n_k, slopes, spec.num_samples, spec.scheme, spec.seed, head_offset)
    log_mask = mean_mask.log().to(device)  # (H, n_k, n_k) over positions from a row's first real key

    def prior(query_pos: torch.Tensor, key_pos: torch.Tensor) -> torch.Tensor:
        return log_mask[:, query_pos][:, :, key_pos]

    return prior


def _window_prior(slopes: torch.Tensor, spec: AttentionSpec, device: torch.device) -> Prior:
    heads = slopes.numel()
    windows = check_windows(spec.sliding_window)
    windows = torch.tensor(windows * heads if len(windows) == 1 else windows, device=device)
    if windows.numel() != heads:
        raise ValueError(f"window must be one integer or one per head (H = {heads}), got {windows.numel()} values")
    m = slopes.to(device=device, dtype=torch.float64)

    def prior(query_pos: torch.Tensor, key_pos: torch.Tensor) -> torch.Tensor:
        distance = (query_pos[:, None] - key_pos[None, :]).abs()  # (r, L)
        bias = -m[:, None, None] * distance
        return bias.masked_fill(distance[None] >= windows[:, None, None], -math.inf)

    return prior


def _causal_softmax(
    q: torch.Tensor, k: torch.Tensor, scale: float, key_padding_mask: torch.Tensor | None, prior: Prior
) -> torch.Tensor:
    """float64 weights (B, H, n_q, n_k): each real query over its row's real keys at or before it."""
    batch, heads, n_q, _ = q.shape
    n_k = k.shape[2]
    kv = torch.arange(heads, device=q.device) // (heads // k.shape[1])
    weights = torch.zeros(batch, heads, n_q, n_k, dtype=torch.float64, device=q.device)
    offset = n_k - n_q  # query t sits at key index offset + t
    for b in range(batch):
        first, end = _real_run(key_padding_mask, b, n_k)
        rows = range(max(first, offset) - offset, max(end, offset) - offset)  # queries at real positions
        if not rows:
            continue
        query_pos = torch.arange(rows.start, rows.stop, device=q.device) + offset - first
        key_pos = torch.arange(end - first, device=q.device)
        keys = k[b, kv, first:end].double()
        scores = scale * q[b, :, rows.start : rows.stop].double() @ keys.transpose(-1, -2)
        scores = (scores + prior(query_pos, key_pos)).masked_fill(key_pos[None, :] > query_pos[:, None], -math.inf)
        weights[b, :, rows.start : rows.stop, first:end] = torch.softmax(scores, dim=-1)
    return weights


def _real_run(key_padding_mask: torch.Tensor | None, row: int, n_k: int) -> tuple[int, int]:
    """[first, end) of the real keys of one row (checked to be one run by the caller)."""
    if key_padding_mask is None:
        return 0, n_k
    real = key_padding_mask[row]
    count = int(real.sum())
    first = int(real.to(torch.int8).argmax()) if count else 0
    return first, first + count
