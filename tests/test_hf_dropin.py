"""The adapter as a drop-in: attention weights on request, any 0/1 attention_mask with each model's
own positions, the static cache, torch.export and fullgraph compile, patching on the meta device.

Tiny random BLOOM, MPT and ALiBi Falcon models built from configs (nothing is downloaded); the
reference is the unpatched model, or an independent computation where the model has none.
"""

from __future__ import annotations

from unittest import mock

import pytest
import torch

transformers = pytest.importorskip("transformers")

from transformers.cache_utils import DynamicCache, StaticCache  # noqa: E402

from alibi_lsh import AttentionSpec, lsh_alibi_attention_reference, window_alibi_attention  # noqa: E402
from alibi_lsh.attention.spec import attend  # noqa: E402
from alibi_lsh.hf import model_slopes, patch_attention  # noqa: E402
from alibi_lsh.hf.weights import mode_weights  # noqa: E402

from .test_hf_adapter import MODELS, TOL, bloom, falcon, generate, mpt, patched, prompts  # noqa: E402

EXACT = AttentionSpec("exact")
LSH = AttentionSpec("lsh", "binning", num_samples=4, seed=3)
WINDOW = AttentionSpec("window", sliding_window=3)
ARCHS = pytest.mark.parametrize("arch", ["bloom", "mpt", "falcon-rw", "falcon-grouped"])


def holed_prompts():
    """A left-padded row, an unpadded row with two holes, a right-padded row with a hole."""
    ids, mask = prompts()
    mask[1, [3, 8]] = 0
    mask[2, [1, 2]] = 0
    return ids, mask


def _half_falcon_bias(original):
    # The eager code path transformers takes for Falcon's weights adds the ALiBi bias twice (in the
    # scores and in the mask); half the bias there gives the SDPA model's single bias, exactly
    # (a power-of-two factor on bfloat16 values).
    return lambda *args, **kwargs: original(*args, **kwargs) / 2


# --------------------------------------------------------------------------- output_attentions


@ARCHS
def test_exact_mode_returns_the_models_attention_weights(arch):
    model = MODELS[arch]()
    ids, mask = holed_prompts()
    with torch.no_grad():
        ours = patched(model, EXACT)(ids, attention_mask=mask, output_attentions=True)
        without = patched(model, EXACT)(ids, attention_mask=mask).logits
        if arch.startswith("falcon"):
            path = "transformers.models.falcon.modeling_falcon.build_alibi_tensor"
            original = transformers.models.falcon.modeling_falcon.build_alibi_tensor
            with mock.patch(path, _half_falcon_bias(original)):
                reference = model(ids, attention_mask=mask, output_attentions=True)
        else:
            reference = model(ids, attention_mask=mask, output_attentions=True)
    assert len(ours.attentions) == len(reference.attentions) == 2
    for got, expected in zip(ours.attentions, reference.attentions, strict=True):
        assert got.shape == expected.shape == (3, 4, 14, 14)
        assert (got - expected).abs().max() < 1e-6  # every row, padding queries included
    assert (ours.logits - reference.logits).abs().max() < TOL
    assert (ours.logits - without).abs().max() < 1e-6  # the weights path: one matmul and softmax instead of SDPA


@pytest.mark.parametrize("arch", ["bloom", "mpt", "falcon-grouped"])
@pytest.mark.parametrize("spec", [LSH, WINDOW], ids=["lsh", "window"])
def test_lsh_and_window_weights_are_the_ones_applied(arch, spec):
    """In the model: rows sum to one over the real keys at or before the query (within the window),
    padding gets none, the model returns the layer's own weights, and asking for them changes no
    logit. (That weights @ v is the output applied is checked per layer below.)"""
    model = patched(MODELS[arch](), spec)
    ids, mask = prompts()
    captured = []
    hook = lambda module, args, kwargs, out: captured.append(out)  # noqa: E731
    attention = next(m for m in model.modules() if hasattr(m, "alibi_lsh"))
    handle = attention.register_forward_hook(hook, with_kwargs=True)
    with torch.no_grad():
        out = model(ids, attention_mask=mask, output_attentions=True)
        plain = model(ids, attention_mask=mask).logits
    handle.remove()
    assert torch.equal(out.logits, plain)
    weights = out.attentions[0]
    real = mask.bool()
    causal = torch.ones(14, 14, dtype=torch.bool).tril()
    visible = causal[None] & real[:, None, :] & real[:, :, None]
    assert torch.equal(weights > 0, (weights > 0) & visible[:, None])  # nothing on padding or the future
    sums = weights.sum(-1)
    assert torch.allclose(sums[real[:, None].expand_as(sums)], torch.ones(()), atol=1e-6)
    assert (sums[~real[:, None].expand_as(sums)] == 0).all()
    if spec.kind == "window":  # nothing at distance >= w
        distance = torch.arange(14)[:, None] - torch.arange(14)[None]
        assert (weights[..., distance >= spec.sliding_window] == 0).all()
    assert len(captured) == 2 and captured[0][1] is weights


