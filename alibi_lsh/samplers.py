"""Samplers of random contiguous partitions whose mean mask is a positional kernel.

Three schemes share one interface, ``sampler.sample(n, num_samples, seed) -> list[Partition]``:

- ``"binning"``: width W from the kernel's width law, shift uniform in {0..W-1} (exact for any
  decreasing convex kernel);
- ``"qmc"``: the same map from (u1, u2) in [0, 1)^2 to (W, s), driven by scrambled Sobol points
  instead of independent uniforms. Each point is still uniform, so the mean stays unbiased, but
  the R points cover the square evenly, which lowers the error of the average;
- ``"cuts"``: a cut between neighbours independently with probability 1 - exp(-m) (exact for the
  ALiBi kernel only: P(no cut in d gaps) = exp(-m d)).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from ._checks import check_int, make_generator
from .kernels import PositionalKernel
from .partition import Partition

SCHEMES = ("binning", "cuts", "qmc")


class PartitionSampler(ABC):
    """Draws contiguous partitions of 0..n-1 with P[i, j in one block] = k(|i - j|)."""

    scheme: str

    def __init__(self, kernel: PositionalKernel):
        self.kernel = kernel

    def sample(self, n: int, num_samples: int, seed: int | torch.Generator | None = None) -> list[Partition]:
        """``num_samples`` independent (or, for qmc, jointly stratified) partitions of n positions."""
        n = check_int("n", n)
        num_samples = check_int("num_samples", num_samples)
        generator = make_generator(seed)
        if self.kernel.is_constant:
            return [Partition.single_block(n) for _ in range(num_samples)]
        return self._sample(n, num_samples, generator)

    @abstractmethod
    def _sample(self, n: int, num_samples: int, generator: torch.Generator) -> list[Partition]: ...


class BinningSampler(PartitionSampler):
    """Random width from the kernel's law and a uniform shift: every block has width W."""

    scheme = "binning"

    def _uniforms(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """(R, 2) points in [0, 1)^2: first coordinate picks W, second the shift."""
        return torch.rand(num_samples, 2, generator=generator, dtype=torch.float64)

    def draw(self, num_samples: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Widths and shifts of ``num_samples`` partitions, int64 (R,) each, as tensors.

        This is the one place that turns the generator's stream into draws; the attention kernel
        calls it directly so that it never builds Partition objects, yet sees the same blocks.
        """
        u = self._uniforms(num_samples, generator)
        widths = self.kernel.width_quantile(u[:, 0])
        # s = floor(u2 * W) is uniform on {0..W-1}; the clamp guards against u2*W rounding up to W.
        shifts = torch.minimum(torch.floor(u[:, 1] * widths.to(torch.float64)).to(torch.int64), widths - 1)
        return widths, shifts

    def _sample(self, n: int, num_samples: int, generator: torch.Generator) -> list[Partition]:
        widths, shifts = self.draw(num_samples, generator)
        return [Partition.from_binning(n, int(w), int(s)) for w, s in zip(widths, shifts)]


class QMCSampler(BinningSampler):
    """Binning driven by scrambled Sobol points (torch's SobolEngine, Owen scrambling)."""

    scheme = "qmc"

    def _uniforms(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        # The scramble is seeded from the generator, so one seed fixes the whole point set.
        scramble_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        engine = torch.quasirandom.SobolEngine(dimension=2, scramble=True, seed=scramble_seed)
        return engine.draw(num_samples, dtype=torch.float64)


class CutsSampler(PartitionSampler):
    """Independent cuts between neighbours with probability 1 - exp(-m): geometric block lengths."""

    scheme = "cuts"

    def __init__(self, kernel: PositionalKernel):
        if kernel.decay_rate is None:
            raise ValueError(
                f"scheme 'cuts' reproduces only the ALiBi kernel exp(-m d), not {kernel.name!r}; "
                "use scheme 'binning' or 'qmc' for other kernels"
            )
        super().__init__(kernel)
        self.cut_probability = -math.expm1(-kernel.decay_rate)

    def draw(self, n: int, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Cut patterns of ``num_samples`` partitions: bool (R, n - 1), True = cut between t and t + 1."""
        return torch.rand(num_samples, n - 1, generator=generator, dtype=torch.float64) < self.cut_probability

    def _sample(self, n: int, num_samples: int, generator: torch.Generator) -> list[Partition]:
        return [Partition.from_cuts(n, row.nonzero().reshape(-1) + 1) for row in self.draw(n, num_samples, generator)]


_SAMPLERS: dict[str, type[PartitionSampler]] = {
    "binning": BinningSampler,
    "cuts": CutsSampler,
    "qmc": QMCSampler,
}


def make_sampler(scheme: str, kernel: PositionalKernel) -> PartitionSampler:
    """The sampler for ``scheme`` (one of :data:`SCHEMES`) and ``kernel``."""
    if scheme not in _SAMPLERS:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    return _SAMPLERS[scheme](kernel)
