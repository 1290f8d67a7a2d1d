"""The Hugging Face adapter: exact mode reproduces BLOOM (and MPT), LSH mode converges in R."""

from __future__ import annotations

import math

import pytest
import torch

transformers = pytest.importorskip("transformers")

from alibi_lsh import alibi_slopes  # noqa: E402
from alibi_lsh.hf import check_alibi_config, main, model_slopes, patch_attention, unpatch_attention  # noqa: E402
from alibi_lsh.lm.config import AttentionSpec  # noqa: E402

N = 48  # sequence length of the test inputs


def tiny_bloom(n_head: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.BloomConfig(vocab_size=101, hidden_size=8 * n_head, n_layer=2, n_head=n_head,
                                      hidden_dropout=0.0, attention_dropout=0.0)
    model = transformers.BloomForCausalLM(config).eval()
    # Random init (std 0.02) gives near-uniform attention; larger query/key weights make the
    # scores content-dependent like a trained model's, so the test exercises real softmaxes.
    with torch.no_grad():
        for block in model.transformer.h:
            block.self_attention.query_key_value.weight.normal_(0.0, 0.3)
    return model


def tiny_mpt() -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.MptConfig(vocab_size=101, d_model=32, n_layers=2, n_heads=4, max_seq_len=128,
                                    attn_config={"alibi": True})
    model = transformers.MptForCausalLM(config).eval()
    with torch.no_grad():
        for block in model.transformer.blocks:
            block.attn.Wqkv.weight.normal_(0.0, 0.3)
    return model


def ids(vocab: int = 101, n: int = N, batch: int = 2) -> torch.Tensor:
    return torch.randint(vocab, (batch, n), generator=torch.Generator().manual_seed(1))


@torch.no_grad()
def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(input_ids=x, use_cache=False).logits


@pytest.mark.parametrize("n_head", [4, 6])  # 6: the non-power-of-two slope rule
def test_slopes_match_bloom(n_head):
    assert torch.allclose(model_slopes(tiny_bloom(n_head)), alibi_slopes(n_head))


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
    patched = logits(patch_attention(model, AttentionSpec("window", window=N)), x)
    assert torch.allclose(patched, reference, atol=1e-5)


def test_padding_is_refused_with_a_clear_message():
    model, x = patch_attention(tiny_bloom(), AttentionSpec("lsh", num_samples=2)), ids()
    mask = torch.ones_like(x)
    mask[0, :5] = 0
    with pytest.raises(ValueError, match="unpadded"):
        model(input_ids=x, attention_mask=mask, use_cache=False)
    # An all-ones mask is plain causal attention and is accepted.
    model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False)


def test_mpt_exact_mode_reproduces_logits():
    model, x = tiny_mpt(), ids()
    reference = logits(model, x)
    assert torch.allclose(model_slopes(model), alibi_slopes(4))
    patched = logits(patch_attention(model, AttentionSpec("exact")), x)
    assert torch.allclose(patched, reference, atol=1e-5, rtol=1e-5), (patched - reference).abs().max()


def test_non_alibi_models_are_refused():
    with pytest.raises(ValueError, match="not an ALiBi model"):
        check_alibi_config(transformers.GPT2Config())
    with pytest.raises(ValueError, match="does not use ALiBi"):
        check_alibi_config(transformers.MptConfig(attn_config={"alibi": False}))


def test_cli_reports_bad_model_paths_without_traceback(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("hello")
    assert main(["--model", str(tmp_path / "missing"), "--text", str(text)]) == 2
    assert "model path not found" in capsys.readouterr().err
    # A directory without a model config.
    assert main(["--model", str(tmp_path), "--text", str(text)]) == 2
    assert "no Hugging Face model config" in capsys.readouterr().err
    # A real checkpoint of a model without ALiBi.
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2))
    gpt2.save_pretrained(tmp_path / "gpt2")
    assert main(["--model", str(tmp_path / "gpt2"), "--text", str(text)]) == 2
    err = capsys.readouterr().err
    assert "not an ALiBi model" in err and "Traceback" not in err


def test_cli_scores_a_local_bloom_checkpoint(tmp_path, capsys):
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    model = tiny_bloom()
    model.save_pretrained(tmp_path / "bloom")
    vocab = {chr(97 + i): i for i in range(26)} | {"<unk>": 26}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>").save_pretrained(tmp_path / "bloom")
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog " * 3)
    assert main(["--model", str(tmp_path / "bloom"), "--text", str(text), "--samples", "1", "8"]) == 0
    out = capsys.readouterr().out
    assert "original model" in out and "lsh-binning R=8" in out
