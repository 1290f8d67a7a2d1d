"""A small causal ALiBi transformer (nanoGPT layout) whose attention is pluggable.

There are no positional embeddings: position enters only through the ALiBi bias -m_h |i-j| on
the attention logits of head h, which is what lets the model run on inputs longer than it was
trained on. Each layer's attention is chosen at call time by an ``AttentionSpec`` and computed by
its dispatch ``attend`` (:mod:`alibi_lsh.attention.spec`): exact ALiBi, the positional-LSH
approximation ``lsh_alibi_attention`` or a truncated window ``window_alibi_attention``. With LSH,
layer l's heads are global heads l*H .. l*H + H - 1 of the spec's one seed, so each (layer, head)
draws its own blocks.

Shapes: B batch, n sequence length (bytes), C = n_embd, H heads, d = C / H head size, V = 256.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from alibi_lsh import alibi_slopes
from alibi_lsh.attention.spec import attend, layer_head_offset

from ..attention.spec import EXACT, AttentionSpec
from .config import ModelConfig

__all__ = ["ALiBiGPT", "QKVCapture", "attend", "layer_head_offset"]

# Per layer: (q, k, v), each (B, H, n, d), as fed to the attention function.
QKVCapture = dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, slopes: torch.Tensor, spec: AttentionSpec, capture: QKVCapture | None = None
    ) -> torch.Tensor:
        """x: (B, n, C) -> (B, n, C)."""
        B, n, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, n, C) -> (B, H, n, d), the layout torch SDPA and the alibi_lsh functions take.
        q, k, v = (t.view(B, n, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if capture is not None:
            capture[self.layer] = (q.detach(), k.detach(), v.detach())
        y = attend(q, k, v, slopes, spec, head_offset=layer_head_offset(self.layer, self.n_head))
        y = y.transpose(1, 2).contiguous().view(B, n, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Layer(nn.Module):
    """One transformer layer: attention then MLP, each behind a pre-LayerNorm residual."""

    def __init__(self, config: ModelConfig, layer: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, slopes: torch.Tensor, spec: AttentionSpec, capture: QKVCapture | None = None
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), slopes, spec, capture)
        return x + self.mlp(self.ln_2(x))


class ALiBiGPT(nn.Module):
    """Byte-level causal language model with ALiBi attention and no positional embeddings."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(Layer(config, index) for index in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as in GPT-2 / nanoGPT
        # Slopes are fixed by the head count, not learned, so they are not saved with the weights.
        self.register_buffer("slopes", alibi_slopes(config.n_head).float(), persistent=False)
        self.apply(self._init_weights)
        # GPT-2 scaled init of the residual projections: keeps the residual stream's variance flat.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        """Number of distinct parameters (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        attention: AttentionSpec = EXACT,
        capture: QKVCapture | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx: (B, n) byte ids -> logits (B, n, V) and, if targets (B, n) are given, the mean
        cross-entropy in nats per byte. ``capture``, if a dict, receives each layer's q, k, v."""
        x = self.drop(self.wte(idx))
        for layer in self.layers:
            x = layer(x, self.slopes, attention, capture)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss
