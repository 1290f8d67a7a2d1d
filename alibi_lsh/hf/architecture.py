"""What the adapter needs to know about one Hugging Face ALiBi architecture."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Architecture:
    """One ALiBi architecture of ``transformers``: where its attention lives and what it computes.

    Attention logits are ``scale * q.k - slopes[h] * |i - j|``, with the slopes read from the
    model's own ALiBi code (orderings, rounding and scaling differ between architectures).
    """

    model_type: str  # config.model_type
    attention_class: str  # class name of the attention modules (subclasses are patched too)
    check_config: Callable[[Any], None]  # raises ValueError when the config has no ALiBi
    slopes: Callable[[Any], torch.Tensor]  # config -> (H,) float64 slopes on the scaled logits
    scale: Callable[[nn.Module], float]  # attention module -> factor on q.k
    forward: Callable[..., Any]  # the patched forward, bound to each attention module
    positions: Callable[..., torch.Tensor]  # the model's key positions (see .exact)
    block_class: str | None = None  # class name of the layers whose forward is patched too (MPT)
    block_forward: Callable[..., Any] | None = None  # that forward: passes output_attentions on


def class_names(module: nn.Module) -> set[str]:
    """Names of a module's class and its bases (so FalconFlashAttention2 counts as FalconAttention)."""
    return {cls.__name__ for cls in type(module).__mro__}
