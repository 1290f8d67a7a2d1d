"""The Hugging Face adapter on BLOOM, MPT and ALiBi Falcon in real use: cached generate, padded
batches, grouped kv heads, inputs past the configured maximum, fine-tuning, and the refusals.

Tiny random models (2 layers, hidden 32, 4 heads) built from configs; nothing is downloaded.
The reference is always the unpatched model itself (or, where it cannot run, the same weights
with the one setting changed that stops it), so "exact" means: what transformers computes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from unittest import mock

import pytest
import torch

transformers = pytest.importorskip("transformers")

from transformers.cache_utils import DynamicCache, DynamicSlidingWindowLayer  # noqa: E402
from transformers.models.falcon.modeling_falcon import build_alibi_tensor as FALCON_BIAS  # noqa: E402

import alibi_lsh.attention.spec as spec_module  # noqa: E402
from alibi_lsh import AttentionSpec, alibi_slopes  # noqa: E402
from alibi_lsh.hf import check_alibi_config, model_slopes, patch_attention, unpatch_attention  # noqa: E402

VOCAB = 101
TOL = 1e-4  # float32 logits: exact mode reproduces the model within this (measured: ~3e-7)
EXACT = AttentionSpec("exact")
LSH = AttentionSpec("lsh", "binning", num_samples=4, seed=3)


def _sharpen(layers: list[torch.nn.Linear]) -> None:
    # Random init (std 0.02) gives near-uniform attention; larger query/key weights make the
    # scores content-dependent like a trained model's, so the tests exercise real softmaxes.
    with torch.no_grad():
        for linear in layers:
            linear.weight.normal_(0.0, 0.3)


def bloom(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    settings = {"vocab_size": VOCAB, "hidden_size": 32, "n_layer": 2, "n_head": 4}
    model = transformers.BloomForCausalLM(transformers.BloomConfig(**{**settings, **overrides}))
    _sharpen([block.self_attention.query_key_value for block in model.transformer.h])
    return model.eval()


def mpt(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    settings = {
        "vocab_size": VOCAB,
        "d_model": 32,
        "n_layers": 2,
        "n_heads": 4,
        "max_seq_len": 64,
        "attn_config": {"alibi": True},
    }
    model = transformers.MptForCausalLM(transformers.MptConfig(**{**settings, **overrides}))
    _sharpen([block.attn.Wqkv for block in model.transformer.blocks])
    return model.eval()


def falcon(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    settings = {"vocab_size": VOCAB, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "alibi": True}
    model = transformers.FalconForCausalLM(transformers.FalconConfig(**{**settings, **overrides}))
    _sharpen([block.self_attention.query_key_value for block in model.transformer.h])
    return model.eval()


# Falcon-RW's layout (one kv head per query head), multi-query (one kv head for all) and grouped
# kv heads (the new decoder architecture, 2 kv heads for 4 query heads).
MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "bloom": bloom,
    "mpt": mpt,
    "falcon-rw": lambda: falcon(multi_query=False, parallel_attn=False, bias=True),
    "falcon-multi-query": lambda: falcon(multi_query=True),
    "falcon-grouped": lambda: falcon(new_decoder_architecture=True, num_kv_heads=2),
}
ARCHS = pytest.mark.parametrize("arch", list(MODELS))


def patched(model: torch.nn.Module, spec: AttentionSpec) -> torch.nn.Module:
    """A patched copy: the original stays the reference."""
    return patch_attention(copy.deepcopy(model), spec)


def prompts(batch: int = 3, n: int = 14, pads: tuple[int, ...] = (4, 0, 9), side: str = "left"):
    """Token ids (B, n) and an attention_mask with ``pads[b]`` padding tokens on ``side`` of row b."""
    ids = torch.randint(VOCAB, (batch, n), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    for row, pad in enumerate(pads[:batch]):
        padded = slice(0, pad) if side == "left" else slice(n - pad, n)
        mask[row, padded] = 0
    return ids, mask


def generate(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, **options):
    return model.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=6,
        pad_token_id=0,
        output_logits=True,
        return_dict_in_generate=True,
        **{"do_sample": False, **options},
    )


def step_logits_gap(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a.logits, b.logits, strict=True))


# --------------------------------------------------------------------------- exact mode = the model


@pytest.mark.parametrize("heads", [4, 6, 12])  # 6, 12: the extra slopes of a non-power-of-two count
def test_slopes_are_read_from_each_architectures_own_alibi(heads):
    standard = alibi_slopes(heads).double()  # Press et al.'s slopes, the same in BLOOM's and MPT's code
    assert torch.allclose(model_slopes(bloom(n_head=heads, hidden_size=8 * heads)), standard)
    assert torch.allclose(model_slopes(mpt(n_heads=heads, d_model=8 * heads)), standard)
    # Falcon rounds them to bfloat16 and applies them after the 1 / sqrt(head_dim) scaling.
    falcon_slopes = model_slopes(falcon(num_attention_heads=heads, hidden_size=8 * heads))
    assert torch.allclose(falcon_slopes, standard.to(torch.bfloat16).double() / 8**0.5, rtol=1e-12)
    assert (heads <= 8) == torch.equal(standard.to(torch.bfloat16).double(), standard)  # powers of two up to 8 heads


@ARCHS
def test_exact_mode_generates_the_models_tokens_from_a_left_padded_batch_with_the_cache(arch):
    model = MODELS[arch]()
    ids, mask = prompts()
    with torch.no_grad():
        reference = generate(model, ids, mask)
        ours = generate(patched(model, EXACT), ids, mask)
    assert torch.equal(ours.sequences, reference.sequences)
    assert step_logits_gap(ours, reference) < TOL


@ARCHS
def test_exact_mode_samples_the_models_tokens(arch):
    model = MODELS[arch]()
    ids, mask = prompts()
    runs = []
    for candidate in (model, patched(model, EXACT)):
        torch.manual_seed(7)
        with torch.no_grad():
            runs.append(generate(candidate, ids, mask, do_sample=True, top_k=0))
    assert torch.equal(runs[0].sequences, runs[1].sequences)
    assert step_logits_gap(*runs) < TOL


@ARCHS
@pytest.mark.parametrize(
    ("side", "pads"),
    [("left", (4, 0, 9)), ("right", (4, 0, 9)), ("left", (0, 0, 0))],
    ids=["left-padded", "right-padded", "unpadded"],
)
def test_exact_logits_match_the_model_at_every_real_position(arch, side, pads):
    model = MODELS[arch]()
    ids, mask = prompts(pads=pads, side=side)
    with torch.no_grad():
        reference = model(ids, attention_mask=mask).logits
        ours = patched(model, EXACT)(ids, attention_mask=mask).logits
    real = mask.bool()
    assert (ours - reference)[real].abs().max() < TOL


@ARCHS
def test_a_left_padded_row_gives_what_the_sequence_gives_alone(arch):
    """Positions count from each row's first real token, as the model's own ALiBi does."""
    model = patched(MODELS[arch](), EXACT)
    ids, mask = prompts()
    with torch.no_grad():
        batch = model(ids, attention_mask=mask).logits
        alone = model(ids[:1, 4:]).logits
    assert (batch[0, 4:] - alone[0]).abs().max() < TOL


@ARCHS
@pytest.mark.parametrize("spec", [EXACT, LSH], ids=["exact", "lsh"])
def test_decoding_with_a_cache_gives_the_logits_of_one_full_call(arch, spec):
    """Chunked prefill then token-by-token steps against the cache = logits of one full call
    (in LSH mode too: every step draws the blocks of the full call)."""
    model = patched(MODELS[arch](), spec)
    ids, mask = prompts(n=12)
    with torch.no_grad():
        full = model(ids, attention_mask=mask).logits
        cache = DynamicCache()
        pieces = [model(ids[:, :7], attention_mask=mask[:, :7], cache=cache, use_cache=True).logits]
        for t in range(7, 12):
            pieces.append(model(ids[:, t : t + 1], attention_mask=mask[:, : t + 1], cache=cache, use_cache=True).logits)
    stepped = torch.cat(pieces, dim=1)
    assert (stepped - full)[mask.bool()].abs().max() < TOL


# --------------------------------------------------------------------------- LSH and window modes


@ARCHS
@pytest.mark.parametrize(
    "spec",
    [LSH, AttentionSpec("lsh", "cuts", 4, seed=20_000_000_000_000), AttentionSpec("window", sliding_window=3)],
    ids=["binning", "cuts-big-seed", "window"],
)
def test_cached_generation_matches_uncached_generation(arch, spec):
    """A decoding step sees the blocks one full call draws, so the cache changes nothing."""
    model = MODELS[arch]()
    ids, mask = prompts()
    approx = patched(model, spec)
    with torch.no_grad():
        cached = generate(approx, ids, mask)
        uncached = generate(approx, ids, mask, use_cache=False)
        exact = generate(patched(model, EXACT), ids, mask)
    assert torch.equal(cached.sequences, uncached.sequences)
    assert step_logits_gap(cached, uncached) < 1e-5
    assert step_logits_gap(cached, exact) > 1e-3  # the approximation is really in use


def test_lsh_layers_draw_distinct_blocks_from_one_seed():
    """Layer l holds global heads l*H .. l*H + H - 1: layer 1 must not repeat layer 0's blocks."""
    model = patched(bloom(), LSH)
    offsets = [block.self_attention.alibi_lsh.head_offset for block in model.transformer.h]
    assert offsets == [0, 4]
    spy = mock.patch.object(spec_module, "lsh_alibi_attention", wraps=spec_module.lsh_alibi_attention)
    with spy as calls, torch.no_grad():
        model(prompts()[0])
    seen = [(call.args[7], call.kwargs["head_offset"]) for call in calls.call_args_list]
    assert seen == [(3, 0), (3, 4)]  # the user's seed unchanged, the layer's first global head


