"""Shared fixtures: seeded random q, k, v in the (B, H, n, d) layout of torch SDPA."""

from __future__ import annotations

import pytest
import torch


def random_qkv(batch: int, heads: int, n: int, dim: int, seed: int = 0, dtype=torch.float32, score_scale: float = 1.0):
    """q, k, v with entries N(0, 1); q is multiplied by ``score_scale`` to sharpen the attention."""
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, n, dim, generator=generator, dtype=torch.float64) for _ in range(3))
    return (q * score_scale).to(dtype), k.to(dtype), v.to(dtype)


@pytest.fixture
def qkv_small():
    return random_qkv(2, 3, 37, 8, seed=1)
