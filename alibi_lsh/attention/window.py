"""ALiBi attention inside a sliding window |i - j| < w: the deterministic banded baseline.

``sliding_window`` = w keeps the keys with |i - j| < w, i.e. w - 1 on each side of the query, as
Hugging Face's ``sliding_window`` (Mistral); FlashAttention's ``window_size=(w - 1, w - 1)`` keeps
the same keys, and ``(w - 1, 0)`` is the causal one (docs/glossary.md).

The queries of a head go in
tiles of T rows, and tile b sees the span of S = T + w - 1 keys ending at its last query (plus
w - 1 ahead when bidirectional). Query x of a tile and key y of its span are always u = x + w - 1
- y positions apart, so one (T, S) bias -m |u| (-inf where |u| >= w, and ahead when causal)
serves every tile: the keys are overlapping zero-copy windows of k, the bias is broadcast, and a
head is one fused call (plus one for the tiles at the ends, whose spans reach outside the keys
and get their own bias with those keys masked). The backward pass runs the flash backward on the
same tiles; only q, k, v, the output and the log-sum-exp are saved. One autograd function covers
every head, so the output is written in place and each head's dq, dk, dv go straight into the full
gradients (per-head functions cost a full-size copy of each gradient per head in autograd).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .._checks import (
    check_flag,
    check_head_slopes,
    check_int,
    check_qkv,
    check_tensor,
    check_values,
    compute_dtype,
    default_scale,
    key_padding_runs,
)
from .fused import attention_backward, attention_forward
from .numerics import attend_with_value_scale, value_scale
from .options import DEFAULT_OPTIONS, AttentionOptions, check_options
from .padding import over_real_keys


def check_windows(sliding_window: int | Sequence[int] | torch.Tensor, name: str = "sliding_window") -> list[int]:
    """The window(s) as a list of integers >= 1: one value, or one per head (1-D); ``name`` in messages."""
    message = f"{name} must be one integer >= 1 or one per head (1-D)"
    if isinstance(sliding_window, torch.Tensor):
        check_tensor(name, sliding_window, "integers")  # a meta tensor has no values to read
    try:
        tensor = torch.as_tensor(sliding_window)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{message}, got {sliding_window!r}") from error
    if tensor.dim() > 1:
        raise ValueError(f"{message}, got shape {tuple(tensor.shape)}")
    values = tensor.reshape(-1).tolist()
    if not values:
        raise ValueError(f"{message}, got no values")
    return [check_int(name, value) for value in values]


def _as_windows(sliding_window: int | Sequence[int] | torch.Tensor, heads: int) -> list[int]:
    values = check_windows(sliding_window)
    if len(values) == 1:
        values = values * heads
    if len(values) != heads:
        raise ValueError(f"sliding_window must be one integer or one per head (H = {heads}), got {len(values)} values")
    return values


class _Tiles:
    """The tiles of one head: n_q queries (the last of n_k keys) in tiles of ``rows``, window w.

    Tiles whose span reaches outside the keys (the first ones; the last ones, which also hold the
    rows after the last query) are the edge groups, each with its own bias; the others share one.
    """

    def __init__(self, n_q: int, n_k: int, window: int, causal: bool, rows: int):
        self.n_q, self.n_k, self.window = n_q, n_k, window
        self.rows = min(n_q, rows)
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

    def groups(self, per_call: int | None = None, per_edge_call: int | None = None) -> list[range]:
        """The edge groups and the interior, cut into ranges of at most ``per_call`` tiles (edge groups:
        at most ``per_edge_call``, default ``per_call``, as each of their tiles carries a bias of its own)."""
        per_edge_call = per_call if per_edge_call is None else per_edge_call
        cuts = []
        for group, size in [*((edge, per_edge_call) for edge in self.edges), (self.inner, per_call)]:
            step = size or max(1, len(group))
            cuts += [range(lo, min(group.stop, lo + step)) for lo in range(group.start, group.stop, step)]
        return cuts


def _as_tiles(t: torch.Tensor, tiles: _Tiles) -> tuple[torch.Tensor, bool]:
    """(B, n_q, c) -> (B, tiles, T, c): a view of t when the tiles cover n_q exactly (True), else a new
    tensor to copy back (False)."""
    if tiles.count * tiles.rows == tiles.n_q:
        return t.unflatten(1, (tiles.count, tiles.rows)), True
    return t.new_empty(t.shape[0], tiles.count, tiles.rows, t.shape[-1]), False


class WindowAttention(torch.autograd.Function):
    """Windowed ALiBi of every head: q (B, H, n_q, d), k (B, H_kv, n_k, d), v (B, H_kv, n_k, d_v) ->
    (B, H, n_q, d_v); head h has slope ``slopes[h]``, window ``windows[h]`` and reads kv head h // group.

    One function for all heads, so that the output is written once, in place, and the backward
    pass adds each head's dq, dk, dv straight into the full gradients (no per-head copies).
    """

    @staticmethod
    def forward(ctx, q, k, v, slopes: list[float], windows: list[int], group: int, causal: bool, scale: float, options):
        batch, heads, n_q, _ = q.shape
        dtype = compute_dtype(q.dtype)
        out = q.new_empty(batch, heads, n_q, v.shape[-1])
        lse = torch.empty(batch, heads, n_q, 1, dtype=dtype, device=q.device)
        for h in range(heads):
            tiles = _Tiles(n_q, k.shape[2], windows[h], causal, options.window_tile_rows.for_reach(windows[h]))
            kv = h // group
            q_tiles, k_tiles, v_tiles = tiles.queries(q[:, h]), tiles.keys(k[:, kv]), tiles.keys(v[:, kv])
            out_tiles, out_in_place = _as_tiles(out[:, h], tiles)
            lse_tiles, lse_in_place = _as_tiles(lse[:, h], tiles)
            for part in tiles.groups():
                chunk = slice(part.start, part.stop)
                out_tiles[:, chunk], lse_tiles[:, chunk, :, 0] = attention_forward(
                    q_tiles[:, chunk], k_tiles[:, chunk], v_tiles[:, chunk], scale, False,
                    tiles.bias(slopes[h], part, dtype, q.device), fused=options.fused,
                )  # fmt: skip
            if not out_in_place:
                out[:, h] = out_tiles.flatten(1, 2)[:, :n_q]
            if not lse_in_place:
                lse[:, h] = lse_tiles.flatten(1, 2)[:, :n_q]
        ctx.slopes, ctx.windows, ctx.group, ctx.causal, ctx.scale = slopes, windows, group, causal, scale
        ctx.options = options
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        batch, heads, n_q, _ = q.shape
        n_k = k.shape[2]
        dtype = lse.dtype
        grad_q = torch.empty(q.shape, dtype=dtype, device=q.device)  # every row is some tile's row
        grad_k = torch.zeros(k.shape, dtype=dtype, device=q.device)
        grad_v = torch.zeros(v.shape, dtype=dtype, device=q.device)
        for h in range(heads):
            options = ctx.options
            tiles = _Tiles(n_q, n_k, ctx.windows[h], ctx.causal, options.window_tile_rows.for_reach(ctx.windows[h]))
            kv = h // ctx.group
            # Rows after the last query: zero output gradient, so they add nothing to dq, dk or dv.
            grad_tiles, q_tiles, out_tiles = (tiles.queries(t[:, h]) for t in (grad_out, q, out))
            lse_tiles = tiles.queries(lse[:, h])[..., 0]
            k_tiles, v_tiles = tiles.keys(k[:, kv]), tiles.keys(v[:, kv])
            dq_tiles, dq_in_place = _as_tiles(grad_q[:, h], tiles)
            # The flash backward returns dk, dv per tile and edge tiles carry a bias each: a budget per
            # call keeps a training step near the forward's memory.
            budget = options.window_backward_elements
            per_call = max(1, budget // (batch * tiles.span * max(k.shape[-1], v.shape[-1])))
            per_edge_call = max(1, budget // (tiles.rows * tiles.span))  # (tiles, T, S) bias
            for part in tiles.groups(per_call, per_edge_call):
                chunk = slice(part.start, part.stop)
                dq_tiles[:, chunk], dk, dv = attention_backward(
                    grad_tiles[:, chunk], q_tiles[:, chunk], k_tiles[:, chunk], v_tiles[:, chunk], out_tiles[:, chunk],
                    lse_tiles[:, chunk], ctx.scale, False, tiles.bias(ctx.slopes[h], part, dtype, q.device),
                    fused=options.fused,
                )  # fmt: skip
                # Tile b's span starts at key first_key + b T: overlapping windows, so scatter-add. Keys
                # outside [0, n_k) are masked (or seen only by rows without gradient): their dk, dv are 0.
                index = tiles.first_key + torch.arange(part.start, part.stop, device=q.device)[:, None] * tiles.rows
                index = index + torch.arange(tiles.span, device=q.device)
                inside = (index >= 0) & (index < n_k)
                if bool(inside.all()):
                    index, dk, dv = index.reshape(-1), dk.flatten(1, 2), dv.flatten(1, 2)
                else:
                    index, dk, dv = index[inside], dk[:, inside], dv[:, inside]
                grad_k[:, kv].index_add_(1, index, dk.to(dtype))
                grad_v[:, kv].index_add_(1, index, dv.to(dtype))
            if not dq_in_place:
                grad_q[:, h] = dq_tiles.flatten(1, 2)[:, :n_q]
        return grad_q.to(q.dtype), grad_k.to(k.dtype), grad_v.to(v.dtype), None, None, None, None, None, None


def window_alibi_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    sliding_window: int | Sequence[int] | torch.Tensor,
    causal: bool = True,
    *,
    scale: float | None = None,
    key_padding_mask: torch.Tensor | None = None,
    enable_gqa: bool = False,
    options: AttentionOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """ALiBi attention inside a sliding window: softmax(scale q k^T - m |i - j|) v over |i - j| < w.

    In SDPA's (B, H, n, d) layout.

    Keeps w - 1 keys on each side of a query (FlashAttention's ``window_size=(w - 1, w - 1)``;
    causal: ``(w - 1, 0)``), Hugging Face's ``sliding_window`` = w. Queries are bottom-right aligned:
    with n_q < n_k they are the last n_q positions (``x`` = visible, causal, w = 3)::

        n_q = 2, n_k = 5     keys 0 1 2 3 4
        query 0 (position 3)      . x x x .
        query 1 (position 4)      . . x x x

    Args:
        q: (B, H, n_q, d), float16, bfloat16, float32 or float64; finite.
        k: (B, H_kv, n_k, d), q's dtype and device, n_k >= n_q; finite where read.
        v: (B, H_kv, n_k, d_v), q's dtype and device; finite where read.
        slopes: (H,) ALiBi slopes m_h >= 0, finite.
        sliding_window: w, an integer >= 1, or (H,) one per query head; w >= n_k is exact ALiBi.
        causal: hide keys after each query.
        scale: softmax scale > 0, default 1 / sqrt(d).
        key_padding_mask: (B, n_k) bool or 0/1, 1 = real token, one contiguous run per row; a row's
            positions count from its first real token, padded query rows return 0.
        enable_gqa: H a multiple of H_kv; query head h reads kv head h // (H / H_kv).
        options: kernels and budgets (:class:`AttentionOptions`); never change the result beyond rounding.

    Returns:
        out: (B, H, n_q, d_v) in q's dtype, accumulated in float32 (float64 for float64 inputs);
        differentiable in q, k, v. Time O(B H n_q (w + T)) for tiles of T rows; a decoding step
        reads only the last w keys.

    Raises:
        ValueError: bad shapes, dtypes, devices, slopes, sliding_window, scale or mask; NaN or inf
            among the keys read; scores scale * q.k that could overflow.
    """
    group = check_qkv(q, k, v, enable_gqa)
    causal = check_flag("causal", causal)
    options = check_options(options)
    heads = q.shape[1]
    slopes = check_head_slopes(slopes, heads).tolist()
    scale = default_scale(scale, q.shape[-1])
    windows = _as_windows(sliding_window, heads)
    runs = key_padding_runs(key_padding_mask, q.shape[0], k.shape[2])

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        n_q, n_k = q.shape[2], k.shape[2]
        first = max(0, n_k - n_q - max(windows) + 1)  # no query reaches further back
        if first:  # (a slice even from 0 would cost a full-size copy of dk, dv in the backward)
            k, v = k[:, :, first:], v[:, :, first:]
        check_values(q, k, v, scale)
        bands = [min(w, n_k - first) for w in windows]
        window = lambda v: WindowAttention.apply(q, k, v, slopes, bands, group, causal, scale, options)  # noqa: E731
        return attend_with_value_scale(window, v, value_scale(v, k.shape[2]))

    return over_real_keys(attend, q, k, v, runs)