# --------------------------------------------------------------------------- past the configured maximum


def test_mpt_runs_past_max_seq_len_like_the_same_weights_with_a_larger_limit():
    short, long = mpt(max_seq_len=16), mpt(max_seq_len=64)  # same seed: same weights
    ids, mask = prompts(n=40)
    with pytest.raises(RuntimeError):  # the unpatched model's bias stops at max_seq_len
        short(ids)
    with torch.no_grad():
        ours = patched(short, EXACT)(ids, attention_mask=mask).logits
        reference = long(ids, attention_mask=mask).logits
        assert (ours - reference)[mask.bool()].abs().max() < TOL
        generated = generate(patched(short, EXACT), ids, mask)
        assert torch.equal(generated.sequences, generate(long, ids, mask).sequences)


@pytest.mark.parametrize("arch", ["bloom", "falcon-multi-query"])
def test_past_the_configured_maximum_exact_mode_still_matches(arch):
    # BLOOM has no maximum; Falcon's max_position_embeddings bounds only its rotary variant.
    model = bloom() if arch == "bloom" else falcon(multi_query=True, max_position_embeddings=32)
    ids, mask = prompts(n=96)
    with torch.no_grad():
        assert (patched(model, EXACT)(ids, attention_mask=mask).logits - model(ids, attention_mask=mask).logits)[
            mask.bool()
        ].abs().max() < TOL


