"""Real attention inputs for the benchmarks: q, k, v of the trained model on held-out text.

``real_qkv`` is what ``--qkv lm`` of the benchmark command feeds to the attention functions, so
the error and speed measurements can use the distributions a trained model actually produces
(peaked, content-dependent scores) instead of random Gaussian q, k, v.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from .checkpoint import load_model
from .data import load_split
from .evaluate import capture_qkv
from .model import ALiBiGPT


@lru_cache(maxsize=1)
def _default_model() -> ALiBiGPT:
    return load_model()[0]


def real_qkv(
    n: int, layer: int = 0, batch: int = 1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v of one layer of the shipped model on ``batch`` held-out windows of ``n`` bytes.

    Windows start at random offsets of the held-out split drawn with ``seed``. n may exceed the
    training length (ALiBi extrapolates). Returns q, k, v, each (B, H, n, d) float32, and the
    model's ALiBi slopes (H,). The attention the model computes from them is
    ``alibi_attention(q, k, v, slopes, causal=True)`` with the default 1/sqrt(d) scale.
    """
    model = _default_model()
    if not 0 <= layer < model.config.n_layer:
        raise ValueError(f"layer must be in [0, {model.config.n_layer - 1}], got {layer}")
    if n < 1 or batch < 1:
        raise ValueError(f"n and batch must be >= 1, got n={n}, batch={batch}")
    val = load_split("val")
    if n + 1 > len(val):
        raise ValueError(f"n must be at most {len(val) - 1} (the held-out text has {len(val)} bytes), got {n}")
    generator = torch.Generator().manual_seed(seed)
    starts = torch.randint(len(val) - n, (batch,), generator=generator)
    x = val[starts[:, None] + torch.arange(n)].long()
    q, k, v = capture_qkv(model, x)[layer]
    return q.float().contiguous(), k.float().contiguous(), v.float().contiguous(), model.slopes.clone()
