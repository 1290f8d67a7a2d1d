"""A small byte-level ALiBi language model to validate positional-LSH attention on real text.

- ``config``: ``ModelConfig``, ``TrainConfig``, and the attention they use (an ``alibi_lsh.AttentionSpec``);
- ``model``: the nanoGPT-style transformer with pluggable attention;
- ``data``: the Python standard-library text snapshot, byte-level;
- ``train`` / ``evaluate``: ``python -m alibi_lsh.lm train`` and ``... eval``;
- ``checkpoint``: loading the shipped weights; ``qkv``: real q, k, v for the benchmarks;
- ``figures``: charts for the app page and the docs.
"""

from .checkpoint import DEFAULT_WEIGHTS, load_model
from .config import ModelConfig, TrainConfig
from .model import ALiBiGPT

__all__ = ["DEFAULT_WEIGHTS", "ALiBiGPT", "ModelConfig", "TrainConfig", "load_model"]
