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

from .._checks import check_int, check_num_samples
from ..samplers import SCHEMES, check_seed
from .exact import alibi_attention
from .lsh.entry import lsh_alibi_attention
from .options import DEFAULT_OPTIONS, AttentionOptions, check_options
from .window import check_windows, window_alibi_attention

AttentionKind = Literal["exact", "lsh", "window"]
KINDS = ("exact", "lsh", "window")


@dataclass(frozen=True)
class AttentionSpec:
    """Which attention every layer of a model uses.

    - ``exact``: ALiBi attention (:func:`alibi_attention`, the reference);
    - ``lsh``: :func:`lsh_alibi_attention` with ``num_samples`` (R) partitions from ``scheme``,
      keyed by ``seed`` (an int in [0, 2^63 - 1], used as is by every layer; ``seed=None``: fresh
      blocks at every call). Layers do not share partitions because their heads have distinct
      global indices (:func:`layer_head_offset`);
    - ``window``: ALiBi truncated to |i - j| < ``sliding_window`` (an int, or one per head; the
      meaning of Hugging Face's ``sliding_window``, see docs/glossary.md).

    Every field is checked here, whatever ``kind`` uses, with the messages of the attention
    functions: ``scheme`` one of SCHEMES, ``num_samples`` an integer in [1, 2^16], ``seed`` None or
    an integer in [0, 2^63 - 1], ``sliding_window`` integers >= 1. Raises ValueError.
    """

    kind: AttentionKind = "exact"
    scheme: str = "binning"
    num_samples: int = 8
    seed: int | None = 0
    sliding_window: int | Sequence[int] = field(default=64)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"attention kind must be one of {KINDS}, got {self.kind!r}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        check_num_samples(self.num_samples)
        if self.seed is not None:
            check_seed(self.seed)
        with torch.device("cpu"):  # a spec built under ``with torch.device("meta")`` checks real values
            check_windows(self.sliding_window)

    def label(self) -> str:
        """Short human-readable name, e.g. ``lsh-binning R=8`` (used in tables and charts)."""
        if self.kind == "lsh":
            return f"lsh-{self.scheme} R={self.num_samples}"
        if self.kind == "window":
            return f"window w={self.sliding_window}"
        return "exact"


EXACT = AttentionSpec("exact")


def check_spec(spec: object) -> AttentionSpec:
    """``spec`` itself when it is an AttentionSpec; ValueError naming ``spec`` otherwise (None, a kind's name, ...)."""
    if not isinstance(spec, AttentionSpec):
        raise ValueError(
            "spec must be an AttentionSpec (e.g. AttentionSpec('lsh', num_samples=8)), "
            f"got {type(spec).__name__} {spec!r}"
        )
    return spec


def layer_head_offset(layer: int, num_heads: int) -> int:
    """Global index of the first query head of layer ``layer`` (0-based) in a model with ``num_heads``
    query heads per layer: ``layer * num_heads``.

    The LSH blocks are a function of (seed, global head, sample, position) (docs/blocks.md), so
    numbering the heads across layers (layer l holds global heads l*H .. l*H + H - 1) gives every
    (layer, head) its own blocks from the one seed the user chose: no per-layer seed is derived,
    so none can leave the seed range.
    """
    return check_int("layer", layer, minimum=0) * check_int("num_heads", num_heads)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    spec: AttentionSpec = EXACT,
    *,
    causal: bool = True,
    scale: float | None = None,
    key_padding_mask: torch.Tensor | None = None,
    enable_gqa: bool = False,
    head_offset: int = 0,
    options: AttentionOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """ALiBi attention under ``spec``; (B, H, n_q, d_v) in q's dtype.

    Shapes and keyword arguments as :func:`alibi_attention` (q (B, H, n_q, d), k, v (B, H_kv,
    n_k, ·), bottom-right aligned queries, ``key_padding_mask`` with 1 = real token).
    ``head_offset`` is the global index of q's first head (an integer in [0, 2^32 - H]); it
    matters to the LSH blocks only. A model passes ``layer_head_offset(layer, H)`` for each layer
    (plus a shard's first head within the layer), so that its layers draw distinct blocks from
    ``spec.seed``. ``options`` (kernels, LSH path, budgets) go to the attention function as is.
    Raises ValueError when ``spec`` is not an AttentionSpec, and as the attention
    function of ``spec.kind`` does.
    """
    check_spec(spec)
    check_options(options)
    common = {"scale": scale, "key_padding_mask": key_padding_mask, "enable_gqa": enable_gqa, "options": options}
    if spec.kind == "exact":
        return alibi_attention(q, k, v, slopes, causal, **common)
    if spec.kind == "lsh":
        return lsh_alibi_attention(
            q, k, v, slopes, spec.num_samples, causal, spec.scheme, spec.seed, **common, head_offset=head_offset
        )
    return window_alibi_attention(q, k, v, slopes, spec.sliding_window, causal, **common)
