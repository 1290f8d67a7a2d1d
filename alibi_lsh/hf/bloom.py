"""BLOOM (``BloomForCausalLM``): the patched ``BloomAttention.forward``.

What transformers does: scores ``inv_norm_factor * q.k + m * p_j`` (``build_alibi_tensor``:
p_j = cumsum(attention_mask)_j - 1, the count of real tokens before key j, for any 0/1 mask; the
``- m * p_i`` part cancels in the softmax), an additive float causal-and-padding mask, a
``DynamicCache`` or ``StaticCache`` of (B, H, n, d) keys and values, the weights returned for
``output_attentions``. Every BLOOM uses ALiBi; the patch keeps ``query_key_value``, ``dense``
and the residual dropout.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .architecture import Architecture
from .exact import positions_from_mask
from .layer import allowed_from_additive, refuse_attention_dropout, update_cache


def slopes(config: Any) -> torch.Tensor:
    """(H,) float64: the bias BLOOM's own builder puts one position apart."""
    from transformers.models.bloom.modeling_bloom import build_alibi_tensor

    mask = torch.ones(1, 2, dtype=torch.long, device="cpu")  # on the CPU even under torch.device("meta")
    bias = build_alibi_tensor(mask, config.n_head, torch.float32)  # (H, 1, 2)
    return (bias[:, 0, 1] - bias[:, 0, 0]).double()


def forward(
    self: nn.Module,
    hidden_states: torch.Tensor,
    residual: torch.Tensor,
    alibi: torch.Tensor,
    attention_mask: torch.Tensor | None,
    layer_past: Any = None,
    use_cache: bool = False,
    output_attentions: bool = False,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Drop-in for ``BloomAttention.forward``: the model's projections, this package's attention.

    ``alibi`` is not read: the slopes were taken from the model's builder when patching. With
    ``pretraining_tp > 1`` and ``slow_but_exact`` the model sums its output projection in
    slices; one ``dense`` call computes the same product up to float rounding.
    """
    from transformers.models.bloom.modeling_bloom import dropout_add

    refuse_attention_dropout(self, self.attention_dropout.p, "config.attention_dropout")
    batch, n, _ = hidden_states.shape
    q, k, v = self._reshape(self.query_key_value(hidden_states))  # each (B, H, n, d)
    k, v, filled = update_cache(layer_past, self.layer_idx, k, v)
    allowed = allowed_from_additive(attention_mask)
    context, weights = self.alibi_lsh.attention(q, k, v, allowed, bool(output_attentions), filled)
    context = context.transpose(1, 2).reshape(batch, n, self.hidden_size)
    return dropout_add(self.dense(context), residual, self.hidden_dropout, self.training), weights


BLOOM = Architecture(
    model_type="bloom",
    attention_class="BloomAttention",
    check_config=lambda config: None,  # every BLOOM uses ALiBi
    slopes=slopes,
    scale=lambda module: module.inv_norm_factor,
    forward=forward,
    positions=positions_from_mask,
)
