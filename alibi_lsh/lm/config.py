"""Configuration dataclasses for the small ALiBi language model, and its training."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ModelConfig", "TrainConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the byte-level causal ALiBi transformer (nanoGPT layout, no positional embeddings).

    ``context_length`` is the training context length in bytes; ALiBi lets the model run on longer
    inputs, which is what the evaluation at 4x and 8x this length measures.
    """

    vocab_size: int = 256  # byte-level tokens
    context_length: int = 128  # training context length (bytes)
    n_layer: int = 4
    n_head: int = 8  # a power of two, so the standard ALiBi slopes are 2^(-8h/H), h = 1..H
    n_embd: int = 192
    dropout: float = 0.0

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule for ``python -m alibi_lsh.lm train`` (sized for a 2-core CPU)."""

    steps: int = 1000
    batch_size: int = 32
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_steps: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 1234
    eval_every: int = 200
    eval_windows: int = 64
