"""``patch_attention`` / ``unpatch_attention``: swap the attention computation of a loaded model."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from alibi_lsh.attention.spec import EXACT, AttentionSpec, layer_head_offset

from .architecture import Architecture, class_names
from .bloom import BLOOM
from .falcon import FALCON
from .layer import LayerPatch
from .mpt import MPT
from .weights import MAX_WEIGHT_ELEMENTS

ARCHITECTURES = {arch.model_type: arch for arch in (BLOOM, MPT, FALCON)}
SUPPORTED_MODEL_TYPES = tuple(ARCHITECTURES)
# The mask formats the patched layers read: the additive float mask (eager) and SDPA's.
SUPPORTED_ATTN_IMPLEMENTATIONS = ("eager", "sdpa")


def architecture(config: Any) -> Architecture:
    """The architecture of a model config; ValueError unless it is an ALiBi model the adapter supports."""
    model_type = getattr(config, "model_type", None)
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"not an ALiBi model we support: model_type {model_type!r} (supported: {', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    arch = ARCHITECTURES[model_type]
    arch.check_config(config)
    return arch


def check_alibi_config(config: Any) -> None:
    """Raise ValueError unless ``config`` describes a BLOOM, MPT or ALiBi Falcon model."""
    architecture(config)


def model_slopes(model: nn.Module) -> torch.Tensor:
    """The ALiBi slopes (H,) float64 on the model's scaled attention logits, from the model's own code.

    BLOOM and MPT use Press et al.'s slopes (``alibi_lsh.alibi_slopes``, also for head counts that
    are not powers of two); Falcon rounds them to bfloat16 and applies them after the 1 /
    sqrt(head_dim) scaling. Raises ValueError for other models.
    """
    return architecture(model.config).slopes(model.config)


def attention_modules(model: nn.Module, arch: Architecture) -> list[nn.Module]:
    """The model's attention modules of ``arch``, in layer order."""
    return [module for module in model.modules() if arch.attention_class in class_names(module)]


def patch_attention(
    model: nn.Module, spec: AttentionSpec = EXACT, *, max_weight_elements: int = MAX_WEIGHT_ELEMENTS
) -> nn.Module:
    """Make every attention layer of a BLOOM, MPT or ALiBi Falcon model compute ``spec`` (in place).

    Keeps the model's projections, weights and key-value cache; only the attention itself is
    replaced. Calling it again switches to another spec; :func:`unpatch_attention` restores the
    model's own code. Works on a model built on the meta device (slopes are kept on the CPU and
    follow the weights at each call). Returns the model.

    Args:
        model: a BLOOM, MPT or Falcon (``alibi=True``) model, eager or SDPA attention.
        spec: ``AttentionSpec("exact")`` computes the model's own attention from the slopes
            (any 0/1 attention_mask, DynamicCache and StaticCache, compilable);
            ``"lsh"`` and ``"window"`` call :func:`alibi_lsh.attention.spec.attend` (masks with one
            run of real tokens per row). Layer l's query heads are global heads l*H .. l*H + H - 1
            of ``spec.seed``: distinct blocks per layer, and decoding steps see the blocks of one
            full call.
        max_weight_elements: cap on the dense elements a layer forms for ``output_attentions=True``
            in LSH and window modes (an integer >= 1; exact mode forms the model's own weights).

    Raises:
        ValueError: for other models, an attention implementation other than eager or SDPA, a
            model without attention layers, a bad spec or cap. The patched model raises
            ValueError for attention dropout in training mode, sliding-window or quantized
            caches, and (LSH and window modes) masks with holes or weights above the cap.
    """
    if not isinstance(spec, AttentionSpec):
        raise ValueError(f"spec must be an AttentionSpec, got {type(spec).__name__}")
    if isinstance(max_weight_elements, bool) or not isinstance(max_weight_elements, int) or max_weight_elements < 1:
        raise ValueError(f"max_weight_elements must be an integer >= 1, got {max_weight_elements!r}")
    arch = architecture(model.config)
    implementation = getattr(model.config, "_attn_implementation", None) or "eager"
    if implementation not in SUPPORTED_ATTN_IMPLEMENTATIONS:
        raise ValueError(
            f"attention implementation {implementation!r} is not supported (its masks are not read); load the "
            f"model with attn_implementation in {SUPPORTED_ATTN_IMPLEMENTATIONS}"
        )
    modules = attention_modules(model, arch)
    if not modules:
        raise ValueError(f"found no {arch.attention_class} layers to patch in this model")
    slopes = arch.slopes(model.config)
    for layer, module in enumerate(modules):
        offset = layer_head_offset(layer, slopes.numel())
        module.alibi_lsh = LayerPatch(spec, slopes, arch.scale(module), offset, arch.positions, max_weight_elements)
        module.forward = types.MethodType(arch.forward, module)  # an instance attribute shadows the class method
    for block in _blocks(model, arch):
        block.__class__ = _with_forward(getattr(type(block), "alibi_lsh_base", type(block)), arch.block_forward)
    return model


def unpatch_attention(model: nn.Module) -> nn.Module:
    """Undo :func:`patch_attention`: the model computes attention with its own code again."""
    arch = architecture(model.config)
    for module in attention_modules(model, arch):
        for attribute in ("forward", "alibi_lsh"):
            module.__dict__.pop(attribute, None)
    for block in _blocks(model, arch):
        block.__class__ = getattr(type(block), "alibi_lsh_base", type(block))
    return model


@functools.cache
def _with_forward(base: type, forward: Callable[..., Any]) -> type:
    """A subclass of the layer class ``base`` whose forward is ``forward``.

    transformers wraps the forward of each layer class for gradient checkpointing when the class
    is defined (``GradientCheckpointingLayer.__init_subclass__``); a forward set on an instance
    would bypass that wrapper and silently turn checkpointing off, a subclass gets its own.
    """
    return type(f"Patched{base.__name__}", (base,), {"forward": forward, "alibi_lsh_base": base})


def _blocks(model: nn.Module, arch: Architecture) -> list[nn.Module]:
    """The layers whose forward is patched besides attention (MPT's blocks), or none."""
    if arch.block_class is None:
        return []
    return [module for module in model.modules() if arch.block_class in class_names(module)]