def _float32_falcon_bias(attention_mask: torch.Tensor, num_heads: int, dtype: torch.dtype) -> torch.Tensor:
    """Falcon's ALiBi bias with its own bfloat16 slopes but the product taken in float32."""
    slopes = FALCON_BIAS(torch.ones(1, 2, dtype=torch.long), num_heads, torch.float32)[:, 0, 1]
    positions = ((attention_mask.cumsum(dim=-1) - 1) * attention_mask)[:, None, :]
    return (slopes[None, :, None] * positions).reshape(-1, 1, attention_mask.shape[-1]).to(dtype)


@pytest.mark.parametrize(("heads", "n", "exact_to"), [(4, 257, True), (4, 512, False), (16, 64, False)])
def test_falcon_differs_from_exact_alibi_by_its_bfloat16_bias_only(heads, n, exact_to):
    """Falcon rounds slope * position to bfloat16: exact for power-of-two slopes (<= 8 heads) up to
    position 256, not beyond, and not for the irrational slopes of more heads. With the product
    taken in float32, the unpatched model equals exact mode everywhere."""
    model = falcon(multi_query=True, num_attention_heads=heads, hidden_size=8 * heads)
    ids = torch.randint(VOCAB, (1, n), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = patched(model, EXACT)(ids).logits
        gap = (ours - model(ids).logits).abs().max().item()
        with mock.patch("transformers.models.falcon.modeling_falcon.build_alibi_tensor", _float32_falcon_bias):
            unrounded = model(ids).logits
    assert (ours - unrounded).abs().max() < TOL
    assert (gap < TOL) == exact_to, gap


# --------------------------------------------------------------------------- fine-tuning


def _gradients(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Parameter gradients of the next-token loss on the real tokens of a left-padded batch.

    A row's first real token gets no label either: it would be predicted from a padding
    position, whose output is meaningless (the model's: the mean of all values, as every key
    is masked; the patch's: 0).
    """
    model.train()
    predicted_from_real = torch.cat([torch.zeros_like(mask[:, :1]), mask[:, :-1]], dim=1).bool()
    labels = ids.masked_fill(~(mask.bool() & predicted_from_real), -100)
    model(ids, attention_mask=mask, labels=labels).loss.backward()
    return {name: p.grad for name, p in model.named_parameters() if p.grad is not None}


@ARCHS
def test_exact_mode_fine_tunes_with_the_models_gradients(arch):
    model = MODELS[arch]()
    ids, mask = prompts()
    reference = _gradients(copy.deepcopy(model), ids, mask)
    ours = _gradients(patched(model, EXACT), ids, mask)
    assert reference.keys() == ours.keys() and len(ours) > 5
    for name, grad in reference.items():
        assert (ours[name] - grad).abs().max() < TOL, name


@ARCHS
def test_lsh_mode_fine_tunes_with_finite_gradients(arch):
    grads = _gradients(patched(MODELS[arch](), LSH), *prompts())
    attention_weights = [g for name, g in grads.items() if "qkv" in name.lower() or "query_key_value" in name]
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert attention_weights and all(g.abs().sum() > 0 for g in attention_weights)


@pytest.mark.parametrize("arch", ["bloom", "mpt", "falcon"])
def test_attention_dropout_is_refused_in_training_mode_only(arch):
    if arch == "mpt":
        model = mpt()
        for block in model.transformer.blocks:  # MptAttentionConfig annotates attn_pdrop as int, refusing 0.1
            block.attn.attn_dropout_p = 0.1
    else:
        model = bloom(attention_dropout=0.1) if arch == "bloom" else falcon(attention_dropout=0.1)
    model = patch_attention(model, EXACT)
    ids = prompts()[0]
    with torch.no_grad():
        model(ids)  # eval mode: dropout is off, nothing to refuse
    with pytest.raises(ValueError, match=r"attention dropout 0\.1 .*training mode"):
        model.train()(ids)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("arch", ["bloom", "mpt", "falcon-multi-query"])
def test_unsupported_caches_are_refused_naming_the_cache_class(arch):
    """A sliding-window layer drops old keys and with them the positions."""
    model = patched(MODELS[arch](), EXACT)
    ids, mask = prompts()
    sliding = DynamicCache()
    sliding.layers = [DynamicSlidingWindowLayer(sliding_window=4) for _ in range(2)]
    with pytest.raises(ValueError, match="DynamicSlidingWindowLayer"):
        model(ids, attention_mask=mask, cache=sliding, use_cache=True)


@pytest.mark.parametrize("arch", ["bloom", "mpt", "falcon-multi-query"])
@pytest.mark.parametrize("spec", [LSH, AttentionSpec("window", sliding_window=3)], ids=["lsh", "window"])
def test_lsh_and_window_modes_refuse_masks_that_are_not_padding(arch, spec):
    model = patched(MODELS[arch](), spec)
    ids, mask = prompts()
    holes = mask.clone()
    holes[1, 5] = 0
    with pytest.raises(ValueError, match="row 1 has padding between real tokens"):
        model(ids, attention_mask=holes)
    # Generating from right-padded prompts puts the new tokens after the padding: a hole.
    right_ids, right_mask = prompts(side="right")
    with pytest.raises(ValueError, match="padding between real tokens"):
        generate(model, right_ids, right_mask)


def test_models_without_alibi_and_other_attention_kernels_are_refused():
    with pytest.raises(ValueError, match="not an ALiBi model"):
        check_alibi_config(transformers.GPT2Config())
    with pytest.raises(ValueError, match="does not use ALiBi"):
        check_alibi_config(transformers.MptConfig(attn_config={"alibi": False}))
    with pytest.raises(ValueError, match="rotary"):
        patch_attention(falcon(alibi=False))
    model = falcon()
    model.config._attn_implementation = "flex_attention"
    with pytest.raises(ValueError, match="'flex_attention' is not supported"):
        patch_attention(model)
    with pytest.raises(ValueError, match="AttentionSpec"):
        patch_attention(bloom(), "lsh")


@ARCHS
def test_unpatch_restores_the_model_exactly(arch):
    model = MODELS[arch]()
    ids, mask = prompts()
    with torch.no_grad():
        before = model(ids, attention_mask=mask).logits
        patch_attention(model, LSH)
        patch_attention(model, EXACT)  # switching specs keeps one hook
        after = unpatch_attention(model)(ids, attention_mask=mask).logits
    assert torch.equal(before, after)
