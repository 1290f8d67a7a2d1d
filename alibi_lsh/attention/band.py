"""The band path: all R samples of a narrow head at once, weighted by the mask mean.

For a head whose sampled blocks are all short, R per-sample calls over tiny blocks are
overhead-bound. The same estimator, out_i = sum_j e^{s_ij} M_hat_ij v_j / sum_j e^{s_ij} M_hat_ij,
is one banded attention (:mod:`.banded`) over |i - j| < max block length with log M_hat as the
additive bias, M_hat counted from the sampled blocks in O(R n).
"""

from __future__ import annotations

import math

import torch

from .banded import BAND_TILE, banded_attention
from .blocks import block_starts
from .draws import HeadDraw

# Heads whose widest sampled block is at most this many positions may take the band path.
BAND_MAX_WIDTH = 256
# "auto": band path where the cost model says it is cheaper; "never"/"always" (tests, profiling).
BAND_POLICY = "auto"
# Per-position overhead of one fused call, in units of key positions (fitted on a 2-core CPU):
# it is what makes R calls over tiny blocks slower than one call over a band.
CALL_OVERHEAD_WIDTH = 32


def block_offsets(draw: HeadDraw, n_q: int, n_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For every sample r and query position i (the last n_q of n_k): i - start of i's block, and
    end of i's block - 1 - i (blocks end at n_k). Two int64 tensors (R, n_q): query i shares its
    block in sample r exactly with the positions i - behind .. i + ahead.
    """
    p0 = n_k - n_q
    if draw.is_cuts:
        is_start, lo = block_starts(draw, range(draw.num_samples), n_q, n_k)
        position = torch.arange(lo, n_k, dtype=torch.int64)
        start = torch.cummax(torch.where(is_start, position, lo), dim=1).values
        is_end = torch.cat([is_start[:, 1:], torch.ones(is_start.shape[0], 1, dtype=torch.bool)], dim=1)
        end = torch.cummin(torch.where(is_end, position, n_k - 1).flip(1), dim=1).values.flip(1)
        start, end, position = start[:, p0 - lo :], end[:, p0 - lo :], position[p0 - lo :]
    else:
        position = torch.arange(p0, n_k, dtype=torch.int64)
        widths, shifts = draw.widths[:, None], draw.shifts[:, None]
        block_start = torch.div(position + shifts, widths, rounding_mode="floor") * widths - shifts
        start = block_start.clamp_min(0)
        end = (block_start + widths).clamp_max(n_k) - 1
    return position - start, end - position


def band_log_weights(draw: HeadDraw, n_q: int, n_k: int, band: int, causal: bool) -> torch.Tensor:
    """log M_hat[i, i - u] for the query positions i and u = 0..band-1, in the column layout of
    :func:`alibi_lsh.attention.banded.band_columns` (when bidirectional, log M_hat[i, i + u] at
    column band + u); (n_q, columns) float64. M_hat[i, j] is the fraction of the R samples in which
    i and j share a block; log 0 = -inf (never in one block).
    """
    behind, ahead = block_offsets(draw, n_q, n_k)
    samples = behind.shape[0]

    def log_mean_at_least(offsets: torch.Tensor) -> torch.Tensor:
        # count[i, u] = #{r : offsets[r, i] >= u}: a histogram over u, summed from the right.
        hist = torch.zeros(n_q, band, dtype=torch.float64)
        hist.scatter_add_(1, offsets.t().contiguous(), torch.ones(n_q, samples, dtype=torch.float64))
        return torch.log(hist.flip(1).cumsum(1).flip(1) / samples)

    parts = [log_mean_at_least(behind)]
    if not causal:
        parts.append(log_mean_at_least(ahead))  # its column 0 (u = 0) lands on the unused column band
    parts.append(torch.full((n_q, 1), -math.inf, dtype=torch.float64))
    return torch.cat(parts, dim=1)


def band_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, draw: HeadDraw, band: int, causal: bool, scale: float
) -> torch.Tensor:
    """The estimator of one head over its band: q (B, n_q, d), k, v (B, n_k, ·) -> (B, n_q, d_v)."""
    dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
    table = band_log_weights(draw, q.shape[1], k.shape[1], band, causal).to(device=q.device, dtype=dtype)
    return banded_attention(q, k, v, table, band, causal, scale)


def band_is_cheaper(draw: HeadDraw, n_q: int, n_k: int, causal: bool) -> tuple[bool, int]:
    """(use the band path?, band width) for one head, from a cost model in keys per query.

    R per-sample calls cost sum_r (mean keys per query in sample r + overhead); the band costs
    about 1.5 * span keys per query (span = tile + band: the mask read, the masked part of each
    tile) + overhead, once for all samples. Only heads whose widest block is <= BAND_MAX_WIDTH
    qualify, so the band path serves the narrow heads, where per-sample calls are overhead-bound.
    """
    if draw.is_plain or BAND_POLICY == "never":
        return False, 0
    samples = draw.num_samples
    if not draw.is_cuts:
        band, keys = min(int(draw.widths.max()), n_k), float(draw.widths.clamp_max(n_k).sum())
    else:
        behind, ahead = block_offsets(draw, n_q, n_k)
        lengths = behind + ahead + 1  # (R, n_q): length of i's block
        band, keys = int(lengths.max()), float(lengths.double().mean(dim=1).sum())
    if band > BAND_MAX_WIDTH:
        return False, band
    if BAND_POLICY == "always":
        return True, band
    span = max(band, BAND_TILE) + (1 if causal else 2) * band
    return 1.5 * span + CALL_OVERHEAD_WIDTH < keys + CALL_OVERHEAD_WIDTH * samples, band
