"""Falcon with ``alibi=True`` (``FalconForCausalLM``, e.g. the Falcon-RW family): the patched
``FalconAttention.forward``.

What transformers does, and how the patch matches it:

- logits ``(q.k + m * p_j) / sqrt(head_dim)``: the bias is scaled with the scores, so the slope
  on the scaled logits is m / sqrt(head_dim) (8x smaller than BLOOM's for head_dim 64);
- ``build_alibi_tensor`` multiplies the slopes by the positions in **bfloat16**. For up to 256
  positions and power-of-two slopes (head counts 1, 2, 4, 8, or 6, ...) that product is exact;
  beyond, the bias is rounded to 8 significant bits, which exact ALiBi (the patch) does not do;
  the slopes themselves are taken as the model rounds them (``bfloat16(m)``);
- positions p_j = cumsum(attention_mask)_j - 1, as BLOOM's, for any 0/1 mask;
- the bias is merged into the float causal mask for SDPA (the default implementation). The
  eager implementation adds it a second time on top of that mask, so unpatched eager and SDPA
  Falcon disagree; the patch computes what the SDPA model computes;
- multi-query (``multi_query=True``: one kv head) and grouped kv heads
  (``new_decoder_architecture``: ``num_kv_heads``) go to the attention with ``enable_gqa``. The
  new architecture caches its kv heads repeated per query head; the patch keeps that cache
  layout and reads one head per group.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .architecture import Architecture
from .exact import positions_from_mask
from .layer import allowed_from_additive, refuse_attention_dropout, update_cache


def check_config(config: Any) -> None:
    if not config.alibi:
        raise ValueError("this Falcon model does not use ALiBi (alibi is False: it uses rotary embeddings)")


def slopes(config: Any) -> torch.Tensor:
    """(H,) float64: the bias Falcon's own builder puts one position apart, over sqrt(head_dim)."""
    from transformers.models.falcon.modeling_falcon import build_alibi_tensor

    heads = config.num_attention_heads
    mask = torch.ones(1, 2, dtype=torch.long, device="cpu")  # on the CPU even under torch.device("meta")
    bias = build_alibi_tensor(mask, heads, torch.float32)  # (H, 1, 2), bfloat16 slopes
    return (bias[:, 0, 1] - bias[:, 0, 0]).double() / math.sqrt(config.hidden_size // heads)


def forward(
    self: nn.Module,
    hidden_states: torch.Tensor,
    alibi: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None = None,
    layer_past: Any = None,
    use_cache: bool = False,
    output_attentions: bool = False,
    position_embeddings: Any = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Drop-in for ``FalconAttention.forward`` (ALiBi models): the model's projections, this package's attention.

    With ``output_attentions=True`` the weights are those of the SDPA model (the eager code path
    transformers takes for weights adds the ALiBi bias twice).
    """
    refuse_attention_dropout(self, self.attention_dropout.p, "config.attention_dropout")
    q, k, v = self._split_heads(self.query_key_value(hidden_states))  # (B, n, heads, d)
    batch, n = q.shape[:2]
    cached_heads = self.num_heads if self.new_decoder_architecture else self.num_kv_heads
    q = q.transpose(1, 2).reshape(batch, self.num_heads, n, self.head_dim)
    k, v = (t.transpose(1, 2).reshape(batch, cached_heads, n, self.head_dim) for t in (k, v))
    k, v, filled = update_cache(layer_past, self.layer_idx, k, v)
    if self.new_decoder_architecture:  # each kv head was repeated for its group of query heads
        group = self.num_heads // self.num_kv_heads
        k, v = k[:, ::group], v[:, ::group]
    allowed = allowed_from_additive(attention_mask)
    context, weights = self.alibi_lsh.attention(q, k, v, allowed, bool(output_attentions), filled)
    context = context.transpose(1, 2).reshape(batch, n, self.num_heads * self.head_dim)
    return self.dense(context), weights


FALCON = Architecture(
    model_type="falcon",
    attention_class="FalconAttention",
    check_config=check_config,
    slopes=slopes,
    scale=lambda module: module.inv_norm_factor,
    forward=forward,
    positions=positions_from_mask,
)
