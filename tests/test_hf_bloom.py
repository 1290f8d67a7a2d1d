"""The Hugging Face adapter on BLOOM: its slopes, exact mode, and LSH mode converging like 1/sqrt(R)."""

from __future__ import annotations

import math

import pytest
import torch

transformers = pytest.importorskip("transformers")

from alibi_lsh import AttentionSpec, alibi_slopes  # noqa: E402
from alibi_lsh.hf import model_slopes, patch_attention, unpatch_attention  # noqa: E402

N = 48  # sequence length of the test inputs


def tiny_bloom(n_head: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.BloomConfig(
        vocab_size=101, hidden_size=8 * n_head, n_layer=2, n_head=n_head, hidden_dropout=0.0, attention_dropout=0.0
    )
    model = transformers.BloomForCausalLM(config).eval()
    # Random init (std 0.02) gives near-uniform attention; larger query/key weights make the
    # scores content-dependent like a trained model's, so the test exercises real softmaxes.
    with torch.no_grad():
        for block in model.transformer.h:
            block.self_attention.query_key_value.weight.normal_(0.0, 0.3)
    return model


def ids(vocab: int = 101, n: int = N, batch: int = 2) -> torch.Tensor:
    return torch.randint(vocab, (batch, n), generator=torch.Generator().manual_seed(1))


@torch.no_grad()
def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(input_ids=x, use_cache=False).logits


@pytest.mark.parametrize("n_head", [4, 6])  # 6: the non-power-of-two slope rule
def test_slopes_match_bloom(n_head):
    assert torch.allclose(model_slopes(tiny_bloom(n_head)), alibi_slopes(n_head).double())


@pytest.mark.parametrize("n_head", [4, 6])
def test_exact_mode_reproduces_bloom_logits(n_head):
    model, x = tiny_bloom(n_head), ids()
    reference = logits(model, x)
    patched = logits(patch_attention(model, AttentionSpec("exact")), x)
    assert torch.allclose(patched, reference, atol=1e-5, rtol=1e-5), (patched - reference).abs().max()
    restored = logits(unpatch_attention(model), x)
    assert torch.equal(restored, reference)


def test_lsh_logit_error_falls_like_one_over_sqrt_r():
    model, x = tiny_bloom(), ids()
    reference = logits(model, x)
    errors = {}
    for r in (1, 4, 16):
        per_seed = []
        for seed in range(4):
            approx = logits(patch_attention(model, AttentionSpec("lsh", "binning", r, seed)), x)
            per_seed.append((approx - reference).pow(2).mean().sqrt().item())
        errors[r] = sum(per_seed) / len(per_seed)
    # Log-log slope of the RMS logit error over R = 1..16: -1/2 for a 1/sqrt(R) law.
    slope = (math.log(errors[16]) - math.log(errors[1])) / math.log(16)
    assert errors[1] > errors[4] > errors[16], errors
    assert -0.75 < slope < -0.3, (slope, errors)


def test_window_mode_with_full_window_is_exact():
    model, x = tiny_bloom(), ids()
    reference = logits(model, x)
    patched = logits(patch_attention(model, AttentionSpec("window", sliding_window=N)), x)
    assert torch.allclose(patched, reference, atol=1e-5)
