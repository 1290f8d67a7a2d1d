"""What every patched attention layer does, whatever the architecture: the model's key-value cache,
its attention mask read as key padding, the refusals, and the call to :func:`attend`.

An architecture's patched forward (``bloom.py``, ``mpt.py``, ``falcon.py``) keeps the model's own
projections, calls :func:`update_cache` and :func:`key_padding_from_mask`, then
``LayerPatch.attend``; nothing here depends on the architecture.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from alibi_lsh.attention.spec import AttentionSpec, attend

# Hugging Face's additive masks put the dtype's minimum (or -inf) on blocked entries and 0, or
# Falcon's ALiBi bias (>= 0), on allowed ones; anything below half the minimum is blocked.
BLOCKED_FRACTION_OF_MIN = 0.5


@dataclass(frozen=True)
class LayerPatch:
    """The attention one patched layer computes (stored on the module as ``alibi_lsh``).

    ``slopes`` (H,) float64: the per-head ALiBi slopes on the scaled scores, as the model applies
    them; ``scale``: the factor on q.k; ``head_offset``: the global index of the layer's first
    query head (layer * H), which keys the LSH blocks of this layer.
    """

    spec: AttentionSpec
    slopes: torch.Tensor
    scale: float
    head_offset: int

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_padding_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Causal ALiBi attention of q (B, H, n_q, d) over k, v (B, H_kv, n_k, ·), queries the last n_q
        positions; (B, H, n_q, d_v) in q's dtype. H_kv < H reads grouped kv heads (``enable_gqa``)."""
        return attend(
            q,
            k,
            v,
            self.slopes,
            self.spec,
            causal=True,
            scale=self.scale,
            key_padding_mask=key_padding_mask,
            enable_gqa=k.shape[1] != q.shape[1],
            head_offset=self.head_offset,
        )


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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Append the new keys and values (B, H_kv, n_new, ·) to the layer's cache; return all of them.

    Positions follow from the cache's length *before* the update: the keys returned are exactly
    that many cached ones plus the n_new new ones, so the queries are the last n_new positions.
    Only ``DynamicCache`` full-attention layers (``generate()``'s default) are supported: a
    pre-allocated cache (``StaticCache``) returns unfilled slots, a sliding-window layer drops
    old keys and with them the positions; both raise ValueError naming the cache class.
    """
    if cache is None:
        return k, v
    from transformers.cache_utils import Cache, DynamicLayer

    layer_class = _cache_layer_class(cache, layer_idx) if isinstance(cache, Cache) else None
    if layer_class is not DynamicLayer or layer_idx is None:
        layer_name = "" if layer_class is None else f" (layer {layer_idx}: {layer_class.__name__})"
        raise ValueError(
            f"unsupported key-value cache {type(cache).__name__}{layer_name}: patched attention supports "
            "DynamicCache with full-attention layers, the default of model(...) and generate(); "
            "static, sliding-window, quantized and other cache layouts are refused"
        )
    past, new = cache.get_seq_length(layer_idx), k.shape[-2]
    k, v = cache.update(k, v, layer_idx)
    if k.shape[-2] != past + new:  # only filled keys, in order: anything else has lost the positions
        raise ValueError(
            f"the {type(cache).__name__} returned {k.shape[-2]} keys for layer {layer_idx} after holding {past} "
            f"and receiving {new}; patched attention needs every filled key and nothing else"
        )
    return k, v


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
    padding itself. The whole mask, every head, is checked to be exactly that pattern: packed
    sequences, custom 4D masks or padding between real tokens raise ValueError rather than
    being read wrongly.
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
            f"attention_mask row {int(holes[0])} has padding between real tokens; patched attention needs "
            "each row's real tokens to be one contiguous run (left padding for generation, "
            "tokenizer.padding_side = 'left'; left or right padding for scoring)"
        )
    causal = torch.ones(n_q, n_k, dtype=torch.bool, device=allowed.device).tril(n_k - n_q)
    if not bool((allowed == (causal & real[:, None, :])[:, None]).all()):
        raise ValueError(
            "the attention mask is not causal attention over each row's real tokens (e.g. packed "
            "sequences or a custom 4D mask); patched attention supports a 2D attention_mask "
            "(B, n) with 1 = real token only"
        )
    return None if bool(real.all()) else real


def allowed_from_additive(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Allowed entries (bool) of an additive float mask: 0 or a bias where allowed, very negative where not."""
    if mask is None:
        return None
    if not mask.is_floating_point():
        raise ValueError(f"expected the model's additive float attention mask, got dtype {mask.dtype}")
    return mask > torch.finfo(mask.dtype).min * BLOCKED_FRACTION_OF_MIN


def refuse_output_attentions(output_attentions: bool | None) -> None:
    """Raise ValueError for ``output_attentions=True``: the patched layers never form the weights."""
    if output_attentions:
        raise ValueError(
            "output_attentions=True is not supported by patched attention: the attention weights are never "
            "formed (LSH and window attention have no n x n matrix); call unpatch_attention(model) to inspect them"
        )
