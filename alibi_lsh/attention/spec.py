"""Which ALiBi attention a model uses, and the one dispatch to it.

An ``AttentionSpec`` names the attention of every layer of a model: exact ALiBi, the positional
LSH estimator with R samples of a scheme, or a truncated window. :func:`attend` computes one
layer's attention under a spec; the small language model (:mod:`alibi_lsh.lm`) and the Hugging
Face adapter both call it, so the two run the same code for the same spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from .exact import alibi_attention
from .lsh import lsh_alibi_attention
from .window import window_alibi_attention

AttentionKind = Literal["exact", "lsh", "window"]
KINDS = ("exact", "lsh", "window")


@dataclass(frozen=True)
class AttentionSpec:
    """Which attention every layer of a model uses.

    - ``exact``: ALiBi attention (:func:`alibi_attention`, the reference);
    - ``lsh``: :func:`lsh_alibi_attention` with ``num_samples`` (R) partitions from ``scheme``;
      layer l draws its blocks from ``layer_seed(seed, l)``, so layers do not share partitions
      (``seed=None``: fresh blocks at every call);
    - ``window``: ALiBi truncated to |i - j| < ``window`` (an int, or one window per head).
    """

    kind: AttentionKind = "exact"
    scheme: str = "binning"
    num_samples: int = 8
    seed: int | None = 0
    window: int | Sequence[int] = field(default=64)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"attention kind must be one of {KINDS}, got {self.kind!r}")

    def label(self) -> str:
        """Short human-readable name, e.g. ``lsh-binning R=8`` (used in tables and charts)."""
        if self.kind == "lsh":
            return f"lsh-{self.scheme} R={self.num_samples}"
        if self.kind == "window":
            return f"window w={self.window}"
        return "exact"


EXACT = AttentionSpec("exact")


def layer_seed(seed: int | None, layer: int) -> int | None:
    """Seed of one layer's partitions: distinct per layer, reproducible from the run's seed."""
    return None if seed is None else seed * 1_000_003 + layer


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    spec: AttentionSpec = EXACT,
    layer: int = 0,
    *,
    causal: bool = True,
    scale: float | None = None,
    key_padding_mask: torch.Tensor | None = None,
    enable_gqa: bool = False,
    head_offset: int = 0,
) -> torch.Tensor:
    """ALiBi attention of layer ``layer`` under ``spec``; (B, H, n_q, d_v) in q's dtype.

    Shapes and keyword arguments as :func:`alibi_attention` (q (B, H, n_q, d), k, v (B, H_kv,
    n_k, ·), bottom-right aligned queries, ``key_padding_mask`` with 1 = real token);
    ``head_offset`` (the global index of q's first head, for a shard of a model's heads) matters
    to the LSH blocks only.
    """
    options = {"scale": scale, "key_padding_mask": key_padding_mask, "enable_gqa": enable_gqa}
    if spec.kind == "exact":
        return alibi_attention(q, k, v, slopes, causal, **options)
    if spec.kind == "lsh":
        seed = layer_seed(spec.seed, layer)
        return lsh_alibi_attention(
            q, k, v, slopes, spec.num_samples, causal, spec.scheme, seed, **options, head_offset=head_offset
        )
    return window_alibi_attention(q, k, v, slopes, spec.window, causal, **options)
