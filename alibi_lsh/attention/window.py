"""ALiBi attention truncated to a window |i - j| < w: the deterministic banded baseline.

It takes q, k, v shaped (B, H, n, d) as torch's ``scaled_dot_product_attention`` does and returns
(B, H, n, d_v) in the dtype of the inputs, walking over bands of width ``window``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .._checks import check_head_slopes, check_int, check_qkv, default_scale


def _as_windows(window: int | Sequence[int] | torch.Tensor, heads: int) -> list[int]:
    values = torch.as_tensor(window).reshape(-1).tolist()
    if len(values) == 1:
        values = values * heads
    if len(values) != heads:
        raise ValueError(f"window must be one integer or one per head (H = {heads}), got {len(values)} values")
    return [check_int("window", value) for value in values]


def window_alibi_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    window: int | Sequence[int] | torch.Tensor,
    causal: bool = True,
    scale: float | None = None,
) -> torch.Tensor:
    """ALiBi attention restricted to |i - j| < window: the deterministic banded baseline.

    ``window`` is one integer >= 1 or one per head (H,). Exact ALiBi inside the band, nothing
    outside; O(B H n window) time and memory. Returns (B, H, n, d_v) in the dtype of q.
    """
    check_qkv(q, k, v)
    batch, heads, n, head_dim = q.shape
    slopes = check_head_slopes(slopes, heads)
    scale = default_scale(scale, head_dim)
    windows = _as_windows(window, heads)
    out = torch.empty(batch, heads, n, v.shape[-1], dtype=torch.float32, device=q.device)
    for width in sorted(set(windows)):  # heads that share a window share one banded computation
        group = [h for h in range(heads) if windows[h] == width]
        out[:, group] = _banded_attention(
            q[:, group].float(),
            k[:, group].float(),
            v[:, group].float(),
            slopes[group].to(device=q.device, dtype=torch.float32),
            min(width, n),
            causal,
            scale,
        )
    return out.to(q.dtype)


def _banded_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slopes: torch.Tensor, window: int, causal: bool, scale: float
) -> torch.Tensor:
    """Banded ALiBi for heads that share ``window``: queries in tiles of ``window`` rows.

    Tile b holds queries [b w, (b+1) w); every key within distance < w of them lies in tiles
    b-1, b (and b+1 when bidirectional), so each tile attends to a span of 2w or 3w keys.
    """
    batch, heads, n, _ = q.shape
    w = window
    tiles = math.ceil(n / w)
    span = 2 * w if causal else 3 * w
    pad_end = tiles * w - n
    q_tiles = F.pad(q, (0, 0, 0, pad_end)).view(batch, heads, tiles, w, -1)
    # Keys padded by one tile in front (and enough behind) so tile b's keys start at b*w.
    behind = pad_end + (0 if causal else w)
    k_windows = F.pad(k, (0, 0, w, behind)).unfold(2, span, w).transpose(-1, -2)  # (B, H, tiles, span, d)
    v_windows = F.pad(v, (0, 0, w, behind)).unfold(2, span, w).transpose(-1, -2)
    scores = torch.einsum("bhtqd,bhtkd->bhtqk", q_tiles, k_windows) * scale
    # Query a of a tile and key c of its span are (a + w) - c positions apart, whatever the tile.
    offset = torch.arange(w, device=q.device)[:, None] + w - torch.arange(span, device=q.device)[None, :]
    allowed = offset.abs() < w
    if causal:
        allowed &= offset >= 0
    key_position = torch.arange(tiles, device=q.device)[:, None] * w - w + torch.arange(span, device=q.device)
    key_exists = (key_position >= 0) & (key_position < n)  # (tiles, span)
    bias = -slopes[:, None, None] * offset.abs().to(torch.float32)  # (H, w, span)
    scores = scores + bias[:, None]
    scores = scores.masked_fill(~(allowed[None, :, :] & key_exists[:, None, :]), -math.inf)
    weights = torch.softmax(scores, dim=-1)
    out = torch.einsum("bhtqk,bhtkd->bhtqd", weights, v_windows)
    return out.reshape(batch, heads, tiles * w, -1)[:, :, :n]
