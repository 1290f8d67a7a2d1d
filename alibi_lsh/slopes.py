"""ALiBi slopes, the additive bias -m|i-j| and its exponential, the kernel exp(-m|i-j|).

Shapes: H heads, n positions. The kernel is what the positional LSH reproduces in expectation,
because softmax(S + B) = normalize(exp(S) * exp(B)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._checks import as_slopes, check_dense_size, check_flag, check_int

# Heads of one layer, at most: the slopes are built as a Python list (about 32 bytes a head), and
# no model comes near 2^16 heads in a layer (BLOOM-176B has 112).
MAX_HEADS = 2**16


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """The ALiBi paper's per-head slopes, shape (H,), float32.

    For H a power of two the slopes are 2^(-8k/H), k = 1..H. Otherwise, with P the largest power
    of two below H, the first P slopes are those of P heads and the remaining H - P are taken at
    odd positions (k = 1, 3, 5, ...) of the sequence for 2P heads, which interleaves them between
    the first ones (Press et al., 2022, and their reference code).

    Raises ValueError unless num_heads is an integer in [1, MAX_HEADS = 2^16].
    """
    num_heads = check_int("num_heads", num_heads, minimum=1, maximum=MAX_HEADS)

    def power_of_two(count: int) -> list[float]:
        return [2.0 ** (-8.0 * k / count) for k in range(1, count + 1)]

    closest = 2 ** int(math.floor(math.log2(num_heads)))
    slopes = power_of_two(closest)
    if closest < num_heads:
        slopes += power_of_two(2 * closest)[0::2][: num_heads - closest]
    return torch.tensor(slopes, dtype=torch.float32)


def distances(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """|i - j| for 0 <= i, j < n, shape (n, n), int64."""
    positions = torch.arange(n, device=device)
    return (positions[:, None] - positions[None, :]).abs()


def _check_float_dtype(dtype: torch.dtype) -> torch.dtype:
    """A floating dtype: an integer one would hold INT64_MIN for -inf and truncate exp to 0 or 1."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype (float16, bfloat16, float32, float64), got {dtype!r}")
    return dtype


def _per_head(n: int, slopes: torch.Tensor | Sequence[float] | float, what: str) -> tuple[int, torch.Tensor]:
    n = check_int("n", n, minimum=1)
    slopes = as_slopes(slopes)
    check_dense_size("n", slopes.numel() * n * n, f"{what} H*n*n = {slopes.numel()}*{n}*{n}")
    return n, slopes


def alibi_bias(
    n: int,
    slopes: torch.Tensor | Sequence[float] | float,
    causal: bool = False,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """ALiBi's additive bias B[h, i, j] = -m_h |i - j|, shape (H, n, n).

    With ``causal=True`` the entries above the diagonal (j > i) are -inf, as in a decoder.
    ``dtype`` must be floating. Raises ValueError for a bad argument or H n^2 above
    MAX_DENSE_ELEMENTS.
    """
    causal, dtype = check_flag("causal", causal), _check_float_dtype(dtype)
    n, slopes = _per_head(n, slopes, "the bias")
    bias = -slopes[:, None, None] * distances(n).to(torch.float64)
    if causal:
        bias = bias.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), -math.inf)
    return bias.to(dtype)


def alibi_kernel(
    n: int,
    slopes: torch.Tensor | Sequence[float] | float,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The ALiBi kernel K[h, i, j] = exp(-m_h |i - j|), shape (H, n, n), float64 by default.

    This is the matrix that the mean of sampled block masks converges to. ``dtype`` must be
    floating. Raises ValueError for a bad argument or H n^2 above MAX_DENSE_ELEMENTS.
    """
    dtype = _check_float_dtype(dtype)
    n, slopes = _per_head(n, slopes, "the kernel")
    return torch.exp(-slopes[:, None, None] * distances(n).to(torch.float64)).to(dtype)
