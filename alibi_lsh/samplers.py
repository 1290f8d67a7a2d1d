"""Samplers of random contiguous partitions whose mean mask is a positional kernel.

Three schemes share one interface, ``sampler.sample(n, num_samples, seed, head) -> list[Partition]``:

- ``"binning"``: width W from the kernel's width law, shift uniform in {0..W-1} (exact for any
  decreasing convex kernel);
- ``"qmc"``: the same map from (u1, u2) in [0, 1)^2 to (W, s), driven by an Owen-scrambled 2-D
  Sobol sequence instead of independent uniforms. Each point is still uniform, so the mean stays
  unbiased, but the R points cover the square evenly, which lowers the error of the average;
- ``"cuts"``: a cut between neighbours independently with probability 1 - exp(-m) (exact for the
  ALiBi kernel only: P(no cut in d gaps) = exp(-m d)).

Every draw is a pure function of (seed, head, sample, position) through the counter-based
generator in :mod:`alibi_lsh.philox`: docs/blocks.md specifies it bit for bit. ``head`` is the
global head index, so a head's blocks do not depend on which other heads are drawn with it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch

from ._checks import check_allocation, check_choice, check_int, check_num_samples
from .kernels import PositionalKernel
from .partition import Partition
from .philox import MAX_SEED, MAX_WORD, counters, philox4x32, seed_key, uniform53

SCHEMES = ("binning", "cuts", "qmc")

# The four uses of the stream, kept apart by the first counter word (docs/blocks.md, section 1).
STREAM_BINNING, STREAM_CUTS, STREAM_OWEN, STREAM_JITTER, STREAM_CUT_TIES = 1, 2, 3, 4, 5
# Counters of one cuts draw per pass over the samples, at most: bounds the temporaries (~32 MiB).
CUTS_COUNTERS_PER_CALL = 2**20
# Bytes that drawing R partitions of n positions may hold per (sample, position) at once, at most:
# two int64 temporaries while the block starts are found, then up to one int64 start kept.
BYTES_PER_SAMPLED_POSITION = 24


def check_draw_size(n: int, num_samples: int) -> None:
    """Refuse R partitions of n positions whose memory estimate is above the allocation cap."""
    check_allocation(
        "n * num_samples",
        BYTES_PER_SAMPLED_POSITION * n * num_samples,
        f"R*n = {num_samples}*{n} sampled positions at {BYTES_PER_SAMPLED_POSITION} bytes each",
    )


def resolve_seed(seed: int | torch.Generator | None) -> int:
    """The integer seed in [0, 2^63 - 1] that keys the draws.

    An int is checked and used as is. A ``torch.Generator`` gives one seed drawn from it (so a
    generator advances once per call); None draws one from torch's default generator, so that
    ``torch.manual_seed`` makes it repeatable. Raises ValueError for anything else.
    """
    if isinstance(seed, torch.Generator):
        return int(torch.randint(0, MAX_SEED, (1,), generator=seed))
    if seed is None:
        return int(torch.randint(0, MAX_SEED, (1,)))
    return check_seed(seed)


def check_seed(seed: int) -> int:
    """An integer seed in [0, 2^63 - 1] (the key of the counter-based stream)."""
    return check_int("seed", seed, minimum=0, maximum=MAX_SEED)


def check_head(head: int) -> int:
    """A global head index, an integer in [0, 2^32 - 1] (one counter word)."""
    return check_int("head", head, minimum=0, maximum=MAX_WORD)


class PartitionSampler(ABC):
    """Draws contiguous partitions of 0..n-1 with P[i, j in one block] = k(|i - j|)."""

    scheme: str

    def __init__(self, kernel: PositionalKernel):
        if not isinstance(kernel, PositionalKernel):
            raise ValueError(f"kernel must be a PositionalKernel (see resolve_kernel), got {kernel!r}")
        self.kernel = kernel

    def sample(
        self, n: int, num_samples: int, seed: int | torch.Generator | None = None, head: int = 0
    ) -> list[Partition]:
        """Samples 0 .. ``num_samples`` - 1 of global head ``head``, as partitions of n positions.

        The first R samples are the same whatever ``num_samples`` is (docs/blocks.md). Raises
        ValueError for arguments out of range and when R*n positions would not fit the
        allocation cap (:func:`check_draw_size`).
        """
        n = check_int("n", n)
        num_samples = check_num_samples(num_samples)
        check_draw_size(n, num_samples)
        seed, head = resolve_seed(seed), check_head(head)
        if self.kernel.is_constant:
            return [Partition.single_block(n) for _ in range(num_samples)]
        return self._sample(n, num_samples, seed, head)

    @abstractmethod
    def _sample(self, n: int, num_samples: int, seed: int, head: int) -> list[Partition]: ...

    def block_table(
        self, n: int, num_samples: int, seed: int | torch.Generator | None = None, head: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every block of samples 0 .. R-1 as (sample, start, end) int64 columns, sorted by sample, then start.

        Block [start, end) of sample r; the same blocks as :meth:`sample` without building R
        Partition objects (vectorised over samples: what dense counting and the app use). Raises
        ValueError as :meth:`sample` does.
        """
        n = check_int("n", n)
        num_samples = check_num_samples(num_samples)
        check_draw_size(n, num_samples)
        seed, head = resolve_seed(seed), check_head(head)
        if self.kernel.is_constant:
            sample, start = torch.arange(num_samples), torch.zeros(num_samples, dtype=torch.int64)
        else:
            is_start = torch.ones(num_samples, n, dtype=torch.bool)
            is_start[:, 1:] = self._boundaries(n, num_samples, seed, head)
            sample, start = is_start.nonzero(as_tuple=True)  # row-major: sorted by sample, then start
        end = torch.cat([start[1:], start.new_tensor([n])])
        last = torch.cat([sample[1:] != sample[:-1], torch.ones(1, dtype=torch.bool)])
        return sample, start, torch.where(last, n, end)

    @abstractmethod
    def _boundaries(self, n: int, num_samples: int, seed: int, head: int) -> torch.Tensor:
        """bool (R, n - 1): True at [r, t] when a block of sample r starts at position t + 1."""