def _qkv(batch=2, heads=4, kv_heads=2, n_q=9, n_k=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, n_q, 8, generator=g, dtype=torch.float64)
    k, v = (torch.randn(batch, kv_heads, n_k, 8, generator=g, dtype=torch.float64) for _ in range(2))
    padding = torch.ones(batch, n_k, dtype=torch.bool)
    padding[0, :2] = False  # left padding
    padding[1, -1] = False  # right padding: the last query is a padding position
    return q, k, v, padding


@pytest.mark.parametrize("scheme", ["binning", "cuts"])
def test_lsh_weights_times_v_is_the_dense_estimator_and_the_fast_path(scheme):
    """softmax(s + log(c / R)) with the blocks of the same seed and head offset: times v, the dense
    reference estimator and the fast path (grouped kv heads, left and right padding, a shard's offset)."""
    q, k, v, padding = _qkv()
    slopes = torch.tensor([0.5, 0.25, 0.125, 0.0625], dtype=torch.float64)
    spec = AttentionSpec("lsh", scheme, num_samples=3, seed=11)
    options = {"scale": 0.3, "key_padding_mask": padding, "enable_gqa": True, "head_offset": 8}
    weights = mode_weights(q, k, slopes, spec, 0.3, padding, head_offset=8)
    reference = lsh_alibi_attention_reference(q, k, v, slopes, 3, True, scheme, 11, **options)
    fast = attend(q, k, v, slopes, spec, causal=True, **options)
    grouped_v = v.repeat_interleave(2, dim=1)
    assert (weights @ grouped_v - reference).abs().max() < 1e-12
    assert (weights @ grouped_v - fast).abs().max() < 1e-10
    shifted = mode_weights(q, k, slopes, spec, 0.3, padding, head_offset=0)
    assert (shifted - weights).abs().max() > 1e-3  # the offset selects other blocks


def test_window_weights_times_v_is_window_attention_and_keep_distance_below_w():
    q, k, v, padding = _qkv()
    slopes = torch.tensor([0.5, 0.25, 0.125, 0.0], dtype=torch.float64)
    spec = AttentionSpec("window", sliding_window=[2, 3, 4, 5])
    weights = mode_weights(q, k, slopes, spec, 0.3, padding, head_offset=0)
    expected = window_alibi_attention(
        q, k, v, slopes, [2, 3, 4, 5], True, scale=0.3, key_padding_mask=padding, enable_gqa=True
    )
    assert (weights @ v.repeat_interleave(2, dim=1) - expected).abs().max() < 1e-12
    distance = torch.arange(12)[-9:, None] - torch.arange(12)[None]
    for head, w in enumerate([2, 3, 4, 5]):
        assert (weights[:, head][:, distance >= w] == 0).all()
        assert (weights[1, head][distance == w - 1] > 0).any()


def test_lsh_weights_are_size_capped_with_a_clear_error():
    ids, mask = prompts()
    capped = patch_attention(mpt(), LSH, max_weight_elements=3 * 4 * 14 * 14 + 4 * 14 * 14)  # exactly enough
    with torch.no_grad():
        capped(ids, attention_mask=mask, output_attentions=True)
        ids_longer = torch.cat([ids, ids[:, :1]], dim=1)
        with pytest.raises(ValueError, match=r"3600 weight elements .*n_k=15\), above max_weight_elements = 3136"):
            capped(ids_longer, output_attentions=True)
        capped(ids_longer)  # without weights nothing dense is formed
    with pytest.raises(ValueError, match="max_weight_elements must be an integer >= 1"):
        patch_attention(mpt(), LSH, max_weight_elements=0)
    unseeded = patch_attention(bloom(), AttentionSpec("lsh", num_samples=2, seed=None))
    with pytest.raises(ValueError, match="integer spec.seed"):
        unseeded(ids, output_attentions=True)


@pytest.mark.parametrize("bad", [None, "lsh", 3])
def test_attend_names_a_bad_spec(bad):
    q = torch.randn(1, 1, 2, 4)
    with pytest.raises(ValueError, match="spec must be an AttentionSpec"):
        attend(q, q, q, [0.5], spec=bad)


