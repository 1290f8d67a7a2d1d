"""The numbers behind the Theory page: the width law, the triangle mixture and the bounds, each
next to what the sampler produces. No Streamlit here."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import torch

from ...kernels import PositionalKernel, resolve_kernel
from ...masks import mask_running_mean
from ...samplers import make_sampler
from .mask_data import block_bounds, claim_bounds, claim_data, mean_of_masks


def diagonal_means(matrix: torch.Tensor) -> torch.Tensor:
    """The mean of each diagonal above the main one of an (n, n) matrix: entry d averages
    matrix[i, i + d] over i (float64 (n,)), in one pass instead of n diagonal views."""
    n = matrix.shape[-1]
    rows, cols = torch.triu_indices(n, n)
    sums = torch.zeros(n, dtype=torch.float64).index_add_(0, cols - rows, matrix[rows, cols].to(torch.float64))
    return sums / torch.arange(n, 0, -1, dtype=torch.float64)


@functools.lru_cache(maxsize=32)  # two (n,) float64 arrays each
def kernel_profile(kernel: str, parameter: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """k(d) for d = 0..n-1 by the formula and as the triangle mixture sum_W pi(W)(1-d/W)_+, float64:
    the analytic part of :func:`distance_profile`, which does not depend on R or the seed (a class
    asks for new ones at every rerun). Shared, read-only."""
    positional = resolve_kernel(kernel, parameter)
    distances = torch.arange(n, dtype=torch.float64)
    exact = positional.distance_values(n)
    # sum_W pi(W) (1 - d/W)_+ = A(d) - d B(d) with A(d) = sum_{W>d} pi(W), B(d) = sum_{W>d} pi(W)/W.
    widths = torch.arange(1, 100 * n + 1, dtype=torch.float64)
    pmf = positional.width_pmf(widths)
    tail = positional.width_tail(widths[-1:]).item()  # widths beyond 100 n: (1 - d/W) ~ 1
    above = pmf.flip(0).cumsum(0).flip(0)  # above[w-1] = sum_{W>=w} pi(W)
    above_over_w = (pmf / widths).flip(0).cumsum(0).flip(0)
    d = distances.long()
    mixture = above[d] - distances * above_over_w[d] + tail  # W >= d+1, i.e. W > d
    exact, mixture = exact.numpy(), mixture.numpy()
    exact.flags.writeable = mixture.flags.writeable = False
    return exact, mixture


def distance_profile(
    n: int, parameter: float, samples: int, scheme: str, seed: int, kernel: str = "alibi", head: int = 0
) -> pd.DataFrame:
    """k(d) three ways for d = 0..n-1: the formula, the triangle mixture sum_W pi(W)(1-d/W)_+,
    and the sampled mean M_hat averaged along the d-th diagonal.

    ``kernel`` is "alibi" (``parameter`` = slope m) or "power" (``parameter`` = exponent a).
    """
    exact, mixture = kernel_profile(kernel, parameter, n)
    if kernel == "alibi":  # the mean the page's other numbers use too (one sampling per setting)
        mean = mean_of_masks(n, parameter, samples, scheme, seed, head).to(torch.float64)
    else:
        means, _ = mask_running_mean(
            n, parameter, samples, scheme, seed, checkpoints=[samples], kernel=kernel, head=head
        )
        mean = means[0].to(torch.float64)
    sampled = diagonal_means(mean)
    return pd.DataFrame(
        {
            "distance": np.arange(n, dtype=np.float64),
            "formula": exact,
            "triangle mixture": mixture,
            "sampled mean": sampled.numpy(),
        }
    )


@functools.lru_cache(maxsize=64)  # three floats each
def width_law_moments(slope: float) -> tuple[float, float, int, float]:
    """(sum of pi(W) over W < 200000, E[W], floor(E[W]), P(W > floor(E[W]))) of ALiBi's width law:
    the analytic column of :func:`width_law_check`, which depends on the slope alone."""
    kernel = PositionalKernel.alibi(slope)
    pmf = kernel.width_pmf(torch.arange(1, 200_000, dtype=torch.float64))
    mean_width = kernel.mean_width()
    threshold = math.floor(mean_width)
    return float(pmf.sum()), mean_width, threshold, float(kernel.width_tail(torch.tensor([float(threshold)]))[0])


def width_law_check(
    n: int, slope: float, scheme: str, seed: int, num_samples: int = 1000, head: int = 0
) -> pd.DataFrame:
    """Analytic against sampled: the total probability of the law, E[W] and P(W > E[W])."""
    total, mean_width, threshold, tail = width_law_moments(slope)
    # The widths W of binning (qmc: its own points); cuts draws no width, so binning stands in.
    sampler = make_sampler("binning" if scheme == "cuts" else scheme, PositionalKernel.alibi(slope))
    drawn = sampler.draw(num_samples, seed, head)[0].numpy().astype(np.float64)
    return pd.DataFrame(
        {
            "quantity": ["sum of pi(W)", "E[W] = (1+q)/(1-q)", f"P(W > {threshold})"],
            "analytic": [total, mean_width, tail],
            f"sampled ({num_samples} draws)": [1.0, float(drawn.mean()), float((drawn > threshold).mean())],
        }
    )


def largest_block(n: int, slope: float, samples: int, scheme: str, seed: int, head: int = 0) -> int:
    """The longest block over samples 0..R-1 of global head ``head`` (positions)."""
    _, starts, ends = block_bounds(n, slope, samples, scheme, seed, head)
    return int((ends - starts).max())


# Why each 95% bound sits far above the measured value: one line each, shown beside the bounds.
BOUND_REASONS = {
    "max-norm error": "Hoeffding gives every entry the worst variance 1/4 (the true one is K(1-K)/R, small where K "
    "is near 0 or 1), and the union bound pays log(n(n-1)/delta) to cover all pairs at once.",
    "spectral-norm error": "Matrix Bernstein charges every sample its largest possible block L (a far-tail width, "
    "up to n) where a typical block is about 2/m wide, and its constants are worst-case.",
    "largest block (over the R samples)": "L is the width that all R samples stay under except with probability "
    "delta/(2n): the far tail of the width law, capped at n; the largest block drawn sits in the bulk.",
}


def bounds_table(
    n: int, slope: float, samples: int, scheme: str, seed: int, delta: float = 0.05, head: int = 0
) -> pd.DataFrame:
    """Each bound at the current (n, m, R) next to the measured error of one run, and why it is loose."""
    data = claim_data(n, slope, samples, scheme, seed, head)
    max_bound, spectral_bound, block_bound = claim_bounds(n, slope, samples, scheme, delta)
    return pd.DataFrame(
        {
            "quantity": ["max-norm error", "spectral-norm error", "largest block (over the R samples)"],
            "bound (95%)": [max_bound, spectral_bound, float(block_bound)],
            "measured": [
                data.max_error,
                data.spectral_error,
                float(largest_block(n, slope, samples, scheme, seed, head)),
            ],
            "why the bound is loose": list(BOUND_REASONS.values()),
        }
    )


def clear_profile_cache() -> None:
    """Forget the cached analytic profiles and width-law moments (when the class has left)."""
    kernel_profile.cache_clear()
    width_law_moments.cache_clear()
