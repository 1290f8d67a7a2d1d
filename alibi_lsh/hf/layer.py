"""What every patched attention layer does, whatever the architecture: the model's key-value cache,
its attention mask, the call to the attention of the spec, and the weights on request.

An architecture's patched forward (``bloom.py``, ``mpt.py``, ``falcon.py``) keeps the model's own
projections, calls :func:`update_cache`, reads the model's mask as ``allowed`` (bool), then
``LayerPatch.attention``; nothing here depends on the architecture except the position convention
the architecture passes in.

Exact mode (:mod:`.exact`) reads the mask and the cache as the model does, with no check on data
values, so it compiles. LSH and window modes call :func:`alibi_lsh.attention.spec.attend`, whose
``key_padding_mask`` must be one run of real tokens per row: the mask is checked to be exactly
causal attention over such a run (data-dependent checks, outside any compiled graph).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from alibi_lsh.attention.spec import AttentionSpec, attend

from .exact import model_alibi_attention
from .weights import MAX_WEIGHT_ELEMENTS, mode_weights

# Hugging Face's additive masks put the dtype's minimum (or -inf) on blocked entries and 0, or
# Falcon's ALiBi bias (>= 0), on allowed ones; anything below half the minimum is blocked.
BLOCKED_FRACTION_OF_MIN = 0.5

# (allowed (B, heads, n_q, n_k) bool or None, n_k, device) -> key positions (B or 1, n_k) int64
Positions = Callable[[torch.Tensor | None, int, torch.device], torch.Tensor]


@dataclass(frozen=True)
class LayerPatch:
    """The attention one patched layer computes (stored on the module as ``alibi_lsh``).

    ``slopes`` (H,) float64 on the CPU: the per-head ALiBi slopes on the scaled scores, as the
    model applies them (moved to the queries' device at each call, so a model patched on the
    meta device works once materialised); ``scale``: the factor on q.k; ``head_offset``: the
    global index of the layer's first query head (layer * H), which keys the LSH blocks;
    ``positions``: the model's key positions; ``max_weight_elements``: cap on the dense weights
    LSH and window modes form for ``output_attentions=True``.
    """

    spec: AttentionSpec
    slopes: torch.Tensor
    scale: float
    head_offset: int
    positions: Positions
    max_weight_elements: int = MAX_WEIGHT_ELEMENTS

    def attention(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        allowed: torch.Tensor | None,
        need_weights: bool = False,
        filled: torch.Tensor | int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Causal ALiBi attention of q (B, H, n_q, d) over k, v (B, H_kv, n_k, ·) under the model's mask.

        ``allowed`` (B, 1 or H, n_q, n_k) bool: the model's mask (None: causal over every key);
        ``filled``: the number of filled key slots of a pre-allocated cache (None: all of them).
        Returns (output (B, H, n_q, d_v), weights (B, H, n_q, n_k) or None), in q's dtype; H_kv < H
        reads grouped kv heads.
        """
        n_q, n_k = q.shape[2], k.shape[2]
        if self.spec.kind == "exact":
            positions = self.positions(allowed, n_k, q.device)
            return model_alibi_attention(q, k, v, self.slopes, self.scale, allowed, positions, need_weights)
        if filled is not None:  # the runs and positions of LSH and window need the filled keys only
            filled = int(filled)
            k, v = k[:, :, :filled], v[:, :, :filled]
            allowed = None if allowed is None else allowed[..., :filled]
        padding = key_padding_from_mask(allowed, n_q, k.shape[2])
        gqa = k.shape[1] != q.shape[1]
        options = {"scale": self.scale, "key_padding_mask": padding, "enable_gqa": gqa, "head_offset": self.head_offset}
        out = attend(q, k, v, self.slopes, self.spec, causal=True, **options)
        if not need_weights:
            return out, None
        weights = mode_weights(
            q, k, self.slopes, self.spec, self.scale, padding, self.head_offset, self.max_weight_elements
        )
        return out, F.pad(weights, (0, n_k - k.shape[2]))  # unfilled cache slots get no weight


def refuse_attention_dropout(module: nn.Module, probability: float, setting: str) -> None:
    """Raise ValueError when a layer in training mode would drop attention probabilities.

    The patched attention has no dropout on its weights; silently training without the model's
    dropout would change what fine-tuning does. In eval mode dropout is off anyway.
    """
    if module.training and probability > 0:
        raise ValueError(
            f"attention dropout {probability:g} ({setting}) is not supported by the patched attention in "
            f"training mode; set {setting} = 0.0 before fine-tuning (or call model.eval() for inference)"
        )