# --------------------------------------------------------------------------- masks with holes


@ARCHS
def test_exact_mode_reads_masks_with_holes_as_the_model_does(arch):
    model = MODELS[arch]()
    ids, mask = holed_prompts()
    with torch.no_grad():
        reference = model(ids, attention_mask=mask).logits
        ours = patched(model, EXACT)(ids, attention_mask=mask).logits
        # The real tokens of row 1 alone, without the holes: BLOOM and Falcon count positions with
        # cumsum(mask) - 1, so the holes vanish; MPT counts the key index, so they keep their distance.
        alone = patched(model, EXACT)(ids[1:2, mask[1].bool()]).logits[0]
    assert (ours - reference).abs().max() < TOL  # every position, padding included
    gap = (ours[1, mask[1].bool()] - alone).abs().max()
    assert gap < TOL if arch != "mpt" else gap > 1e-3


@pytest.mark.parametrize("arch", ["bloom", "mpt", "falcon-rw"])
def test_generation_from_right_padded_prompts_matches_the_model(arch):
    """The new tokens follow the padding: a mask with holes, which transformers runs (with a warning)."""
    model = MODELS[arch]()
    ids, mask = prompts(side="right")
    with torch.no_grad():
        reference = generate(model, ids, mask)
        ours = generate(patched(model, EXACT), ids, mask)
    assert torch.equal(ours.sequences, reference.sequences)
    assert max((a - b).abs().max() for a, b in zip(ours.logits, reference.logits, strict=True)) < TOL


# --------------------------------------------------------------------------- StaticCache


@pytest.mark.parametrize("arch", ["bloom", "mpt"])  # unpatched Falcon cannot run a StaticCache
@pytest.mark.parametrize("spec", [EXACT, LSH, WINDOW], ids=["exact", "lsh", "window"])
def test_a_static_cache_gives_the_logits_of_one_full_call(arch, spec):
    model = patched(MODELS[arch](), spec)
    ids, mask = prompts(n=12)
    with torch.no_grad():
        full = model(ids, attention_mask=mask).logits
        cache = StaticCache(config=model.config, max_cache_len=16)
        pieces = [model(ids[:, :7], attention_mask=mask[:, :7], cache=cache, use_cache=True).logits]
        for t in range(7, 12):
            pieces.append(model(ids[:, t : t + 1], attention_mask=mask[:, : t + 1], cache=cache, use_cache=True).logits)
        first = StaticCache(config=model.config, max_cache_len=16)
        weights = model(ids[1:, :3], output_attentions=True, use_cache=True, cache=first).attentions[0]
    stepped = torch.cat(pieces, dim=1)
    assert (stepped - full)[mask.bool()].abs().max() < TOL
    assert weights.shape == (2, 4, 3, 16) and (weights[..., 3:] == 0).all()  # unfilled slots get no weight
    assert torch.allclose(weights.sum(-1), torch.ones(()))


def test_static_cache_generation_matches_dynamic_generation():
    model = bloom()
    ids, mask = prompts()
    with torch.no_grad():
        reference = generate(model, ids, mask)
        ours = generate(patched(model, EXACT), ids, mask, cache_implementation="static")
    assert torch.equal(ours.sequences, reference.sequences)
    assert max((a - b).abs().max() for a, b in zip(ours.logits, reference.logits, strict=True)) < TOL


def test_compiled_static_cache_generation_matches_the_model():
    """transformers' compiled decoding: a StaticCache and a fullgraph-compiled forward per step."""
    model = bloom()
    ids, mask = prompts()
    config = transformers.CompileConfig(fullgraph=True, backend="aot_eager", dynamic=False)
    config._compile_all_devices = True  # transformers compiles on accelerators only unless told
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    with torch.no_grad():
        reference = generate(model, ids, mask)
        ours = generate(patched(model, EXACT), ids, mask, cache_implementation="static", compile_config=config)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # the decoding steps ran compiled
    torch._dynamo.reset()
    assert torch.equal(ours.sequences, reference.sequences)
    assert max((a - b).abs().max() for a, b in zip(ours.logits, reference.logits, strict=True)) < TOL


# --------------------------------------------------------------------------- export and compile


