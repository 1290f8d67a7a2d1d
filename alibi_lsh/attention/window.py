"""ALiBi attention truncated to a window |i - j| < w: the deterministic banded baseline.

Query tiles against key windows, as FlashAttention's sliding windows: the queries of a head go in
tiles of T rows, and tile b sees the span of S = T + w - 1 keys ending at its last query (plus
w - 1 ahead when bidirectional). Query x of a tile and key y of its span are always u = x + w - 1
- y positions apart, so one (T, S) bias -m |u| (-inf where |u| >= w, and ahead when causal)
serves every tile: the keys are overlapping zero-copy windows of k, the bias is broadcast, and a
head is one fused call (plus one for the tiles at the ends, whose spans reach outside the keys
and get their own bias with those keys masked). The backward pass runs the flash backward on the
same tiles; only q, k, v, the output and the log-sum-exp are saved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .._checks import (
    check_head_slopes,
    check_int,
    check_qkv,
    check_values,
    compute_dtype,
    default_scale,
    key_padding_runs,
)
from .fused import attention_backward, attention_forward
from .padding import over_real_keys

# Query rows per tile: about a quarter of the window, within these bounds (fitted on a 2-core CPU).
MIN_TILE, MAX_TILE = 32, 256
# Key (and key-gradient) elements of one backward call, B * tiles * S * d, at most: the flash
# backward returns dk, dv per tile, so a training step stays near the forward's memory.
BACKWARD_ELEMENTS = 2**20


def _as_windows(window: int | Sequence[int] | torch.Tensor, heads: int) -> list[int]:
    values = torch.as_tensor(window).reshape(-1).tolist()
    if len(values) == 1:
        values = values * heads
    if len(values) != heads:
        raise ValueError(f"window must be one integer or one per head (H = {heads}), got {len(values)} values")
    return [check_int("window", value) for value in values]


def tile_rows(window: int) -> int:
    """Query rows per tile for a window: a power of two near window / 4, within [MIN_TILE, MAX_TILE]."""
    return int(min(MAX_TILE, max(MIN_TILE, 2 ** round(math.log2(max(window, 1) / 4)))))


class _Tiles:
    """The tiles of one head: n_q queries (the last of n_k keys) in tiles of ``rows``, window w.

    Tiles whose span reaches outside the keys (the first ones; the last ones, which also hold the
    rows after the last query) are the edge groups, each with its own bias; the others share one.
    """

    def __init__(self, n_q: int, n_k: int, window: int, causal: bool):
        self.n_q, self.n_k, self.window = n_q, n_k, window
        self.rows = min(n_q, tile_rows(window))
        self.count = -(-n_q // self.rows)
        self.ahead = 0 if causal else window - 1
        self.span = self.rows + window - 1 + self.ahead
        # Position of the first key of tile b's span: p0 + b T - (w - 1); keys padded to cover them all.
        self.first_key = n_k - n_q - (window - 1)
        self.pad_front = max(0, -self.first_key)
        self.pad_back = max(0, self.first_key + (self.count - 1) * self.rows + self.span - n_k)
        starts = [self.first_key + b * self.rows for b in range(self.count)]
        back = next(
            (b for b in range(self.count) if starts[b] + self.span > n_k or (b + 1) * self.rows > n_q), self.count
        )
        front = min(back, sum(1 for start in starts if start < 0))
        self.inner = range(front, back)
        self.edges = [r for r in (range(0, front), range(back, self.count)) if len(r)]

    def queries(self, t: torch.Tensor) -> torch.Tensor:
        """(B, n_q, c) -> (B, tiles, T, c), zero rows after the last query."""
        extra = self.count * self.rows - self.n_q
        return (F.pad(t, (0, 0, 0, extra)) if extra else t).unflatten(1, (self.count, self.rows))

    def keys(self, t: torch.Tensor) -> torch.Tensor:
        """(B, n_k, c) -> (B, tiles, S, c): overlapping views of t, or of one padded copy."""
        padded = F.pad(t, (0, 0, self.pad_front, self.pad_back)) if self.pad_front or self.pad_back else t
        start = self.first_key + self.pad_front
        return padded[:, start:].unfold(1, self.span, self.rows).transpose(-1, -2)[:, : self.count]

    def bias(self, slope: float, tiles: range, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """(1, 1, T, S) bias of interior tiles, or (1, len(tiles), T, S) with the keys outside [0, n_k) masked."""
        x = torch.arange(self.rows, device=device)[:, None]
        u = x + self.window - 1 - torch.arange(self.span, device=device)[None, :]  # query - key position
        visible = (u < self.window) & (u > (-1 if self.ahead == 0 else -self.window))
        # Computed in float64 and rounded: a slope too large for dtype gives -inf beyond u = 0, 0 at u = 0.
        bias = torch.where(visible, -slope * u.abs().double(), -math.inf).to(dtype)
        if tiles.start >= self.inner.start and tiles.stop <= self.inner.stop:  # interior: one bias for all
            return bias[None, None]
        b = torch.tensor(list(tiles), device=device)[:, None, None]
        key = self.first_key + b * self.rows + torch.arange(self.span, device=device)
        bias = bias.expand(len(tiles), -1, -1).masked_fill((key < 0) | (key >= self.n_k), -math.inf)
        # Rows after the last query: see every key (finite, discarded, zero gradient).
        return bias.masked_fill(b * self.rows + x >= self.n_q, 0.0)[None]

    def groups(self, per_call: int | None = None) -> list[range]:
        """The edge groups and the interior, each cut into ranges of at most ``per_call`` tiles."""
        groups = [r for r in (*self.edges, self.inner) if len(r)]
        if per_call is None:
            return groups
        return [range(lo, min(g.stop, lo + per_call)) for g in groups for lo in range(g.start, g.stop, per_call)]


class WindowAttention(torch.autograd.Function):
    """Windowed ALiBi of one head: q (B, n_q, d), k (B, n_k, d), v (B, n_k, d_v) -> (B, n_q, d_v)."""

    @staticmethod
    def forward(ctx, q, k, v, slope: float, window: int, causal: bool, scale: float):
        tiles = _Tiles(q.shape[1], k.shape[1], window, causal)
        q_tiles, k_tiles, v_tiles = tiles.queries(q), tiles.keys(k), tiles.keys(v)
        dtype = compute_dtype(q.dtype)
        out = q.new_empty(q.shape[0], tiles.count, tiles.rows, v.shape[-1])
        lse = torch.empty(q.shape[0], tiles.count, tiles.rows, dtype=dtype, device=q.device)
        for group in tiles.groups():
            part = slice(group.start, group.stop)
            out[:, part], lse[:, part] = attention_forward(
                q_tiles[:, part], k_tiles[:, part], v_tiles[:, part], scale, False,
                tiles.bias(slope, group, dtype, q.device),
            )  # fmt: skip
        ctx.tiles, ctx.slope, ctx.scale = tiles, slope, scale
        ctx.save_for_backward(q, k, v, out, lse)
        return out.flatten(1, 2)[:, : q.shape[1]]

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        tiles: _Tiles = ctx.tiles
        dtype = lse.dtype
        grad_tiles, q_tiles, k_tiles, v_tiles = tiles.queries(grad_out), tiles.queries(q), tiles.keys(k), tiles.keys(v)
        grad_q = torch.empty(q.shape[0], tiles.count, tiles.rows, q.shape[-1], dtype=dtype, device=q.device)
        padded = tiles.pad_front + k.shape[1] + tiles.pad_back
        grad_k = torch.zeros(k.shape[0], padded, k.shape[-1], dtype=dtype, device=q.device)
        grad_v = torch.zeros(v.shape[0], padded, v.shape[-1], dtype=dtype, device=q.device)
        start = tiles.first_key + tiles.pad_front
        per_call = max(1, BACKWARD_ELEMENTS // (q.shape[0] * tiles.span * max(k.shape[-1], v.shape[-1])))
        for group in tiles.groups(per_call):
            part = slice(group.start, group.stop)
            dq, dk, dv = attention_backward(
                grad_tiles[:, part], q_tiles[:, part], k_tiles[:, part], v_tiles[:, part], out[:, part],
                lse[:, part], ctx.scale, False, tiles.bias(ctx.slope, group, dtype, q.device),
            )  # fmt: skip
            grad_q[:, part] = dq
            # Tile b's span starts at padded key start + b T: overlapping windows, so scatter-add.
            index = start + torch.arange(group.start, group.stop, device=q.device)[:, None] * tiles.rows
            index = (index + torch.arange(tiles.span, device=q.device)).reshape(-1)
            grad_k.index_add_(1, index, dk.flatten(1, 2).to(dtype))
            grad_v.index_add_(1, index, dv.flatten(1, 2).to(dtype))
        real = slice(tiles.pad_front, tiles.pad_front + k.shape[1])
        grad_q = grad_q.flatten(1, 2)[:, : q.shape[1]]
        return grad_q.to(q.dtype), grad_k[:, real].to(k.dtype), grad_v[:, real].to(v.dtype), None, None, None, None


def window_alibi_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    window: int | Sequence[int] | torch.Tensor,
    causal: bool = True,
    *,
    scale: float | None = None,
    key_padding_mask: torch.Tensor | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """ALiBi attention restricted to |i - j| < window, in SDPA's (B, H, n, d) layout; (B, H, n_q, d_v).

    ``window``: one integer >= 1 or one per query head (H,). Exact ALiBi inside the band, nothing
    outside; O(B H n_q (window + T)) time, memory O(B H n_q (d + d_v)) plus one (T, window + T)
    bias per head; the output has q's dtype. Shapes, bottom-right alignment of n_q <= n_k,
    ``enable_gqa``, ``key_padding_mask``, ``scale``, dtypes and errors as :func:`alibi_attention`;
    a decoding step reads only the last ``window`` keys. Differentiable in q, k, v.
    """
    group = check_qkv(q, k, v, enable_gqa)
    heads = q.shape[1]
    slopes = check_head_slopes(slopes, heads).tolist()
    scale = default_scale(scale, q.shape[-1])
    windows = _as_windows(window, heads)
    runs = key_padding_runs(key_padding_mask, q.shape[0], k.shape[2])

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        n_q, n_k = q.shape[2], k.shape[2]
        first = max(0, n_k - n_q - max(windows) + 1)  # no query reaches further back
        k, v = k[:, :, first:], v[:, :, first:]
        check_values(q, k, v, scale)
        outputs = []
        for h in range(heads):
            band = min(windows[h], n_k - first)
            kv = h // group
            outputs.append(WindowAttention.apply(q[:, h], k[:, kv], v[:, kv], slopes[h], band, causal, scale))
        return torch.stack(outputs, dim=1)

    return over_real_keys(attend, q, k, v, runs)