def update_cache(
    cache: object | None, layer_idx: int | None, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Append the new keys and values (B, H_kv, n_new, ·) to the layer's cache; return all of them.

    Supported: ``DynamicCache`` full-attention layers (``generate()``'s default; positions
    follow from the cache's length before the update, the queries are the last n_new keys) and
    ``StaticCache`` layers (pre-allocated: the keys include unfilled slots, which the model's
    mask blocks). Returns (keys, values, filled): ``filled`` is the static layer's count of
    filled slots as a tensor (read only by LSH and window modes), None for a dynamic layer.
    Sliding-window, quantized and other layouts drop or transform old keys, and with them the
    positions: ValueError naming the cache class.
    """
    if cache is None:
        return k, v, None
    from transformers.cache_utils import Cache, DynamicLayer, StaticLayer

    layer_class = _cache_layer_class(cache, layer_idx) if isinstance(cache, Cache) else None
    if layer_class not in (DynamicLayer, StaticLayer) or layer_idx is None:
        layer_name = "" if layer_class is None else f" (layer {layer_idx}: {layer_class.__name__})"
        raise ValueError(
            f"unsupported key-value cache {type(cache).__name__}{layer_name}: patched attention supports "
            "DynamicCache and StaticCache with full-attention layers; sliding-window, quantized and "
            "other cache layouts are refused"
        )
    if layer_class is StaticLayer:
        k, v = cache.update(k, v, layer_idx)
        return k, v, cache.layers[layer_idx].cumulative_length
    past, new = cache.get_seq_length(layer_idx), k.shape[-2]
    k, v = cache.update(k, v, layer_idx)
    if k.shape[-2] != past + new:  # only filled keys, in order: anything else has lost the positions
        raise ValueError(
            f"the {type(cache).__name__} returned {k.shape[-2]} keys for layer {layer_idx} after holding {past} "
            f"and receiving {new}; patched attention needs every filled key and nothing else"
        )
    return k, v, None


def _cache_layer_class(cache: object, layer_idx: int | None) -> type | None:
    """The class of the cache layer that holds ``layer_idx`` (created lazily by ``DynamicCache``)."""
    if layer_idx is None:
        return None
    if layer_idx < len(cache.layers):
        return type(cache.layers[layer_idx])
    return cache.layer_class_to_replicate


def key_padding_from_mask(allowed: torch.Tensor | None, n_q: int, n_k: int) -> torch.Tensor | None:
    """The key padding (B, n_k), True = real token, behind a model's 4D attention mask; None if all real.

    ``allowed`` (B, 1 or H, n_q, n_k) bool, True where the model lets query t (position n_k - n_q
    + t) see key j (Falcon's mask carries a per-head bias, hence H). Hugging Face builds it from
    the user's ``attention_mask`` (B, n_k) as causal AND real key, so the last query's row is the
    padding itself. Used by LSH and window modes: the whole mask, every head, is checked to be
    exactly that pattern; packed sequences, custom 4D masks or padding between real tokens raise
    ValueError rather than being read wrongly.
    """
    if allowed is None:  # the model asked for plain causal attention over every key
        return None
    if allowed.dim() != 4 or tuple(allowed.shape[-2:]) != (n_q, n_k):
        raise ValueError(
            f"attention mask of shape {tuple(allowed.shape)} does not match {n_q} queries and {n_k} keys "
            "(expected (B, heads, n_q, n_k)); patched attention supports the model's own causal masks only"
        )
    real = allowed[:, 0, -1]  # the last query is after every key: it sees exactly the real ones
    starts = real[:, :1].to(torch.int64) + (real[:, 1:] & ~real[:, :-1]).sum(dim=1, keepdim=True)
    holes = (starts.reshape(-1) > 1).nonzero()
    if holes.numel():
        raise ValueError(
            f"attention_mask row {int(holes[0])} has padding between real tokens; lsh and window modes need "
            "each row's real tokens to be one contiguous run (left padding for generation, "
            "tokenizer.padding_side = 'left'; left or right padding for scoring); exact mode reads any mask"
        )
    causal = torch.ones(n_q, n_k, dtype=torch.bool, device=allowed.device).tril(n_k - n_q)
    if not bool((allowed == (causal & real[:, None, :])[:, None]).all()):
        raise ValueError(
            "the attention mask is not causal attention over each row's real tokens (e.g. packed "
            "sequences or a custom 4D mask); lsh and window modes support a 2D attention_mask "
            "(B, n) with 1 = real token only; exact mode reads any mask"
        )
    return None if bool(real.all()) else real


def allowed_from_additive(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Allowed entries (bool) of an additive float mask: 0 or a bias where allowed, very negative where not."""
    if mask is None:
        return None
    if not mask.is_floating_point():
        raise ValueError(f"expected the model's additive float attention mask, got dtype {mask.dtype}")
    return mask > torch.finfo(mask.dtype).min * BLOCKED_FRACTION_OF_MIN
