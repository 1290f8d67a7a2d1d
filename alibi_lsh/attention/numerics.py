"""Finite inputs give finite outputs: values rescaled where a sum of them would overflow.

The fused kernels add up to n weighted values before dividing by the softmax sum, so values near
the largest finite number overflow (float32 3e37 at n = 200), where SDPA's normalized weights do
not. A wider type does not help float64 nor the kernels' float32 accumulators, so such values are
divided by a power of two (exact) and the output multiplied back. This reads the values: it runs
beside the argument checks, outside the attention's autograd functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .._checks import compute_dtype


def value_scale(v: torch.Tensor, terms: int) -> float:
    """1, or the power of two s for which a sum of ``terms`` entries of v / s stays below half the
    compute dtype's largest finite number. ``v`` holds the values a call reads (checked finite)."""
    if v.numel() == 0:
        return 1.0
    low, high = (float(x) for x in torch.aminmax(v.detach()))
    largest = max(-low, high)
    limit = torch.finfo(compute_dtype(v.dtype)).max / (2 * max(terms, 1))
    return 1.0 if largest <= limit else 2.0 ** math.ceil(math.log2(largest / limit))


def attend_with_value_scale(
    attend: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor, scale: float
) -> torch.Tensor:
    """``attend(v)``, or ``attend(v / scale) * scale`` when ``scale`` != 1 (differentiable either way)."""
    return attend(v) if scale == 1.0 else attend(v / scale) * scale