class BinningSampler(PartitionSampler):
    """Random width from the kernel's law and a uniform shift: every block has width W."""

    scheme = "binning"

    def uniforms(self, num_samples: int, seed: int, head: int) -> np.ndarray:
        """(R, 2) float64 points in [0, 1)^2: first coordinate picks W, second the shift.

        Independent uniforms: Philox of (1, head, r, 0), two words per coordinate.
        """
        words = philox4x32(counters(STREAM_BINNING, head, np.arange(num_samples), 0), seed_key(seed))
        return np.stack([uniform53(words[:, 0], words[:, 1]), uniform53(words[:, 2], words[:, 3])], axis=1)

    def draw(self, num_samples: int, seed: int, head: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Widths and shifts of samples 0 .. R-1 of global head ``head``: int64 (R,) each.

        This is the one place that turns the stream into (W, s); the attention kernel calls it
        directly, so it never builds Partition objects yet sees the same blocks.
        """
        u = torch.from_numpy(self.uniforms(check_num_samples(num_samples), seed, check_head(head)))
        widths = self.kernel.width_quantile(u[:, 0])
        # s = floor(u2 * W) is uniform on {0..W-1}; the min guards against u2*W rounding up to W.
        shifts = torch.minimum(torch.floor(u[:, 1] * widths.to(torch.float64)).to(torch.int64), widths - 1)
        return widths, shifts

    def _sample(self, n: int, num_samples: int, seed: int, head: int) -> list[Partition]:
        widths, shifts = self.draw(num_samples, seed, head)
        return [Partition.from_binning(n, int(w), int(s)) for w, s in zip(widths, shifts)]

    def _boundaries(self, n: int, num_samples: int, seed: int, head: int) -> torch.Tensor:
        widths, shifts = self.draw(num_samples, seed, head)
        position = torch.arange(1, n, dtype=torch.int64)
        return (position[None, :] + shifts[:, None]) % widths[:, None] == 0  # block(i) = floor((i + s) / W) starts


def _bit_reverse32(x: np.ndarray) -> np.ndarray:
    """Reverse the 32 low bits of each uint64 word."""
    x = x.astype(np.uint64)
    for shift, mask in ((1, 0x55555555), (2, 0x33333333), (4, 0x0F0F0F0F), (8, 0x00FF00FF), (16, 0x0000FFFF)):
        s, m = np.uint64(shift), np.uint64(mask)
        x = ((x >> s) & m) | ((x & m) << s)
    return x


def sobol_2d(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``index`` of the unscrambled 2-D Sobol sequence as 32-bit integers (uint64 arrays).

    Dimension 0 is van der Corput (the bits of the index reversed); dimension 1 XORs the direction
    numbers V[b] of the index's set bits, V[0] = 2^31, V[b] = V[b-1] ^ (V[b-1] >> 1).
    """
    index = np.asarray(index, dtype=np.uint64)
    second = np.zeros_like(index)
    direction = 1 << 31
    for bit in range(32):
        second ^= np.where((index >> np.uint64(bit)) & np.uint64(1), np.uint64(direction), np.uint64(0))
        direction ^= direction >> 1
    return _bit_reverse32(index), second


def owen_scramble(x: np.ndarray, dim: int, seed: int, head: int) -> np.ndarray:
    """Nested uniform (Owen) scrambling of 32-bit integers, one random bit per tree node.

    Bit 31 - level of x flips when word 0 of Philox (3, head, 32 dim + level, x >> (32 - level))
    is odd: the flip depends only on the bits above it, so intervals map to intervals and the
    net structure of the points survives, while each point becomes uniform.
    """
    levels = np.arange(32, dtype=np.uint64)
    prefixes = np.where(levels == 0, np.uint64(0), x[:, None] >> (np.uint64(32) - levels))  # (R, 32)
    flips = philox4x32(counters(STREAM_OWEN, head, 32 * dim + levels, prefixes), seed_key(seed))[..., 0] & np.uint64(1)
    return x ^ np.bitwise_or.reduce(flips << (np.uint64(31) - levels), axis=1)


class QMCSampler(BinningSampler):
    """Binning driven by an Owen-scrambled 2-D Sobol sequence: the R points stratify the square."""

    scheme = "qmc"

    def uniforms(self, num_samples: int, seed: int, head: int) -> np.ndarray:
        """(R, 2) float64 points: scrambled Sobol integers plus 21 random low bits each."""
        samples = np.arange(num_samples, dtype=np.uint64)
        jitter = philox4x32(counters(STREAM_JITTER, head, samples, 0), seed_key(seed))
        columns = []
        for dim, x in enumerate(sobol_2d(samples)):
            scrambled = owen_scramble(x, dim, seed, head)
            columns.append((scrambled.astype(np.float64) * 2.0**21 + (jitter[:, dim] >> np.uint64(11))) / 2.0**53)
        return np.stack(columns, axis=1)


class CutsSampler(PartitionSampler):
    """Independent cuts between neighbours with probability 1 - exp(-m): geometric block lengths."""

    scheme = "cuts"

    def __init__(self, kernel: PositionalKernel):
        super().__init__(kernel)
        if kernel.decay_rate is None:
            raise ValueError(
                f"scheme 'cuts' reproduces only the ALiBi kernel exp(-m d), not {kernel.name!r}; "
                "use scheme 'binning' or 'qmc' for other kernels"
            )
        self.cut_probability = -math.expm1(-kernel.decay_rate)
        # P(cut) = T / 2^64 with T = floor(p 2^64) = T_high 2^32 + T_low (exact: p 2^32 is a float64
        # scaled by a power of two, and a fraction of a float64 is exact).
        scaled = self.cut_probability * 2.0**32
        self.threshold_high = math.floor(scaled)
        self.threshold_low = math.floor((scaled - self.threshold_high) * 2.0**32)

    def cuts_after(self, first: int, stop: int, num_samples: int, seed: int, head: int = 0) -> torch.Tensor:
        """Cuts after positions first .. stop-1 of samples 0 .. R-1: bool (R, stop - first).

        True at [r, t] means a cut between positions first + t and first + t + 1. Only these
        positions are hashed, so a decoding step looks at the gaps near its query alone. Position
        i reads word i mod 4 of Philox (2, head, r, i // 4); the rare word equal to T_high
        (probability 2^-32) is settled by word 0 of Philox (5, head, r, i) against T_low.
        """
        first = check_int("first", first, minimum=0, maximum=MAX_WORD)
        stop = check_int("stop", stop, minimum=first, maximum=MAX_WORD + 1)
        num_samples = check_num_samples(num_samples)
        head = check_head(head)
        key = seed_key(seed)
        quads = np.arange(first // 4, (stop + 3) // 4, dtype=np.uint64)  # counter j covers 4j .. 4j + 3
        cuts = np.empty((num_samples, stop - first), dtype=bool)
        rows = max(1, CUTS_COUNTERS_PER_CALL // max(1, quads.size))  # bounds the temporaries
        for lo in range(0, num_samples, rows):
            samples = np.arange(lo, min(num_samples, lo + rows), dtype=np.uint64)
            words = philox4x32(counters(STREAM_CUTS, head, samples[:, None], quads[None, :]), key)
            words = words.reshape(samples.size, -1)[:, first % 4 : first % 4 + stop - first]  # one word a position
            chunk = words < np.uint64(self.threshold_high)
            sample, column = np.nonzero(words == np.uint64(self.threshold_high))
            if sample.size:  # ties: compare the next 32 bits, drawn for these positions only
                low = philox4x32(counters(STREAM_CUT_TIES, head, samples[sample], first + column), key)[:, 0]
                chunk[sample, column] = low < np.uint64(self.threshold_low)
            cuts[lo : lo + samples.size] = chunk
        return torch.from_numpy(cuts)

    def draw(self, n: int, num_samples: int, seed: int, head: int = 0) -> torch.Tensor:
        """Cut patterns of samples 0 .. R-1 over n positions: bool (R, n - 1), True = cut after t."""
        return self.cuts_after(0, n - 1, num_samples, seed, head)

    def _sample(self, n: int, num_samples: int, seed: int, head: int) -> list[Partition]:
        cuts = self.draw(n, num_samples, seed, head)
        return [Partition._from_valid_cuts(n, row.nonzero().reshape(-1) + 1) for row in cuts]

    def _boundaries(self, n: int, num_samples: int, seed: int, head: int) -> torch.Tensor:
        return self.draw(n, num_samples, seed, head)  # a cut after t starts a block at t + 1


_SAMPLERS: dict[str, type[PartitionSampler]] = {
    "binning": BinningSampler,
    "cuts": CutsSampler,
    "qmc": QMCSampler,
}


def make_sampler(scheme: str, kernel: PositionalKernel) -> PartitionSampler:
    """The sampler for ``scheme`` (one of :data:`SCHEMES`, a string) and ``kernel`` (a
    :class:`PositionalKernel`); ValueError for anything else."""
    return _SAMPLERS[check_choice("scheme", scheme, SCHEMES)](kernel)
