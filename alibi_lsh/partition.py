"""A contiguous partition of positions 0..n-1 into blocks: the output of one positional LSH.

A partition is stored by its block starts (never as an n x n matrix). Its mask
M[i, j] = [block(i) == block(j)] is binary, symmetric, block-diagonal and PSD.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import check_allocation, check_dense_size, check_int, check_int_vector

# Positions are int64.
MAX_POSITIONS = 2**63 - 1


@dataclass(frozen=True, eq=False)
class Partition:
    """Blocks [starts[b], starts[b+1]) of the positions 0..n-1.

    ``starts`` is an int64 CPU tensor (num_blocks,), strictly increasing from ``starts[0] == 0``
    to at most n - 1. For the binning schemes ``width`` and ``shift`` record the draw that made it:
    block(i) = floor((i + shift) / width). Construction checks all of this (ValueError).
    """

    n: int
    starts: torch.Tensor
    width: int | None = None
    shift: int | None = None

    def __post_init__(self) -> None:
        check_int("n", self.n, maximum=MAX_POSITIONS)
        starts = self.starts
        if (
            not isinstance(starts, torch.Tensor)
            or starts.dtype != torch.int64
            or starts.dim() != 1
            or starts.device.type != "cpu"
        ):
            raise ValueError(f"starts must be an int64 CPU tensor (num_blocks,), got {starts!r}")
        if starts.numel() == 0 or starts[0] != 0 or starts[-1] >= self.n or bool((starts[1:] <= starts[:-1]).any()):
            raise ValueError(
                f"starts must increase strictly from 0 to at most n - 1 = {self.n - 1}, got {starts.tolist()[:20]}"
            )

    @staticmethod
    def from_binning(n: int, width: int, shift: int) -> Partition:
        """Blocks of one width W, offset by a shift s in {0..W-1}: block(i) = floor((i + s) / W).

        Raises ValueError for arguments out of range, and when the block starts (8 bytes each)
        would not fit the allocation cap.
        """
        n = check_int("n", n, maximum=MAX_POSITIONS)
        width = check_int("width", width, maximum=MAX_POSITIONS)
        shift = check_int("shift", shift, minimum=0, maximum=width - 1)
        check_allocation("n", 8 * (n // width + 2), f"the block starts of n = {n} positions in blocks of {width}")
        first_boundary = (width - shift) % width  # first i > 0 with (i + s) % W == 0, or 0 if s == 0
        boundaries = torch.arange(min(first_boundary, n), n, width, dtype=torch.int64)  # empty if W - s >= n
        if first_boundary != 0:
            boundaries = torch.cat([torch.zeros(1, dtype=torch.int64), boundaries])
        return Partition._trusted(n, boundaries, width, shift)

    @staticmethod
    def from_cuts(n: int, cuts: torch.Tensor) -> Partition:
        """Blocks split before each position in ``cuts``: integers in 1..n-1, strictly increasing
        (a 1-D integer tensor or sequence; may be empty). Raises ValueError otherwise: cuts out of
        order or range would give negative block lengths."""
        n = check_int("n", n, maximum=MAX_POSITIONS)
        cuts = check_int_vector("cuts", cuts, 1, n - 1)
        if bool((cuts[1:] <= cuts[:-1]).any()):
            raise ValueError(f"cuts must increase strictly within 1..n-1 = 1..{n - 1}, got {cuts.tolist()[:20]}")
        return Partition._from_valid_cuts(n, cuts)

    @staticmethod
    def _from_valid_cuts(n: int, cuts: torch.Tensor) -> Partition:
        """:meth:`from_cuts` for int64 cuts that are valid by construction (a sampler's)."""
        return Partition._trusted(n, torch.cat([torch.zeros(1, dtype=torch.int64), cuts]))

    @classmethod
    def _trusted(cls, n: int, starts: torch.Tensor, width: int | None = None, shift: int | None = None) -> Partition:
        """A partition without the construction checks, for starts valid by construction: the
        samplers build up to 2^16 of them per call, and the checks cost more than the draws."""
        partition = object.__new__(cls)
        for name, value in (("n", n), ("starts", starts), ("width", width), ("shift", shift)):
            object.__setattr__(partition, name, value)
        return partition

    @staticmethod
    def single_block(n: int) -> Partition:
        """All positions in one block: the partition of slope 0 (plain attention)."""
        return Partition._trusted(check_int("n", n, maximum=MAX_POSITIONS), torch.zeros(1, dtype=torch.int64))

    @property
    def num_blocks(self) -> int:
        return int(self.starts.numel())

    def lengths(self) -> torch.Tensor:
        """Block lengths, int64 (num_blocks,), summing to n."""
        return torch.diff(self.starts, append=torch.tensor([self.n], dtype=torch.int64))

    def block_ids(self) -> torch.Tensor:
        """block(i) for every position, int64 (n,), non-decreasing from 0; ValueError above the
        allocation cap (16 bytes a position)."""
        check_allocation("n", 16 * self.n, f"the block ids of n = {self.n} positions")
        marks = torch.zeros(self.n, dtype=torch.int64)
        marks[self.starts] = 1
        return marks.cumsum(0) - 1

    def mask(self) -> torch.Tensor:
        """The block-diagonal mask M[i, j] = [block(i) == block(j)], bool (n, n)."""
        check_dense_size("n", self.n * self.n, f"the mask n*n = {self.n}*{self.n}")
        ids = self.block_ids()
        return ids[:, None] == ids[None, :]

    def describe(self) -> str:
        """A one-line human summary, e.g. 'W=12, s=5, 86 blocks' or '37 cuts, longest block 61'."""
        if self.width is not None:
            return f"W={self.width}, s={self.shift}, {self.num_blocks} blocks"
        return f"{self.num_blocks - 1} cuts, longest block {int(self.lengths().max())}"
