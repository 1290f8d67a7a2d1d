"""The numbers behind the mask pages (Overview, Masks, Convergence): pure functions on the public API.

No Streamlit here (:mod:`alibi_lsh.app.data.cache` wraps these in ``st.cache_data``), so every function
can be tested on its own. Each returns a small frozen dataclass (or a table): matrices are numpy
float32 arrays, (p, p) for one head and (H, p, p) for all heads, block-averaged for display to at
most p pixels (``factor`` positions per pixel); positions and widths are in tokens.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...kernels import PositionalKernel
from ...masks import mask_running_mean, sample_partitions
from ...metrics import (
    block_size_bound,
    entrywise_errors,
    max_norm_bound,
    spectral_norm_bound,
    spectral_norm_error,
)
from ...samplers import make_sampler
from ...slopes import alibi_bias, alibi_kernel, alibi_slopes, distances

# Heatmaps are block-averaged to the resolution they are displayed at: a projector shows ~1000
# pixels across two or three panels, and the per-head grid's panels are ~130 px wide on a laptop
# (16 of them: 64 x 64 in 8-bit colours is ~90 kB, against 1.4 MB for 128 x 128 float32).
MAX_HEATMAP_PIXELS = 256
PER_HEAD_PIXELS = 64


def downsample(matrix: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Block-average the last two (square) dims down to at most ``size``; returns (array, factor).

    factor = ceil(n / size) positions per pixel (1 means unchanged); a ragged last block is
    averaged over the positions it has. The result is float32.
    """
    n = matrix.shape[-1]
    factor = max(1, math.ceil(n / size))
    if factor == 1:
        return matrix, 1
    pixels = math.ceil(n / factor)
    ragged = pixels * factor - n
    lead = matrix.shape[:-2]
    # Zero-pad to a multiple of the factor and add the factor x factor tiles with strided slices:
    # ~10x faster than np.add.reduceat or a .sum over a short axis (this runs on every animation
    # frame).
    # float32 sums: at most factor^2 <= 64 terms in 0..1 (n <= 1024), far below display precision.
    # Sums accumulate in place, in the same order (fresh arrays of this size cost page faults).
    if ragged:
        padded = np.zeros((*lead, pixels * factor, pixels * factor), dtype=np.float32)
        padded[..., :n, :n] = matrix
    else:
        padded = np.asarray(matrix, dtype=np.float32)  # no copy for float32 input
    across = padded.reshape(*lead, pixels * factor, pixels, factor)
    summed = across[..., 0].copy()  # (..., pixels * factor, pixels)
    for k in range(1, factor):
        summed += across[..., k]
    down = summed.reshape(*lead, pixels, factor, pixels)
    summed = down[..., 0, :].copy()  # (..., pixels, pixels)
    for k in range(1, factor):
        summed += down[..., k, :]
    counts = np.full(pixels, float(factor))
    counts[-1] -= ragged
    return (summed / counts[:, None] / counts[None, :]).astype(np.float32), factor


# --- Overview ---------------------------------------------------------------------------------


def block_bounds(n: int, slope: float, samples: int, scheme: str, seed: int, head: int = 0):
    """(sample, start, end) of every block of samples 0..R-1 of global head ``head``: the sampler's
    vectorised block table (``PartitionSampler.block_table``), int64 numpy arrays."""
    table = make_sampler(scheme, PositionalKernel.alibi(slope)).block_table(n, samples, seed, head)
    return tuple(column.numpy() for column in table)


@functools.lru_cache(maxsize=16)  # n^2 float32 each: 1 MB at n = 512; the 8 heads of a setting fit
def mean_of_masks(n: int, slope: float, samples: int, scheme: str, seed: int, head: int = 0) -> torch.Tensor:
    """The mean of the first R masks of global head ``head``, float32 (n, n), from
    :func:`alibi_lsh.mask_running_mean`. A page's numbers and figures of one setting ask for it
    more than once (the errors, the diagonal profile, the per-head grid, the attention page), so
    the last few are kept; shared, read-only.
    """
    return mask_running_mean(n, slope, samples, scheme, seed, checkpoints=[samples], head=head)[0][0]


@dataclass(frozen=True)
class ClaimData:
    """How far the mean of R masks (full n x n) is from exp(-m|i-j|): max-norm, spectral norm and
    relative Frobenius errors, and the 95% bounds of the first two for independent samples."""

    max_error: float
    spectral_error: float
    frobenius_error: float
    max_bound: float
    spectral_bound: float


