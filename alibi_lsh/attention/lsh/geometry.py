"""Where the blocks are: the first and last position of each query's block, in every sample.

Both paths read the blocks through these functions. Positions are key indices of an unpadded
row (0 .. n_k - 1) and the queries are the last n_q of them, from p0 = n_k - n_q on.

- binning and qmc: block(i) = floor((i + shift) / width), so a block's bounds are arithmetic;
- cuts: a block starts after every cut. The cuts are hashed per gap (counter-based), so only the
  gaps from a little before p0 are drawn, far enough back that every sample starts a block there.
"""

from __future__ import annotations

import math

import torch

from .draws import HeadDraw


def block_starts(draw: HeadDraw, samples: range, n_q: int, n_k: int) -> tuple[torch.Tensor, int]:
    """Where the blocks of the cut patterns of ``samples`` start, over positions [lo, n_k).

    Returns (bool (S, n_k - lo), lo). lo is far enough back that every sample starts a block in
    [lo, p0], so the block holding p0 is known: a decoding step hashes a few gaps before its query.
    """
    p0 = n_k - n_q
    look_back = math.ceil(8 / draw.cut_sampler.cut_probability)  # a block longer than this: e^-8
    while True:
        lo = max(0, p0 - look_back)
        cuts = draw.cuts_after(lo, n_k - 1)[samples.start : samples.stop]
        is_start = torch.cat([torch.ones(cuts.shape[0], 1, dtype=torch.bool), cuts], dim=1)  # lo: see below
        # Position lo is a start when lo = 0; otherwise a sample needs a cut in [lo, p0).
        if lo == 0 or bool(cuts[:, : p0 - lo].any(dim=1).all()):
            return is_start, lo
        look_back *= 4


def block_bounds(
    draw: HeadDraw, first: int, length: int, need_end: bool, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """First and last position of the block holding each position first .. length-1, in every sample.

    Returns (start, end), int64 (R, length - first) on ``device`` (default CPU); end is None unless
    ``need_end``. Blocks are cut at ``length`` (the end of the sequence). Both are nondecreasing
    along the positions.
    """
    if draw.is_cuts:  # the cut patterns are hashed on the CPU
        start, end = _cut_bounds(draw, first, length, need_end)
        return start.to(device), None if end is None else end.to(device)
    position = torch.arange(first, length, dtype=torch.int64, device=device)
    widths, shifts = draw.widths[:, None].to(device), draw.shifts[:, None].to(device)
    block_start = torch.div(position + shifts, widths, rounding_mode="floor") * widths - shifts
    end = (block_start + widths).clamp_max(length) - 1 if need_end else None
    return block_start.clamp_min(0), end


def _cut_bounds(draw: HeadDraw, first: int, length: int, need_end: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`block_bounds` of the cuts scheme, on the CPU."""
    is_start, lo = block_starts(draw, range(draw.num_samples), length - first, length)
    position = torch.arange(lo, length, dtype=torch.int64)
    start = torch.cummax(torch.where(is_start, position, lo), dim=1).values[:, first - lo :]
    if not need_end:
        return start, None
    is_end = torch.cat([is_start[:, 1:], torch.ones(is_start.shape[0], 1, dtype=torch.bool)], dim=1)
    end = torch.cummin(torch.where(is_end, position, length - 1).flip(1), dim=1).values.flip(1)
    return start, end[:, first - lo :]


def first_key_read(draw: HeadDraw, n_q: int, n_k: int) -> int:
    """The earliest key any query of this head reads: the start of p0's block, minimised over samples."""
    p0 = n_k - n_q
    start, _ = block_bounds(draw, p0, p0 + 1, need_end=False)  # block starts need no later position
    return int(start.min())


def query_rows(batch: int, n_q: int, n_k: int, runs: list[tuple[int, int]] | None) -> int:
    """Query rows a head computes: n_q when the rows share one run of real keys, else the real
    queries of every batch row."""
    if runs is None or len(set(runs)) == 1:
        first, end = runs[0] if runs else (0, n_k)
        return max(0, end - max(first, n_k - n_q))
    return sum(max(0, end - max(first, n_k - n_q)) for first, end in runs)
