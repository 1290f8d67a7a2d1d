"""A small byte-level ALiBi language model to validate positional-LSH attention on real text.

- ``config``: ``ModelConfig``, ``TrainConfig``, ``AttentionSpec`` (exact / lsh / window);
- ``model``: the nanoGPT-style transformer with pluggable attention;
- ``data``: the Python standard-library text snapshot, byte-level;
- ``train`` / ``evaluate``: ``python -m alibi_lsh.lm train`` and ``... eval``;
- ``checkpoint``: loading the shipped weights; ``qkv``: real q, k, v for the benchmarks;
- ``figures``: charts for the app page and the docs.
"""

from .checkpoint import DEFAULT_WEIGHTS, load_model
from .config import EXACT, AttentionSpec, ModelConfig, TrainConfig
from .model import ALiBiGPT

__all__ = ["DEFAULT_WEIGHTS", "EXACT", "ALiBiGPT", "AttentionSpec", "ModelConfig", "TrainConfig", "load_model"]
