"""The band path: all R samples of a narrow head at once, weighted by the mask mean."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .blocks import TILE_ELEMENTS
from .draws import HeadDraw
from .fused import _fused_attention_masked

# Heads whose widest sampled block is at most this many positions may take the band path.
BAND_MAX_WIDTH = 256
# Query rows per tile of the band path, at least: tiny tiles cost more in kernel overhead than in FLOPs.
BAND_TILE = 64
# "auto": band path where the cost model says it is cheaper; "never"/"always" (tests, profiling).
BAND_POLICY = "auto"
# Per-position overhead of one fused call, in units of key positions (fitted on a 2-core CPU):
# it is what makes R calls over tiny blocks slower than one call over a band.
CALL_OVERHEAD_WIDTH = 32


def block_offsets(draw: HeadDraw, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For every sample r and position i: p = i - start of i's block, e = end of i's block - 1 - i.

    Returns two int64 tensors (R, n). Position i shares its block in sample r exactly with the
    positions i - p .. i + e.
    """
    position = torch.arange(n, dtype=torch.int64)
    if draw.cuts is not None:
        samples = draw.cuts.shape[0]
        is_start = torch.cat([torch.ones(samples, 1, dtype=torch.bool), draw.cuts], dim=1)
        is_end = torch.cat([draw.cuts, torch.ones(samples, 1, dtype=torch.bool)], dim=1)
        start = torch.cummax(torch.where(is_start, position, 0), dim=1).values
        end = torch.cummin(torch.where(is_end, position, n - 1).flip(1), dim=1).values.flip(1)
    else:
        widths, shifts = draw.widths[:, None], draw.shifts[:, None]
        block_start = torch.div(position + shifts, widths, rounding_mode="floor") * widths - shifts
        start = block_start.clamp_min(0)
        end = (block_start + widths).clamp_max(n) - 1
    return position - start, end - position


def band_log_weights(draw: HeadDraw, n: int, band: int, causal: bool) -> torch.Tensor:
    """log M_hat[i, i - u] as an (n, band) table, u = 0..band-1 (keys at or behind i); when
    bidirectional followed by (n, band) with log M_hat[i, i + u] at column band + u (u >= 1;
    column band is unused); then one column of -inf. float32. M_hat[i, j] is the fraction of
    the R samples in which i and j share a block.
    """
    behind, ahead = block_offsets(draw, n)
    samples = behind.shape[0]

    def log_mean_at_least(offsets: torch.Tensor) -> torch.Tensor:
        # count[i, u] = #{r : offsets[r, i] >= u}: a histogram over u, summed from the right.
        hist = torch.zeros(n, band, dtype=torch.float32)
        hist.scatter_add_(1, offsets.t().contiguous(), torch.ones(n, samples))
        counts = hist.flip(1).cumsum(1).flip(1)
        return torch.log(counts / samples)  # log 0 = -inf: never in one block

    parts = [log_mean_at_least(behind)]
    if not causal:
        parts.append(log_mean_at_least(ahead))
    parts.append(torch.full((n, 1), -math.inf))
    return torch.cat(parts, dim=1)


def _band_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_weights: torch.Tensor, band: int, causal: bool, scale: float
) -> torch.Tensor:
    """out_i = sum_j e^{s_ij} M_ij v_j / sum_j e^{s_ij} M_ij over |i - j| < band; (B, n, d_v) float32.

    q, k: (B, n, d), v: (B, n, d_v); ``log_weights`` from :func:`band_log_weights`. Queries in
    tiles of w = max(band, BAND_TILE) rows; tile b attends to keys [b w - band, (b+1) w) (and
    ``band`` more ahead when bidirectional) with log M_hat as an additive mask; one fused call
    per group of tiles. Tiles of at least BAND_TILE rows keep the kernel's per-tile cost small.
    """
    batch, n, _ = q.shape
    w = max(band, BAND_TILE)
    tiles = -(-n // w)
    ahead = 0 if causal else band
    span = w + band + ahead
    q, k, v = q.float(), k.float(), v.float()
    q_tiles = F.pad(q, (0, 0, 0, tiles * w - n)).view(batch, tiles, w, -1)
    pad = (0, 0, band, tiles * w - n + ahead)
    k_windows = F.pad(k, pad).unfold(1, span, w).transpose(-1, -2)  # (B, tiles, span, d)
    v_windows = F.pad(v, pad).unfold(1, span, w).transpose(-1, -2)
    # Query a of a tile and key c of its span are u = a + band - c positions apart (u > 0: behind).
    u = torch.arange(w)[:, None] + band - torch.arange(span)[None, :]
    sentinel = log_weights.shape[1] - 1  # the -inf column
    column = torch.where((u >= 0) & (u < band), u, sentinel)
    if not causal:  # keys ahead: u = -1 .. -(band - 1) at columns band + 1 .. 2 band - 1
        column = torch.where((u < 0) & (u > -band), band - u, column)
    table = F.pad(log_weights, (0, 0, 0, tiles * w - n))  # rows of padding queries: log 1 at u = 0
    table[n:, 0] = 0.0
    out = torch.empty(batch, tiles, w, v.shape[-1], dtype=torch.float32, device=q.device)
    per_call = max(1, TILE_ELEMENTS // (w * span))
    for lo in range(0, tiles, per_call):
        hi = min(tiles, lo + per_call)
        rows = table[lo * w : hi * w].view(hi - lo, w, -1)
        bias = torch.gather(rows, 2, column.expand(hi - lo, w, span)).to(q.device)[None]  # (1, t, w, span)
        o, _ = _fused_attention_masked(q_tiles[:, lo:hi], k_windows[:, lo:hi], v_windows[:, lo:hi], bias, scale)
        out[:, lo:hi] = o
    return out.view(batch, tiles * w, -1)[:, :n]


def band_is_cheaper(draw: HeadDraw, n: int, causal: bool) -> tuple[bool, int]:
    """(use the band path?, band width) for one head, from a cost model in keys per query.

    R per-sample calls cost sum_r (mean keys per query in sample r + overhead); the band costs
    about 1.5 * span keys per query (span = tile + band: the mask read, the masked part of each
    tile) + overhead,
    once for all samples. Only heads whose widest block is <= BAND_MAX_WIDTH qualify, so the
    band path serves the narrow heads, where per-sample calls are overhead-bound.
    """
    if draw.is_plain or BAND_POLICY == "never":
        return False, 0
    if draw.cuts is None:
        samples = draw.widths.numel()
        band, keys = min(int(draw.widths.max()), n), float(draw.widths.clamp_max(n).sum())
    else:
        samples = draw.cuts.shape[0]
        behind, ahead = block_offsets(draw, n)
        lengths = behind + ahead + 1  # (R, n): length of i's block; mean over i = sum L^2 / n
        band, keys = int(lengths.max()), float(lengths.double().mean(dim=1).sum())
    if band > BAND_MAX_WIDTH:
        return False, band
    if BAND_POLICY == "always":
        return True, band
    span = max(band, BAND_TILE) + (1 if causal else 2) * band
    return 1.5 * span + CALL_OVERHEAD_WIDTH < keys + CALL_OVERHEAD_WIDTH * samples, band
