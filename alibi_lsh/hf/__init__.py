"""Run a Hugging Face ALiBi model (BLOOM, MPT, Falcon with ``alibi=True``) with exact, positional-LSH
or window ALiBi attention.

``patch_attention(model, spec)`` replaces, in place, the attention computation of every layer of
a loaded model by :func:`alibi_lsh.attention.spec.attend`, keeping the model's projections,
weights and key-value cache; ``unpatch_attention(model)`` restores the model's own code.

- ``AttentionSpec("exact")`` computes the model's own attention from its slopes (logits within
  float32 rounding): any 0/1 ``attention_mask`` with the model's positions, ``DynamicCache`` and
  ``StaticCache``, the model's weights for ``output_attentions=True``, and no check on data
  values, so ``torch.export`` and ``torch.compile(fullgraph=True)`` trace it;
- ``AttentionSpec("lsh", scheme=..., num_samples=R, seed=...)``: the LSH estimator; layer l's
  query heads are global heads l*H .. l*H + H - 1 of the one seed, so a cached decoding step
  sees the blocks of one full call (cached and uncached generation agree);
- ``AttentionSpec("window", sliding_window=w)``: ALiBi truncated to |i - j| < w.

LSH and window modes need each row's real tokens to be one run (left or right padding) and
return the weights they apply (formed densely, capped by ``max_weight_elements``). Every mode
works with ``generate()``, multi-query and grouped kv heads, inputs longer than the configured
maximum, fine-tuning (``model.train()``), and a model patched on the meta device. Refused with
a ValueError: attention dropout > 0 in training mode, sliding-window and quantized caches. One
module per architecture (``bloom``, ``mpt``, ``falcon``) says what transformers computes and how
the patch matches it.

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