@functools.lru_cache(maxsize=64)  # five floats each; a page's metrics and Theory's bounds table share them
def claim_data(n: int, slope: float, samples: int, scheme: str, seed: int, head: int = 0) -> ClaimData:
    """The errors of the mean of R masks of one head, and their bounds (see :class:`ClaimData`).

    ``head`` is the global head index (0-based) whose blocks are drawn (docs/blocks.md), so these
    are the numbers of the masks the live figure draws for the same settings.
    """
    kernel = alibi_kernel(n, [slope])[0]
    mean = mean_of_masks(n, slope, samples, scheme, seed, head)
    max_error, frobenius_error = entrywise_errors(mean, kernel)  # one difference for both
    max_bound, spectral_bound, _ = claim_bounds(n, slope, samples, scheme)
    return ClaimData(
        max_error=float(max_error),
        spectral_error=float(spectral_norm_error(mean, kernel)),
        frobenius_error=float(frobenius_error),
        max_bound=max_bound,
        spectral_bound=spectral_bound,
    )


@functools.lru_cache(maxsize=64)
def claim_bounds(n: int, slope: float, samples: int, scheme: str, delta: float = 0.05) -> tuple[float, float, int]:
    """(max-norm bound, spectral-norm bound, block-size bound L) holding with probability 1 - delta
    for R independent samples (:mod:`alibi_lsh.metrics`); cached: the Overview's metrics and the
    Theory page's table show the same ones, and each spectral bound inverts the width law."""
    return (
        float(max_norm_bound(n, samples, delta)),
        float(spectral_norm_bound(n, slope, samples, delta, scheme)),
        int(block_size_bound(n, slope, samples, delta, scheme)),
    )


def claim_table(n: int, slope: float, samples: int, scheme: str, seed: int, head: int = 0) -> pd.DataFrame:
    """The kernel, the mean of R masks and their difference at every (i, j), full precision (CSV)."""
    kernel = alibi_kernel(n, [slope])[0].numpy()
    mean = mean_of_masks(n, slope, samples, scheme, seed, head).numpy().copy()  # the cached one stays as it is
    size = kernel.shape[-1]
    rows, cols = divmod(np.arange(size * size), size)
    columns = {"kernel": kernel, "mean": mean, "difference": mean - kernel}
    return pd.DataFrame({"i": rows, "j": cols, **{name: matrix.reshape(-1) for name, matrix in columns.items()}})


@dataclass(frozen=True, eq=False)
class BiasKernel:
    """ALiBi's bias -m|i-j| and its exponential exp(-m|i-j|) for one head, float32 (p, p)."""

    bias: np.ndarray
    kernel: np.ndarray
    factor: int


def bias_kernel(n: int, slope: float) -> BiasKernel:
    """The bias ALiBi adds to the scores and the factor it multiplies the attention by."""
    bias, factor = downsample(alibi_bias(n, [slope])[0].numpy(), MAX_HEATMAP_PIXELS)
    kernel, _ = downsample(alibi_kernel(n, [slope])[0].numpy(), MAX_HEATMAP_PIXELS)
    return BiasKernel(bias=bias.astype(np.float32), kernel=kernel.astype(np.float32), factor=factor)


# --- Masks ----------------------------------------------------------------------------------


