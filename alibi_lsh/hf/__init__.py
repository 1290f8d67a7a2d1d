"""Run a Hugging Face ALiBi model (BLOOM, MPT, Falcon with ``alibi=True``) with exact, positional-LSH
or window ALiBi attention.

``patch_attention(model, spec)`` replaces, in place, the attention computation of every layer of
a loaded model by :func:`alibi_lsh.attention.spec.attend`, keeping the model's projections,
weights and key-value cache; ``unpatch_attention(model)`` restores the model's own code.

- ``AttentionSpec("exact")`` reproduces the model (logits within float32 rounding);
- ``AttentionSpec("lsh", scheme=..., num_samples=R, seed=...)``: the LSH estimator; layer l's
  query heads are global heads l*H .. l*H + H - 1 of the one seed, so a cached decoding step
  sees the blocks of one full call (cached and uncached generation agree);
- ``AttentionSpec("window", window=w)``: ALiBi truncated to |i - j| < w.

Works with ``generate()`` (greedy or sampling, the default ``DynamicCache``), left- or
right-padded batches through ``attention_mask`` (1 = real token; positions count from each
row's first real token), multi-query and grouped kv heads, inputs longer than the configured
maximum, and fine-tuning (``model.train()``; gradients flow through every mode). Refused with a
ValueError: ``output_attentions=True``, attention dropout > 0 in training mode, cache layouts
other than full-attention ``DynamicCache`` layers, masks that are not causal over one run of
real tokens per row. One module per architecture (``bloom``, ``mpt``, ``falcon``) says what
transformers computes and how the patch matches it.

Command line, for a checkpoint already on disk (nothing is downloaded)::

    python -m alibi_lsh.hf --model PATH --text FILE [--samples 1 8 64] [--scheme binning]

``transformers`` is an optional dependency, imported only when these functions run.
"""

from .cli import MAX_TOKENS, build_parser, main
from .load import load_alibi_model, mean_loss
from .patch import SUPPORTED_MODEL_TYPES, check_alibi_config, model_slopes, patch_attention, unpatch_attention

__all__ = [
    "MAX_TOKENS",
    "SUPPORTED_MODEL_TYPES",
    "build_parser",
    "check_alibi_config",
    "load_alibi_model",
    "main",
    "mean_loss",
    "model_slopes",
    "patch_attention",
    "unpatch_attention",
]
