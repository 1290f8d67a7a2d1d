"""Run a Hugging Face ALiBi model (BLOOM, MPT) with exact or positional-LSH ALiBi attention.

``patch_attention(model, spec)`` replaces, in place, the attention computation of every layer of
a ``BloomForCausalLM`` / ``MptForCausalLM`` (or their base models) by one of this package's
functions, keeping the model's own projections and weights:

- ``AttentionSpec("exact")``: ``alibi_attention`` in the model's place (reproduces its logits);
- ``AttentionSpec("lsh", scheme=..., num_samples=R, seed=...)``: ``lsh_alibi_attention``;
- ``AttentionSpec("window", window=w)``: ``window_alibi_attention``.

Scope: whole-sequence scoring (perplexity, logits), the use it is built for. Batches with
padding, and decoding steps that attend to a key-value cache, raise a ValueError in patched
mode; ``unpatch_attention`` restores the original model.

Command line, for a checkpoint already on disk (nothing is downloaded)::

    python -m alibi_lsh.hf --model PATH --text FILE [--samples 1 8 64] [--scheme binning]

``transformers`` is an optional dependency, imported only when these functions run.
"""

from __future__ import annotations

import argparse
import math
import sys
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alibi_lsh import alibi_attention, lsh_alibi_attention, window_alibi_attention
from alibi_lsh.cli_args import bounded_int, existing_file, run_command, seed
from alibi_lsh.lm.config import EXACT, AttentionSpec
from alibi_lsh.attention.spec import layer_head_offset
from alibi_lsh.samplers import SCHEMES

SUPPORTED_MODEL_TYPES = ("bloom", "mpt")


# --------------------------------------------------------------------------- slopes and checks


def model_slopes(model: nn.Module) -> torch.Tensor:
    """The ALiBi slopes (H,) the model was trained with, computed by the model's own code.

    BLOOM and MPT order the slopes of a non-power-of-two head count differently, and MPT has
    an ``alibi_bias_max`` setting, so the slopes are read from each architecture, not assumed.
    """
    config = model.config
    if config.model_type == "bloom":
        from transformers.models.bloom.modeling_bloom import _get_alibi_slopes

        return _get_alibi_slopes(config.n_head, torch.device("cpu")).float()
    if config.model_type == "mpt":
        from transformers.models.mpt.modeling_mpt import build_mpt_alibi_tensor

        # Bias for 2 positions is [-m, 0] per head (keys relative to the last query).
        bias = build_mpt_alibi_tensor(config.n_heads, 2, config.attn_config.alibi_bias_max)
        return -bias[:, 0, 0].float()
    raise ValueError(f"not an ALiBi model: model_type {config.model_type!r}; supported: {SUPPORTED_MODEL_TYPES}")


def check_alibi_config(config: Any) -> None:
    """Raise ValueError unless ``config`` describes a model with ALiBi attention we can patch."""
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"not an ALiBi model we support: model_type {model_type!r} (supported: {', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    if model_type == "mpt" and not config.attn_config.alibi:
        raise ValueError("this MPT model does not use ALiBi (attn_config.alibi is False)")