@pytest.mark.parametrize("arch", ["bloom", "mpt", "falcon-grouped"])
def test_exact_mode_exports_and_compiles_fullgraph_with_the_same_outputs(arch):
    """No check on data values in exact mode: torch.export and torch.compile(fullgraph=True) trace
    the patched model whole, masks with holes included."""
    model = patched(MODELS[arch](), EXACT)
    ids, mask = holed_prompts()
    inputs = {"input_ids": ids, "attention_mask": mask, "use_cache": False}
    with torch.no_grad():
        eager = model(**inputs).logits
        exported = torch.export.export(model, (), inputs).module()(**inputs).logits
        torch._dynamo.reset()
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")(**inputs).logits
        torch._dynamo.reset()
    assert (exported - eager).abs().max() < 1e-6
    assert (compiled - eager).abs().max() < 1e-6


@pytest.mark.parametrize("spec", [LSH, WINDOW], ids=["lsh", "window"])
def test_lsh_and_window_modes_do_not_compile_fullgraph_as_documented(spec):
    """Their mask and input checks read data values: fullgraph tracing stops at the first one."""
    model = patched(mpt(), spec)
    ids, mask = prompts()
    torch._dynamo.reset()
    with pytest.raises(RuntimeError, match="data-dependent"), torch.no_grad():
        torch.compile(model, fullgraph=True, backend="aot_eager")(ids, attention_mask=mask, use_cache=False)
    torch._dynamo.reset()


def test_exact_mode_decodes_compiled_with_a_dynamic_cache():
    model = patched(bloom(), EXACT)
    ids, mask = prompts(n=10)
    step = torch.compile(model, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        full = model(ids, attention_mask=mask).logits
        cache = DynamicCache()
        step(ids[:, :9], attention_mask=mask[:, :9], cache=cache, use_cache=True)
        last = step(ids[:, 9:], attention_mask=mask, cache=cache, use_cache=True).logits
        torch._dynamo.reset()
    assert (last[:, 0] - full[:, -1]).abs().max() < TOL


# --------------------------------------------------------------------------- meta device


@pytest.mark.parametrize("arch", ["bloom", "mpt", "falcon-grouped"])
@pytest.mark.parametrize("spec", [EXACT, LSH], ids=["exact", "lsh"])
def test_a_model_patched_on_the_meta_device_runs_once_materialised(arch, spec):
    """As from_pretrained does for large models: build on meta, patch, then load the weights."""
    reference = MODELS[arch]()
    with torch.device("meta"):
        empty = type(reference)(reference.config)
        meta_spec = AttentionSpec(spec.kind, num_samples=spec.num_samples, seed=spec.seed)  # default window too
        patch_attention(empty, meta_spec)
    assert model_slopes(empty).device.type == "cpu"
    empty.to_empty(device="cpu").load_state_dict(reference.state_dict())
    ids, mask = prompts()
    with torch.no_grad():
        got = empty.eval()(ids, attention_mask=mask).logits
        expected = patched(reference, spec)(ids, attention_mask=mask).logits
    assert torch.equal(got, expected)


def test_falcon_is_compared_with_half_its_bias_only_where_weights_are_asked():
    """The premise of the Falcon weights reference: without weights, the unpatched SDPA model
    (one bias) and the patch agree; the eager weights path (two biases) does not."""
    model = falcon(multi_query=True)
    ids, mask = prompts()
    with torch.no_grad():
        sdpa = model(ids, attention_mask=mask).logits
        eager_path = model(ids, attention_mask=mask, output_attentions=True).logits
        ours = patched(model, EXACT)(ids, attention_mask=mask).logits
    real = mask.bool()
    assert (ours - sdpa)[real].abs().max() < TOL
    assert (eager_path - sdpa)[real].abs().max() > 1e-3


@pytest.mark.parametrize("arch", ["bloom", "mpt", "falcon-grouped"])
def test_gradient_checkpointing_still_recomputes_the_patched_layers(arch):
    """transformers checkpoints a layer inside its class's forward; the patch must not bypass that
    (MPT's blocks get a patched forward): with checkpointing on, backward runs attention again."""
    model = patch_attention(MODELS[arch](), EXACT)
    model.gradient_checkpointing_enable()
    model.train()
    attention = next(m for m in model.modules() if hasattr(m, "alibi_lsh"))
    calls = []
    attention.register_forward_pre_hook(lambda *_: calls.append(torch.is_grad_enabled()))
    ids = prompts()[0]
    model(ids, labels=ids).loss.backward()
    assert len(calls) == 2  # the forward and its recomputation in backward
    model.gradient_checkpointing_disable()
    calls.clear()
    model(ids, labels=ids).loss.backward()
    assert len(calls) == 1
