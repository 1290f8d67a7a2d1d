"""Attention restricted to a band of offsets, with an additive bias per (query, offset): tiles.

Query t sits at position p = p0 + t (p0 = n_k - n_q) and may see the keys p - u for offsets
0 <= u < band (and p + u for 0 < u < band when bidirectional), with the additive bias
``table[t, column(u)]`` (table layout: :func:`band_columns`). Window attention (bias -m u) and the
band path of the LSH estimator (bias log M_hat) are both this, with different tables.

Queries go in tiles of w = max(band, BAND_TILE) rows (fewer if n_q is smaller); tile b sees the
span of w + band (+ band ahead) keys starting band positions before its first query, one fused
call per group of tiles with the bias gathered from the table. Keys outside [0, n_k) are masked.
The backward pass re-gathers the bias instead of saving it: only q, k, v, the output and the
log-sum-exp are kept, so a training step needs little more memory than the forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .fused import attention_backward, attention_forward

# Query rows per tile, at least: tiny tiles cost more in kernel overhead than in FLOPs.
BAND_TILE = 64
# Elements of the bias of one fused call (tiles * w * span): 2**24 float32 = 64 MiB.
BIAS_ELEMENTS = 2**24


def band_columns(band: int, causal: bool) -> int:
    """Columns of a band table: u = 0..band-1 (key p - u) at column u; when bidirectional u =
    1..band-1 ahead (key p + u) at column band + u (column band unused); then one -inf column."""
    return band + 1 if causal else 2 * band + 1


@dataclass(frozen=True)
class _Tiles:
    n_q: int
    n_k: int
    band: int
    ahead: int

    @property
    def width(self) -> int:
        return min(max(self.band, BAND_TILE), self.n_q)

    @property
    def count(self) -> int:
        return -(-self.n_q // self.width)

    @property
    def span(self) -> int:
        return self.width + self.band + self.ahead

    @property
    def first_key(self) -> int:
        """Position of the first key of tile 0's span."""
        return self.n_k - self.n_q - self.band

    def groups(self) -> list[tuple[int, int]]:
        per_call = max(1, BIAS_ELEMENTS // (self.width * self.span))
        return [(lo, min(self.count, lo + per_call)) for lo in range(0, self.count, per_call)]

    def pad_queries(self, t: torch.Tensor) -> torch.Tensor:
        """(B, n_q, c) -> (B, tiles, w, c), zero rows after the last query."""
        return F.pad(t, (0, 0, 0, self.count * self.width - self.n_q)).unflatten(1, (self.count, self.width))

    def key_range(self) -> tuple[int, int, int, int]:
        """(first real key, end of real keys, zeros before, zeros after) of the padded key rows."""
        start, stop = self.first_key, self.first_key + self.count * self.width + self.band + self.ahead
        return max(start, 0), min(stop, self.n_k), max(0, -start), max(0, stop - self.n_k)

    def pad_keys(self, t: torch.Tensor) -> torch.Tensor:
        """(B, n_k, c) -> (B, tiles, span, c): the keys each tile sees, overlapping views of one padded copy."""
        lo, hi, before, after = self.key_range()
        padded = F.pad(t[:, lo:hi], (0, 0, before, after))
        return padded.unfold(1, self.span, self.width).transpose(-1, -2)

    def bias(self, table: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """(hi - lo, w, span) additive bias of tiles lo..hi-1 from ``table`` (1 or tiles * w rows, columns)."""
        w, span, band, device = self.width, self.span, self.band, table.device
        u = torch.arange(w, device=device)[:, None] + band - torch.arange(span, device=device)[None, :]
        column = torch.where((u >= 0) & (u < band), u, table.shape[-1] - 1)
        if self.ahead:
            column = torch.where((u < 0) & (u > -band), band - u, column)
        if table.shape[0] == 1:
            bias = table[0][column].expand(hi - lo, w, span).clone()
        else:
            bias = torch.gather(table[lo * w : hi * w].view(hi - lo, w, -1), 2, column.expand(hi - lo, w, span))
        first = self.first_key + lo * w
        if first < 0 or first + (hi - lo - 1) * w + span > self.n_k:  # tiles at the ends: keys outside [0, n_k)
            key = first + torch.arange(hi - lo, device=device)[:, None, None] * w + torch.arange(span, device=device)
            bias.masked_fill_((key < 0) | (key >= self.n_k), -math.inf)
        if hi * w > self.n_q:  # rows after the last query: see everything (finite, discarded, zero gradient)
            bias.view(-1, span)[self.n_q - lo * w :] = 0.0
        return bias

    def pad_table(self, table: torch.Tensor) -> torch.Tensor:
        """A per-query table padded to tiles * w rows (a shared one-row table as it is)."""
        return table if table.shape[0] == 1 else F.pad(table, (0, 0, 0, self.count * self.width - self.n_q))


class BandedAttention(torch.autograd.Function):
    """Banded attention of one head: q (B, n_q, d), k (B, n_k, d), v (B, n_k, d_v) -> (B, n_q, d_v).

    ``table`` (n_q or 1, columns) float: the bias per query and offset (:func:`band_columns`);
    ``band`` >= 1; ``causal`` sees no key ahead.
    """

    @staticmethod
    def forward(ctx, q, k, v, table: torch.Tensor, band: int, causal: bool, scale: float):
        tiles = _Tiles(q.shape[1], k.shape[1], band, 0 if causal else band)
        table = tiles.pad_table(table)
        q_tiles, k_tiles, v_tiles = tiles.pad_queries(q), tiles.pad_keys(k), tiles.pad_keys(v)
        batch = q.shape[0]
        out = q.new_empty(batch, tiles.count, tiles.width, v.shape[-1])
        lse_dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
        lse = torch.empty(batch, tiles.count, tiles.width, dtype=lse_dtype, device=q.device)
        for lo, hi in tiles.groups():
            bias = tiles.bias(table, lo, hi)[None]
            out[:, lo:hi], lse[:, lo:hi] = attention_forward(
                q_tiles[:, lo:hi], k_tiles[:, lo:hi], v_tiles[:, lo:hi], scale, False, bias
            )
        ctx.tiles, ctx.scale = tiles, scale
        ctx.save_for_backward(q, k, v, table, out, lse)
        return out.flatten(1, 2)[:, : q.shape[1]]

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, table, out, lse = ctx.saved_tensors
        tiles: _Tiles = ctx.tiles
        dtype = lse.dtype
        grad_tiles = tiles.pad_queries(grad_out)
        q_tiles, k_tiles, v_tiles = tiles.pad_queries(q), tiles.pad_keys(k), tiles.pad_keys(v)
        grad_q = torch.empty(q.shape[0], tiles.count, tiles.width, q.shape[-1], dtype=dtype, device=q.device)
        lo_key, hi_key, before, _ = tiles.key_range()
        padded_keys = tiles.count * tiles.width + tiles.band + tiles.ahead
        grad_k = torch.zeros(k.shape[0], padded_keys, k.shape[-1], dtype=dtype, device=q.device)
        grad_v = torch.zeros(v.shape[0], padded_keys, v.shape[-1], dtype=dtype, device=q.device)
        for lo, hi in tiles.groups():
            bias = tiles.bias(table, lo, hi)[None]
            dq, dk, dv = attention_backward(
                grad_tiles[:, lo:hi], q_tiles[:, lo:hi], k_tiles[:, lo:hi], v_tiles[:, lo:hi],
                out[:, lo:hi], lse[:, lo:hi], ctx.scale, False, bias,
            )  # fmt: skip
            grad_q[:, lo:hi] = dq
            # Tile b's span starts at padded key b * w: overlapping windows, so scatter-add.
            index = (
                torch.arange(lo, hi, device=q.device)[:, None] * tiles.width + torch.arange(tiles.span, device=q.device)
            ).reshape(-1)
            grad_k.index_add_(1, index, dk.flatten(1, 2).to(dtype))
            grad_v.index_add_(1, index, dv.flatten(1, 2).to(dtype))
        real = slice(before, before + hi_key - lo_key)
        grad_k_full = torch.zeros(k.shape, dtype=dtype, device=q.device)
        grad_v_full = torch.zeros(v.shape, dtype=dtype, device=q.device)
        grad_k_full[:, lo_key:hi_key] = grad_k[:, real]
        grad_v_full[:, lo_key:hi_key] = grad_v[:, real]
        grad_q = grad_q.flatten(1, 2)[:, : q.shape[1]]
        return grad_q.to(q.dtype), grad_k_full.to(k.dtype), grad_v_full.to(v.dtype), None, None, None, None


def banded_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, table: torch.Tensor, band: int, causal: bool, scale: float
) -> torch.Tensor:
    """:class:`BandedAttention` (differentiable in q, k, v); shapes in its docstring."""
    return BandedAttention.apply(q, k, v, table, band, causal, scale)