def _check_plain_causal(mask: torch.Tensor | None, n: int) -> None:
    """Raise ValueError if the attention mask is anything but the plain causal mask (padding).

    Masks come as additive floats (0 / very negative), as booleans with True = blocked (MPT) or
    True = allowed (SDPA style); all three are compared with the causal pattern.
    """
    if mask is None:
        return
    future = torch.ones(n, n, dtype=torch.bool, device=mask.device).triu(1)
    tail = mask[..., -n:, -n:]
    if mask.shape[-1] == n and mask.shape[-2] == n:
        if mask.dtype == torch.bool:
            if bool((tail == future).all()) or bool((tail == ~future).all()):
                return
        elif bool(((tail < -1.0) == future).all()):
            return
    raise ValueError(
        "patched attention supports whole unpadded sequences only (no padding, no key-value cache); "
        "score one sequence at a time with use_cache=False"
    )


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slopes: torch.Tensor, spec: AttentionSpec,
            scale: float, layer: int) -> torch.Tensor:
    """Causal ALiBi attention under ``spec`` on (B, H, n, d) inputs, computed in float32."""
    dtype = q.dtype
    q, k, v = q.float(), k.float(), v.float()
    slopes = slopes.to(q.device)
    if spec.kind == "exact":
        out = alibi_attention(q, k, v, slopes, causal=True, scale=scale)
    elif spec.kind == "lsh":
        out = lsh_alibi_attention(q, k, v, slopes, spec.num_samples, causal=True, scheme=spec.scheme,
                                  seed=spec.seed, scale=scale,
                                  head_offset=layer_head_offset(layer, q.shape[1]))
    elif spec.kind == "window":
        out = window_alibi_attention(q, k, v, slopes, spec.window, causal=True, scale=scale)
    else:
        raise ValueError(f"unknown attention kind {spec.kind!r}")
    return out.to(dtype)


# --------------------------------------------------------------------------- patched forwards


def _bloom_attention_forward(self, hidden_states, residual, alibi, attention_mask, layer_past=None,
                             use_cache=False, output_attentions=False, **kwargs):
    """Drop-in for ``BloomAttention.forward``: same projections, our attention function."""
    from transformers.models.bloom.modeling_bloom import dropout_add

    batch_size, n, _ = hidden_states.shape
    q, k, v = self._reshape(self.query_key_value(hidden_states))  # each (B, H, n, d)
    if layer_past is not None:
        k, v = layer_past.update(k, v, self.layer_idx)  # keeps a cache usable after unpatching
    if k.shape[-2] != n:
        _check_plain_causal(torch.zeros(1, dtype=torch.bool), n)  # always raises: decoding from a cache
    _check_plain_causal(attention_mask, n)
    context = _attend(q, k, v, self.alibi_lsh_slopes, self.alibi_lsh_spec, self.inv_norm_factor, self.layer_idx or 0)
    context = context.transpose(1, 2).reshape(batch_size, n, self.hidden_size)
    output = dropout_add(self.dense(context), residual, self.hidden_dropout, self.training)
    return output, None


def _mpt_attention_forward(self, hidden_states, position_bias, cache=None, attention_mask=None, **kwargs):
    """Drop-in for ``MptAttention.forward``: same projections (and qkv clipping), our attention."""
    batch_size, n = hidden_states.shape[:2]
    mixed_qkv = self.Wqkv(hidden_states)
    if self.clip_qkv:
        mixed_qkv = mixed_qkv.clamp(min=-self.clip_qkv, max=self.clip_qkv)
    q, k, v = (t.reshape(batch_size, n, self.n_heads, self.head_dim).transpose(1, 2) for t in mixed_qkv.chunk(3, 2))
    if cache is not None:
        k, v = cache.update(k, v, self.layer_idx, kwargs=kwargs)
    if k.shape[-2] != n:
        _check_plain_causal(torch.zeros(1, dtype=torch.bool), n)
    _check_plain_causal(attention_mask, n)
    context = _attend(q, k, v, self.alibi_lsh_slopes, self.alibi_lsh_spec, self.softmax_scale, self.layer_idx or 0)
    context = context.transpose(1, 2).reshape(batch_size, n, -1)
    return self.out_proj(context), None


def _attention_modules(model: nn.Module) -> list[nn.Module]:
    """Every attention module of a BLOOM or MPT model, in layer order."""
    check_alibi_config(model.config)
    name = "BloomAttention" if model.config.model_type == "bloom" else "MptAttention"
    return [m for m in model.modules() if type(m).__name__ == name]


