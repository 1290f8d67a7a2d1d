"""MPT (``MptForCausalLM``): the patched ``MptAttention.forward``.

What transformers does: scores ``softmax_scale * q.k + m * (j - L + 1)`` from a bias built for
``max_seq_len`` = L positions (so the unpatched model refuses longer inputs; the patched one
does not, ALiBi extrapolates): the position of key j is its index j, whatever the
attention_mask says (padding only blocks keys). A boolean mask with True = blocked, a
``DynamicCache``. ``MptBlock`` does not pass ``output_attentions`` to its attention (which
always forms the weights); the patch gives each block a subclass whose forward passes it on
(a subclass, so that transformers' gradient checkpointing still wraps it), so that the attention
forms weights only when they are asked for. The
slopes come from ``build_mpt_alibi_tensor`` called as ``MptModel`` calls it: without
``alibi_bias_max``, so its default 8 applies whatever ``attn_config.alibi_bias_max`` says.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .architecture import Architecture
from .exact import index_positions
from .layer import refuse_attention_dropout, update_cache


def check_config(config: Any) -> None:
    if not config.attn_config.alibi:
        raise ValueError("this MPT model does not use ALiBi (attn_config.alibi is False)")


def slopes(config: Any) -> torch.Tensor:
    """(H,) float64: MPT's bias for 2 positions is [-m, 0] per head (keys relative to the last)."""
    from transformers.models.mpt.modeling_mpt import build_mpt_alibi_tensor

    return -build_mpt_alibi_tensor(config.n_heads, 2, device="cpu")[:, 0, 0].double()


def forward(
    self: nn.Module,
    hidden_states: torch.Tensor,
    position_bias: torch.Tensor | None,
    cache: Any = None,
    attention_mask: torch.Tensor | None = None,
    output_attentions: bool = False,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Drop-in for ``MptAttention.forward``: same projections and qkv clipping, this package's attention.

    ``position_bias`` is not read (it stops at ``max_seq_len``); the slopes were taken when patching.
    """
    refuse_attention_dropout(self, self.attn_dropout_p, "config.attn_config.attn_pdrop")
    batch, n = hidden_states.shape[:2]
    mixed_qkv = self.Wqkv(hidden_states)
    if self.clip_qkv:
        mixed_qkv = mixed_qkv.clamp(min=-self.clip_qkv, max=self.clip_qkv)
    q, k, v = (t.reshape(batch, n, self.n_heads, self.head_dim).transpose(1, 2) for t in mixed_qkv.chunk(3, dim=2))
    k, v, filled = update_cache(cache, self.layer_idx, k, v)
    if attention_mask is not None and attention_mask.dtype != torch.bool:
        raise ValueError(f"expected MPT's boolean attention mask (True = blocked), got dtype {attention_mask.dtype}")
    allowed = None if attention_mask is None else ~attention_mask
    context, weights = self.alibi_lsh.attention(q, k, v, allowed, bool(output_attentions), filled)
    return self.out_proj(context.transpose(1, 2).reshape(batch, n, -1)), weights


def block_forward(
    self: nn.Module,
    hidden_states: torch.Tensor,
    position_bias: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    layer_past: Any = None,
    use_cache: bool = False,
    output_attentions: bool = False,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Drop-in for ``MptBlock.forward`` that tells the attention whether its weights are wanted.

    Pre-norm residual layer: x + attention(norm_1(x)), then the MLP on norm_2 of that (``ffn``
    adds its own residual), as transformers computes it.
    """
    attended, weights = self.attn(
        self.norm_1(hidden_states),
        position_bias=position_bias,
        attention_mask=attention_mask,
        cache=layer_past,
        output_attentions=output_attentions,
    )
    hidden_states = hidden_states + self.resid_attn_dropout(attended)
    return self.ffn(self.norm_2(hidden_states), hidden_states), weights


MPT = Architecture(
    model_type="mpt",
    attention_class="MptAttention",
    check_config=check_config,
    slopes=slopes,
    scale=lambda module: module.softmax_scale,
    forward=forward,
    positions=index_positions,
    block_class="MptBlock",
    block_forward=block_forward,
)
