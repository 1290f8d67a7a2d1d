"""Dense views of sampled partitions: binary masks and their running mean (for teaching and tests).

These build n x n matrices, so they refuse sizes above ``MAX_DENSE_ELEMENTS``. Attention never
calls them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._checks import check_dense_size, check_int, check_int_vector, check_num_samples
from .kernels import KernelFn, PositionalKernel, resolve_kernel
from .partition import Partition
from .samplers import make_sampler


def sample_partitions(
    n: int,
    slope: float,
    num_samples: int,
    scheme: str = "binning",
    seed: int | torch.Generator | None = None,
    kernel: PositionalKernel | str | KernelFn | None = None,
    head: int = 0,
) -> list[Partition]:
    """R partitions of n positions for one head (``slope`` = m; the exponent a if kernel='power').

    ``num_samples`` (R) is an integer in [1, 2^16 = 65536]; ValueError otherwise.

    ``head`` is the global head index that, with ``seed``, fixes the blocks (docs/blocks.md): the
    partitions of head h here are those that attention with the same seed draws for head h.
    """
    return make_sampler(scheme, resolve_kernel(kernel, slope)).sample(n, num_samples, seed, head)


def sample_masks(
    n: int,
    slope: float,
    num_samples: int,
    scheme: str = "binning",
    seed: int | torch.Generator | None = None,
    kernel: PositionalKernel | str | KernelFn | None = None,
    head: int = 0,
) -> torch.Tensor:
    """R sampled block-diagonal masks, bool (R, n, n); their mean converges to the kernel.

    Same arguments as :func:`sample_partitions`; the same seed gives the same partitions.
    """
    n = check_int("n", n)
    num_samples = check_num_samples(num_samples)
    check_dense_size("n", num_samples * n * n, f"R*n*n = {num_samples}*{n}*{n}")
    partitions = sample_partitions(n, slope, num_samples, scheme, seed, kernel, head)
    return torch.stack([partition.mask() for partition in partitions])


def mask_running_mean(
    n: int,
    slope: float,
    num_samples: int,
    scheme: str = "binning",
    seed: int | torch.Generator | None = None,
    checkpoints: Sequence[int] | torch.Tensor | None = None,
    kernel: PositionalKernel | str | KernelFn | None = None,
    head: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Means of the first r sampled masks at each checkpoint r.

    Returns ``(means, checkpoints)``: float32 (C, n, n) and int64 (C,). ``checkpoints`` defaults
    to every r = 1..R; given values must be integers in 1..R. The masks are those of
    :func:`sample_masks` with the same arguments. Raises ValueError for arguments out of range,
    C n^2 above MAX_DENSE_ELEMENTS, or R n sampled positions above the allocation cap.
    """
    n = check_int("n", n)
    num_samples = check_num_samples(num_samples)
    if checkpoints is None:
        checkpoints = torch.arange(1, num_samples + 1)
    checkpoints = check_int_vector("checkpoints", checkpoints, 1, num_samples)
    if checkpoints.numel() == 0:
        raise ValueError(f"checkpoints must be non-empty with values in 1..num_samples = 1..{num_samples}")
    checkpoints = torch.unique(checkpoints)  # sorted, no repeats
    check_dense_size("n", checkpoints.numel() * n * n, f"checkpoints*n*n = {checkpoints.numel()}*{n}*{n}")

    sample, starts, ends = make_sampler(scheme, resolve_kernel(kernel, slope)).block_table(n, num_samples, seed, head)
    # Count masks with a 2-D difference array: block [a, b) adds +1 at (a, a) and (b, b) and -1 at
    # (a, b) and (b, a); two cumulative sums give the counts. O(blocks) per sample, O(n^2) only
    # at checkpoints, instead of O(n^2) per sample.
    corners = torch.zeros(n + 1, n + 1, dtype=torch.int32)
    means = torch.empty(checkpoints.numel(), n, n, dtype=torch.float32)
    # The table is sorted by sample: the blocks of samples [done, upto) are one slice of it.
    cut_at = torch.searchsorted(sample, checkpoints, right=False).tolist()
    first = 0
    for index, (upto, last) in enumerate(zip(checkpoints.tolist(), cut_at)):
        block_starts, block_ends = starts[first:last], ends[first:last]
        ones = torch.ones_like(block_starts, dtype=torch.int32)
        for rows, cols, sign in (
            (block_starts, block_starts, 1),
            (block_ends, block_ends, 1),
            (block_starts, block_ends, -1),
            (block_ends, block_starts, -1),
        ):
            corners.index_put_((rows, cols), sign * ones, accumulate=True)
        # int32 sums (torch would widen to int64): every partial sum is a count in [-R, R], R <= 2^16.
        means[index] = corners.cumsum(0, dtype=torch.int32).cumsum_(1)[:n, :n] / upto
        first = last
    return means, checkpoints