def patch_attention(model: nn.Module, spec: AttentionSpec = EXACT) -> nn.Module:
    """Make every attention layer of ``model`` use ``spec`` (in place; returns the model).

    Calling it again switches to another spec; ``unpatch_attention`` restores the original.
    """
    slopes = model_slopes(model)
    forward = _bloom_attention_forward if model.config.model_type == "bloom" else _mpt_attention_forward
    modules = _attention_modules(model)
    if not modules:
        raise ValueError("found no attention layers to patch in this model")
    for module in modules:
        module.alibi_lsh_spec = spec
        module.alibi_lsh_slopes = slopes
        module.forward = types.MethodType(forward, module)  # instance attribute shadows the class method
    return model


def unpatch_attention(model: nn.Module) -> nn.Module:
    """Undo ``patch_attention``: the model computes attention with its own code again."""
    for module in _attention_modules(model):
        for attribute in ("forward", "alibi_lsh_spec", "alibi_lsh_slopes"):
            module.__dict__.pop(attribute, None)
    return model


# --------------------------------------------------------------------------- loading and scoring


def load_alibi_model(path: Path | str) -> tuple[nn.Module, Any]:
    """Load a BLOOM or MPT causal LM and its tokenizer from a local directory (no download).

    Raises FileNotFoundError / ValueError with a readable message if the path is missing, holds
    no model, or holds a model without ALiBi.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model path not found: {path}")
    try:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError as err:  # optional dependency
        raise ValueError("this needs the optional `transformers` package: pip install transformers") from err
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ValueError(f"no Hugging Face model config found in {path} ({str(err).splitlines()[0]})") from err
    check_alibi_config(config)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ValueError(f"could not load the model or its tokenizer from {path} ({str(err).splitlines()[0]})") from err
    model.eval()
    return model, tokenizer


@torch.no_grad()
def mean_loss(model: nn.Module, input_ids: torch.Tensor) -> float:
    """Mean next-token cross-entropy (nats per token) of one (1, n) sequence."""
    logits = model(input_ids=input_ids, use_cache=False).logits
    return torch.nn.functional.cross_entropy(logits[0, :-1], input_ids[0, 1:]).item()


# Both the unpatched model (the reference) and exact mode build dense (H, n, n) scores per layer.
MAX_TOKENS = 8192


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alibi_lsh.hf", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="local directory of a BLOOM or MPT checkpoint")
    parser.add_argument("--text", type=existing_file, required=True, help="UTF-8 text file to score")
    parser.add_argument("--max-tokens", type=bounded_int(2, MAX_TOKENS), default=1024,
                        help=f"score at most this many tokens, 2..{MAX_TOKENS} (default 1024)")
    parser.add_argument("--samples", type=bounded_int(1, 4096), nargs="+", default=[1, 4, 16, 64],
                        help="values of R, each 1..4096 (default 1 4 16 64)")
    parser.add_argument("--scheme", default="binning", choices=SCHEMES)
    parser.add_argument("--seed", type=seed, default=0, help="seed of the LSH partitions, 0..2^63 - 1 (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv, _score_text)


def _score_text(args: argparse.Namespace) -> None:
    """Print the loss of the text under the original model, exact mode and LSH at each R."""
    try:  # before the model: a bad file costs no loading
        text = args.text.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"--text must be a UTF-8 text file, {str(args.text)!r} is not ({error.reason})") from error
    model, tokenizer = load_alibi_model(args.model)
    ids = tokenizer(text, return_tensors="pt").input_ids[:, : args.max_tokens]
    if ids.shape[1] < 2:
        raise ValueError(f"--text must hold at least 2 tokens, got {ids.shape[1]} from {str(args.text)!r}")
    base = mean_loss(model, ids)
    print(f"{ids.shape[1]} tokens; original model: loss {base:.4f} nats/token, perplexity {math.exp(base):.3f}")
    specs = [AttentionSpec("exact")] + [AttentionSpec("lsh", args.scheme, r, args.seed) for r in args.samples]
    for spec in specs:
        loss = mean_loss(patch_attention(model, spec), ids)
        print(f"{spec.label():>22}: loss {loss:.4f}, perplexity {math.exp(loss):.3f} ({loss - base:+.4f})")


if __name__ == "__main__":
    sys.exit(main())