def partition_table(partitions) -> pd.DataFrame:
    """One row per sampled partition: its draw (W, s) or cut positions and its block lengths."""
    rows = []
    for index, partition in enumerate(partitions, start=1):
        lengths = partition.lengths()
        starts = partition.starts.tolist()
        rows.append(
            {
                "sample": index,
                "draw": partition.describe(),
                "short": f"W={partition.width}, s={partition.shift}"
                if partition.width is not None
                else f"{partition.num_blocks - 1} cuts",
                "W": partition.width,
                "s": partition.shift,
                "blocks": partition.num_blocks,
                "longest block": int(lengths.max()),
                "block starts": ", ".join(map(str, starts[:24])) + (" ..." if len(starts) > 24 else ""),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class MaskSamples:
    """The first sampled masks of one head over positions 0..n-1: ``starts`` (block starts per
    mask, which draw it exactly) and ``table`` (:func:`partition_table`)."""

    n: int
    starts: list[list[int]]
    table: pd.DataFrame


def mask_samples(n: int, slope: float, count: int, scheme: str, seed: int, head: int = 0) -> MaskSamples:
    """The first ``count`` sampled masks of global head ``head`` and their partitions."""
    partitions = sample_partitions(n, slope, count, scheme, seed, head=head)
    return MaskSamples(n=n, starts=[p.starts.tolist() for p in partitions], table=partition_table(partitions))


def interior_lengths(cuts: np.ndarray) -> np.ndarray:
    """Lengths of the blocks that touch neither end, for cut patterns ``cuts`` bool (R, n - 1)
    (True: a cut after position t): the gaps between consecutive cuts of each sample."""
    rows, positions = np.nonzero(cuts)  # row-major: each sample's cuts in increasing order
    same_sample = rows[1:] == rows[:-1]
    return np.diff(positions)[same_sample]


def block_width_law(
    n: int, slope: float, scheme: str, seed: int, num_samples: int = 1000, head: int = 0
) -> pd.DataFrame:
    """Sampled block widths against the theoretical law.

    binning / qmc: the drawn width W of each partition against pi(W) = W q^(W-1) (1-q)^2.
    cuts: the length of every block that does not touch either end against the geometric law
    q^(L-1) (1-q). Returns columns ``width``, ``sampled`` (frequency), ``theory`` (probability),
    cut at the 99.5% quantile of the law so the bars stay readable.
    """
    kernel = PositionalKernel.alibi(slope)
    # The samplers' vectorised draws, not 1000 Partition objects (~20 ms per new setting): the
    # same blocks (docs/blocks.md; tests/test_figures.py compares them with sample_partitions).
    sampler = make_sampler(scheme, kernel)
    q = math.exp(-slope)
    if scheme == "cuts":
        values = interior_lengths(sampler.draw(n, num_samples, seed, head).numpy())
        top = max(1, math.ceil(math.log(0.005) / math.log(q))) if q > 0 else 1
        widths = np.arange(1, top + 1)
        theory = q ** (widths - 1) * (1 - q)
    else:
        values = sampler.draw(num_samples, seed, head)[0].numpy()
        top = int(kernel.width_quantile(torch.tensor([0.995]))[0])
        widths = np.arange(1, top + 1)
        theory = kernel.width_pmf(torch.as_tensor(widths)).numpy()
    counts = np.bincount(np.clip(values, 0, top + 1), minlength=top + 2)[1 : top + 1]
    sampled = counts / max(1, len(values))
    return pd.DataFrame({"width": widths, "sampled": sampled, "theory": theory})


# --- Convergence ----------------------------------------------------------------------------


def error_checkpoints(samples: int) -> list[int]:
    """Powers of two up to R, and R itself: evenly spaced on the log-log chart."""
    points = [2**k for k in range(int(math.log2(samples)) + 1)]
    return sorted(set(points) | {samples})


METRICS = ("max-norm", "spectral", "relative Frobenius")


def error_curves(
    n: int,
    slope: float,
    samples: int,
    schemes: tuple[str, ...],
    seeds: tuple[int, ...],
    spectral: bool = True,
    head: int = 0,
) -> pd.DataFrame:
    """Errors of the running mean against R for several schemes and seeds (long format).

    Columns: ``scheme``, ``seed``, ``R``, ``metric`` (one of :data:`METRICS`), ``error``.
    The spectral norm (Lanczos, the slowest part) is skipped when ``spectral`` is False.
    """
    kernel = alibi_kernel(n, [slope])[0]
    checkpoints = error_checkpoints(samples)
    rows = []
    for scheme in schemes:
        for seed in seeds:
            means, _ = mask_running_mean(n, slope, samples, scheme, seed, checkpoints=checkpoints, head=head)
            max_errors, frobenius_errors = entrywise_errors(means, kernel)
            measured = {"max-norm": max_errors, "relative Frobenius": frobenius_errors}
            if spectral:
                measured["spectral"] = spectral_norm_error(means, kernel)
            for metric, errors in measured.items():
                rows += [
                    {"scheme": scheme, "seed": seed, "R": r, "metric": metric, "error": float(e)}
                    for r, e in zip(checkpoints, errors.tolist())
                ]
    return pd.DataFrame(rows)


def summarize_errors(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean, min and max over seeds per (scheme, metric, R): the line and the band."""
    grouped = curves.groupby(["scheme", "metric", "R"])["error"]
    return grouped.agg(mean="mean", low="min", high="max").reset_index()


def reference_lines(
    n: int, slope: float, samples: int, scheme: str, summary: pd.DataFrame, delta: float = 0.05
) -> pd.DataFrame:
    """The 1/sqrt(R) guide and the theoretical bounds at the error checkpoints (long format).

    Columns ``R``, ``metric``, ``line`` ("1/sqrt(R) guide" or "bound (95%)"), ``value``. The guide
    for each metric starts at the mean measured error at R = 1 (over schemes) and falls as
    1/sqrt(R); bounds (max-norm, spectral; for those in ``summary``) hold with probability 1 - delta
    for independent samples.
    """
    rows = []
    checkpoints = error_checkpoints(samples)
    for metric in summary["metric"].unique():
        start = summary[(summary["metric"] == metric) & (summary["R"] == 1)]["mean"].mean()
        rows += [
            {"R": r, "metric": metric, "line": "1/sqrt(R) guide", "value": start / math.sqrt(r)} for r in checkpoints
        ]
    bounds = {
        "max-norm": lambda r: max_norm_bound(n, r, delta),
        "spectral": lambda r: spectral_norm_bound(n, slope, r, delta, scheme),
    }
    # Bounds only for the metrics measured: the spectral bound costs a block-size quantile per R.
    for metric in sorted(bounds.keys() & set(summary["metric"])):
        rows += [{"R": r, "metric": metric, "line": "bound (95%)", "value": bounds[metric](r)} for r in checkpoints]
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class PerHead:
    """Kernel and mean of R masks of every standard ALiBi head, float32 (H, p, p) for display, and
    ``table``: head (from 1), slope, mean width E[W], max-norm and relative Frobenius error."""

    kernels: np.ndarray
    means: np.ndarray
    factor: int
    table: pd.DataFrame


def toeplitz_kernels(n: int, slopes: list[float]) -> torch.Tensor:
    """exp(-m_h |i-j|) for every slope, float64 (H, n, n): :func:`alibi_lsh.alibi_kernel` bit for bit,
    gathered from the n values exp(-m_h d) instead of n^2 exponentials (half the time at n = 400)."""
    values = torch.exp(-torch.as_tensor(slopes, dtype=torch.float64)[:, None] * torch.arange(n, dtype=torch.float64))
    return values[:, distances(n)]


@functools.lru_cache(maxsize=2)  # H n^2 float64 each: 16 MB at n = 512, so only the last two n
def _head_kernels(n: int, heads: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, int]:
    """The kernels of every head, float64 (H, n, n), their Frobenius norms (H,) and their display
    view: the part of :func:`per_head_data` that depends on n and H only (a student's new seed or
    R reuses it). Shared and read-only."""
    kernels = toeplitz_kernels(n, alibi_slopes(heads).tolist())
    small, factor = downsample(kernels.numpy(), PER_HEAD_PIXELS)
    return kernels, torch.linalg.matrix_norm(kernels), small.astype(np.float32), factor


def clear_kernel_cache() -> None:
    """Forget the cached per-head kernels and claim numbers (when the class has left)."""
    _head_kernels.cache_clear()
    claim_data.cache_clear()
    claim_bounds.cache_clear()


def per_head_data(n: int, heads: int, samples: int, scheme: str, seed: int) -> PerHead:
    """Every head of an H-head ALiBi model averaging R masks of its own width law (head h draws the
    blocks of global head h, as attention does)."""
    slopes = alibi_slopes(heads).tolist()
    kernels, kernel_norms, small_kernels, factor = _head_kernels(n, heads)
    means = torch.stack([mean_of_masks(n, m, samples, scheme, seed, h) for h, m in enumerate(slopes)])
    max_errors, frobenius_errors = entrywise_errors(means, kernels, target_norm=kernel_norms)
    table = pd.DataFrame(
        {
            "head": range(1, heads + 1),
            "slope": slopes,
            "mean width": [PositionalKernel.alibi(m).mean_width() for m in slopes],
            "max-norm": max_errors.tolist(),
            "relative Frobenius": frobenius_errors.tolist(),
        }
    )
    small_means, _ = downsample(means.numpy(), PER_HEAD_PIXELS)
    return PerHead(
        kernels=small_kernels,
        means=small_means.astype(np.float32),
        factor=factor,
        table=table,
    )
