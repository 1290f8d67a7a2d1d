"""The numbers behind the app's figures: pure functions on top of the public ``alibi_lsh`` API.

No Streamlit here (``app_cache`` wraps these in ``st.cache_data``), so every function can be
tested on its own. Matrices are returned as numpy arrays: (n, n) for one head, (H, n, n) for all
heads; positions and widths are in tokens.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..attention import alibi_attention, window_alibi_attention
from ..kernels import PositionalKernel, resolve_kernel
from ..masks import mask_running_mean, sample_masks, sample_partitions
from ..metrics import (
    block_size_bound,
    max_norm_bound,
    max_norm_error,
    relative_frobenius_error,
    spectral_norm_bound,
    spectral_norm_error,
)
from ..slopes import alibi_kernel, alibi_slopes

# Heatmaps larger than this are block-averaged before drawing: a projector shows ~1000 pixels
# across three panels anyway, and it keeps the page's data (and its run time) small.
MAX_HEATMAP_PIXELS = 256
# The animated running mean uses at most this many pixels and frames (data sent once, then played
# in the browser: 2 panels x 40 frames x 128^2 float32 is about 5 MB).
MAX_ANIMATION_PIXELS = 128
MAX_ANIMATION_FRAMES = 40


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
    padded = np.zeros((*lead, pixels * factor, pixels * factor), dtype=np.float32)
    padded[..., :n, :n] = matrix
    across = padded.reshape(*lead, pixels * factor, pixels, factor)
    summed = sum(across[..., k] for k in range(factor))  # (..., pixels * factor, pixels)
    down = summed.reshape(*lead, pixels, factor, pixels)
    summed = sum(down[..., k, :] for k in range(factor))  # (..., pixels, pixels)
    counts = np.full(pixels, float(factor))
    counts[-1] -= ragged
    return (summed / counts[:, None] / counts[None, :]).astype(np.float32), factor


# --- Overview -------------------------------------------------------------------------------


def claim_data(n: int, slope: float, samples: int, scheme: str, seed: int) -> dict:
    """The kernel exp(-m|i-j|), the mean of R sampled masks and their errors, for one head.

    Returns ``kernel`` and ``mean`` float32 (p, p), block-averaged to at most
    :data:`MAX_HEATMAP_PIXELS` for display (``factor`` positions per pixel), and the errors of the
    full n x n mean: ``max`` (max-norm), ``spectral`` (spectral norm), ``frobenius`` (relative).
    """
    kernel = alibi_kernel(n, [slope])[0]
    means, _ = mask_running_mean(n, slope, samples, scheme, seed, checkpoints=[samples])
    mean = means[0]
    kernel_view, factor = downsample(kernel.numpy(), MAX_HEATMAP_PIXELS)
    mean_view, _ = downsample(mean.numpy(), MAX_HEATMAP_PIXELS)
    return {
        "kernel": kernel_view.astype(np.float32),
        "mean": mean_view.astype(np.float32),
        "factor": factor,
        "max": float(max_norm_error(mean, kernel)),
        "spectral": float(spectral_norm_error(mean, kernel)),
        "frobenius": float(relative_frobenius_error(mean, kernel)),
    }


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


def mask_samples(n: int, slope: float, count: int, scheme: str, seed: int) -> dict:
    """The first ``count`` sampled masks and their partitions (the same draws as ``sample_masks``).

    Returns ``masks`` float32 (count, p, p) (0/1, block-averaged to at most
    :data:`MAX_HEATMAP_PIXELS` for display, ``factor`` positions per pixel), ``starts`` (block
    starts per mask, in positions) and ``table`` (see :func:`partition_table`).
    """
    partitions = sample_partitions(n, slope, count, scheme, seed)
    masks = sample_masks(n, slope, count, scheme, seed)
    view, factor = downsample(masks.to(torch.float32).numpy(), MAX_HEATMAP_PIXELS)
    return {
        "masks": view.astype(np.float32),
        "factor": factor,
        "starts": [p.starts.tolist() for p in partitions],
        "table": partition_table(partitions),
    }


def block_width_law(n: int, slope: float, scheme: str, seed: int, num_samples: int = 1000) -> pd.DataFrame:
    """Sampled block widths against the theoretical law.

    binning / qmc: the drawn width W of each partition against pi(W) = W q^(W-1) (1-q)^2.
    cuts: the length of every block that does not touch either end against the geometric law
    q^(L-1) (1-q). Returns columns ``width``, ``sampled`` (frequency), ``theory`` (probability),
    cut at the 99.5% quantile of the law so the bars stay readable.
    """
    kernel = PositionalKernel.alibi(slope)
    partitions = sample_partitions(n, slope, num_samples, scheme, seed)
    q = math.exp(-slope)
    if scheme == "cuts":
        interior = [p.lengths()[1:-1] for p in partitions if p.num_blocks > 2]
        values = torch.cat(interior).numpy() if interior else np.array([], dtype=np.int64)
        top = max(1, math.ceil(math.log(0.005) / math.log(q))) if q > 0 else 1
        widths = np.arange(1, top + 1)
        theory = q ** (widths - 1) * (1 - q)
    else:
        values = np.array([p.width for p in partitions])
        top = int(kernel.width_quantile(torch.tensor([0.995]))[0])
        widths = np.arange(1, top + 1)
        theory = kernel.width_pmf(torch.as_tensor(widths)).numpy()
    counts = np.bincount(np.clip(values, 0, top + 1), minlength=top + 2)[1 : top + 1]
    sampled = counts / max(1, len(values))
    return pd.DataFrame({"width": widths, "sampled": sampled, "theory": theory})


# --- Convergence ----------------------------------------------------------------------------


def animation_checkpoints(samples: int, max_frames: int = MAX_ANIMATION_FRAMES) -> list[int]:
    """r values for the animation: every r while r is small, then about geometric steps up to R."""
    if samples <= max_frames:
        return list(range(1, samples + 1))
    geometric = np.unique(np.round(np.geomspace(1, samples, max_frames)).astype(int))
    return sorted(set(geometric.tolist()) | {1, samples})


def running_mean_frames(n: int, slope: float, samples: int, scheme: str, seed: int) -> dict:
    """The running mean of the first r masks for the animation, block-averaged for display.

    Returns ``checkpoints`` (list of r), ``frames`` float32 (C, p, p), ``kernel`` float32 (p, p),
    ``factor`` (positions per pixel) and ``max_error`` (C,) measured at full resolution.
    """
    checkpoints = animation_checkpoints(samples)
    means, _ = mask_running_mean(n, slope, samples, scheme, seed, checkpoints=checkpoints)
    kernel = alibi_kernel(n, [slope])[0]
    max_error = max_norm_error(means, kernel).numpy()
    frames, factor = downsample(means.numpy(), MAX_ANIMATION_PIXELS)
    small_kernel, _ = downsample(kernel.numpy(), MAX_ANIMATION_PIXELS)
    return {
        "checkpoints": checkpoints,
        "frames": frames.astype(np.float32),
        "kernel": small_kernel.astype(np.float32),
        "factor": factor,
        "max_error": max_error,
    }


def error_checkpoints(samples: int) -> list[int]:
    """Powers of two up to R, and R itself: evenly spaced on the log-log chart."""
    points = [2**k for k in range(int(math.log2(samples)) + 1)]
    return sorted(set(points) | {samples})


METRICS = ("max-norm", "spectral", "relative Frobenius")


def error_curves(
    n: int, slope: float, samples: int, schemes: tuple[str, ...], seeds: tuple[int, ...], spectral: bool = True
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
            means, _ = mask_running_mean(n, slope, samples, scheme, seed, checkpoints=checkpoints)
            measured = {
                "max-norm": max_norm_error(means, kernel),
                "relative Frobenius": relative_frobenius_error(means, kernel),
            }
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


def per_head_data(n: int, heads: int, samples: int, scheme: str, seed: int) -> dict:
    """Kernel and mean of R masks for every standard ALiBi head, with their errors.

    Returns ``kernels`` and ``means`` float32 (H, p, p) block-averaged for display, ``factor``,
    and ``table``: head, slope, mean width E[W], max-norm and relative Frobenius error.
    """
    slopes = alibi_slopes(heads).tolist()
    kernels = alibi_kernel(n, slopes)
    means = torch.stack(
        [
            mask_running_mean(n, m, samples, scheme, seed, checkpoints=[samples], head=h)[0][0]
            for h, m in enumerate(slopes)
        ]
    )
    table = pd.DataFrame(
        {
            "head": range(1, heads + 1),
            "slope": slopes,
            "mean width": [PositionalKernel.alibi(m).mean_width() for m in slopes],
            "max-norm": max_norm_error(means, kernels).tolist(),
            "relative Frobenius": relative_frobenius_error(means, kernels).tolist(),
        }
    )
    small_kernels, factor = downsample(kernels.numpy(), MAX_HEATMAP_PIXELS // 2)
    small_means, _ = downsample(means.numpy(), MAX_HEATMAP_PIXELS // 2)
    return {
        "kernels": small_kernels.astype(np.float32),
        "means": small_means.astype(np.float32),
        "factor": factor,
        "table": table,
    }


# --- Attention ------------------------------------------------------------------------------

HEAD_DIM = 64


def random_qkv(n: int, heads: int, seed: int, score_scale: float, dim: int = HEAD_DIM):
    """Seeded q, k, v (1, H, n, d) with N(0, 1) entries; q is multiplied by ``score_scale``.

    With the default softmax scale 1/sqrt(d) the logits q.k/sqrt(d) have standard deviation
    ``score_scale``: 0 gives uniform attention (pure ALiBi kernel), larger values peakier rows.
    """
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, heads, n, dim, generator=generator, dtype=torch.float64) for _ in range(3))
    return q * score_scale, k, v


def head_mask_means(n: int, slopes: list[float], samples: int, scheme: str, seed: int) -> torch.Tensor:
    """M_hat for every head, float64 (H, n, n), from the very partitions ``lsh_alibi_attention`` draws.

    Head h of an attention call draws the blocks of global head h (docs/blocks.md), which is what
    ``mask_running_mean(..., head=h)`` draws with the same seed.
    """
    return torch.stack(
        [
            mask_running_mean(n, float(m), samples, scheme, seed, checkpoints=[samples], head=h)[0][0].to(torch.float64)
            for h, m in enumerate(torch.as_tensor(slopes, dtype=torch.float64).tolist())
        ]
    )


def _weights(scores: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """normalize(exp(scores) * kernel) over the last dim, stably (scores may hold -inf)."""
    shifted = torch.exp(scores - scores.amax(dim=-1, keepdim=True)) * kernel
    return shifted / shifted.sum(dim=-1, keepdim=True)


def attention_setup(n: int, heads: int, samples: int, scheme: str, seed: int, score_scale: float, causal: bool) -> dict:
    """Scores and mask means for the attention page, float32 to keep H n^2 storage small.

    Returns ``scores`` (H, n, n) (q.k/sqrt(d), -inf above the diagonal if causal), ``means``
    M_hat (H, n, n), ``slopes`` (list of H floats) and the inputs ``q, k, v`` (1, H, n, d) float64.
    """
    q, k, v = random_qkv(n, heads, seed, score_scale)
    slopes = alibi_slopes(heads).tolist()
    scores = (q[0] @ k[0].transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), -math.inf)
    return {
        "q": q,
        "k": k,
        "v": v,
        "slopes": slopes,
        "scores": scores.float(),
        "means": head_mask_means(n, slopes, samples, scheme, seed).float(),
    }


def attention_row(setup: dict, head: int, query: int, window: int) -> pd.DataFrame:
    """Weights of one query row of one head (0-based) against key position, three ways.

    Columns ``key``, ``exact`` (ALiBi), ``approximate`` (mean of R masks: the weights the LSH
    attention uses), ``window`` (ALiBi truncated to |i-j| < window). Causal rows stop at the query.
    """
    scores = setup["scores"][head, query].double()
    n = scores.shape[-1]
    distance = (torch.arange(n, dtype=torch.float64) - query).abs()
    kernel = torch.exp(-setup["slopes"][head] * distance)
    exact = _weights(scores, kernel)
    approx = _weights(scores, setup["means"][head, query].double())
    windowed = _weights(scores, kernel * (distance < window))
    keys = int(torch.isfinite(scores).sum())  # causal rows: keys 0..query
    return pd.DataFrame(
        {
            "key": np.arange(keys),
            "exact": exact[:keys].numpy(),
            "approximate": approx[:keys].numpy(),
            "window": windowed[:keys].numpy(),
        }
    )


def dense_lsh_output(setup: dict) -> torch.Tensor:
    """normalize(exp(S) * M_hat) V head by head, (1, H, n, d) float64: the LSH output, densely."""
    outputs = [_weights(s.double(), m.double()) @ v for s, m, v in zip(setup["scores"], setup["means"], setup["v"][0])]
    return torch.stack(outputs)[None]


def _relative_error(estimate: torch.Tensor, exact: torch.Tensor) -> list[float]:
    """||estimate - exact||_F / ||exact||_F per head for (1, H, n, d) outputs."""
    diff = torch.linalg.vector_norm((estimate - exact).double(), dim=(-2, -1))[0]
    return (diff / torch.linalg.vector_norm(exact.double(), dim=(-2, -1))[0]).tolist()


def head_output_errors(setup: dict, window: int, causal: bool) -> pd.DataFrame:
    """Relative output error per head of the approximation and of the window baseline.

    The approximation is computed densely from M_hat (out = normalize(exp(S) * M_hat) V), which is
    the same algebra as the block algorithm; :func:`block_algorithm_check` confirms it.
    Columns ``head``, ``slope``, ``method`` ("LSH, R samples" / "window"), ``relative error``.
    """
    v = setup["v"]
    exact = alibi_attention(setup["q"], setup["k"], v, setup["slopes"], causal=causal)
    dense = dense_lsh_output(setup)
    window_out = window_alibi_attention(setup["q"], setup["k"], v, setup["slopes"], window, causal=causal)
    heads = len(setup["slopes"])
    return pd.DataFrame(
        {
            "head": list(range(1, heads + 1)) * 2,
            "slope": setup["slopes"] * 2,
            "method": ["LSH (mean of R masks)"] * heads + [f"window w={window}"] * heads,
            "relative error": _relative_error(dense, exact) + _relative_error(window_out, exact),
        }
    )


def block_algorithm_check(setup: dict, samples: int, scheme: str, seed: int, causal: bool) -> float:
    """max |block algorithm - dense M_hat attention| over all outputs (float64 inputs)."""
    from ..attention import lsh_alibi_attention

    block = lsh_alibi_attention(
        setup["q"], setup["k"], setup["v"], setup["slopes"], samples, causal=causal, scheme=scheme, seed=seed
    )
    return float((block.double() - dense_lsh_output(setup)).abs().max())


# --- Theory ---------------------------------------------------------------------------------


def distance_profile(
    n: int, parameter: float, samples: int, scheme: str, seed: int, kernel: str = "alibi"
) -> pd.DataFrame:
    """k(d) three ways for d = 0..n-1: the formula, the triangle mixture sum_W pi(W)(1-d/W)_+,
    and the sampled mean M_hat averaged along the d-th diagonal.

    ``kernel`` is "alibi" (``parameter`` = slope m) or "power" (``parameter`` = exponent a).
    """
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
    means, _ = mask_running_mean(n, parameter, samples, scheme, seed, checkpoints=[samples], kernel=kernel)
    mean = means[0].to(torch.float64)
    sampled = torch.stack([torch.diagonal(mean, offset=d).mean() for d in range(n)])
    return pd.DataFrame(
        {
            "distance": distances.numpy(),
            "formula": exact.numpy(),
            "triangle mixture": mixture.numpy(),
            "sampled mean": sampled.numpy(),
        }
    )


def width_law_check(n: int, slope: float, scheme: str, seed: int, num_samples: int = 1000) -> pd.DataFrame:
    """Analytic against sampled: the total probability of the law, E[W] and P(W > E[W])."""
    kernel = PositionalKernel.alibi(slope)
    widths = torch.arange(1, 200_000, dtype=torch.float64)
    pmf = kernel.width_pmf(widths)
    mean_width = kernel.mean_width()
    drawn = np.array(
        [
            p.width if p.width is not None else float("nan")
            for p in sample_partitions(n, slope, num_samples, "binning" if scheme == "cuts" else scheme, seed)
        ]
    )
    threshold = math.floor(mean_width)
    return pd.DataFrame(
        {
            "quantity": ["sum of pi(W)", "E[W] = (1+q)/(1-q)", f"P(W > {threshold})"],
            "analytic": [float(pmf.sum()), mean_width, float(kernel.width_tail(torch.tensor([float(threshold)]))[0])],
            f"sampled ({num_samples} draws)": [1.0, float(drawn.mean()), float((drawn > threshold).mean())],
        }
    )


def bounds_table(n: int, slope: float, samples: int, scheme: str, seed: int, delta: float = 0.05) -> pd.DataFrame:
    """Each bound at the current (n, m, R) next to the measured error of one run."""
    data = claim_data(n, slope, samples, scheme, seed)
    return pd.DataFrame(
        {
            "quantity": ["max-norm error", "spectral-norm error", "largest block (over the R samples)"],
            "bound (95%)": [
                max_norm_bound(n, samples, delta),
                spectral_norm_bound(n, slope, samples, delta, scheme),
                float(block_size_bound(n, slope, samples, delta, scheme)),
            ],
            "measured": [
                data["max"],
                data["spectral"],
                float(max(int(p.lengths().max()) for p in sample_partitions(n, slope, samples, scheme, seed))),
            ],
        }
    )
