"""The small ALiBi language model: attention plug-in, training, weights and the CLI's errors."""

from __future__ import annotations

import math

import pytest
import torch

from alibi_lsh import AttentionSpec, alibi_attention, alibi_slopes, lsh_alibi_attention
from alibi_lsh.attention.spec import EXACT
from alibi_lsh.lm import DEFAULT_WEIGHTS, ALiBiGPT, ModelConfig, TrainConfig, load_model
from alibi_lsh.lm.__main__ import main
from alibi_lsh.lm.checkpoint import save_weights
from alibi_lsh.lm.data import decode, encode, eval_windows, load_split, random_batch
from alibi_lsh.lm.model import attend
from alibi_lsh.lm.train import learning_rate, train

TINY = ModelConfig(context_length=32, n_layer=2, n_head=4, n_embd=32)


def tiny_model(seed: int = 0) -> ALiBiGPT:
    torch.manual_seed(seed)
    return ALiBiGPT(TINY).eval()


def test_exact_path_matches_library_reference():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 40, 8, generator=g) for _ in range(3))
    slopes = alibi_slopes(4)
    assert torch.allclose(attend(q, k, v, slopes, EXACT), alibi_attention(q, k, v, slopes), atol=1e-5)


def test_model_shapes_and_initial_loss():
    model = tiny_model()
    x, y = torch.randint(256, (2, 3, 20), generator=torch.Generator().manual_seed(0))
    logits, loss = model(x, y)
    assert logits.shape == (3, 20, 256)
    assert abs(loss.item() - math.log(256)) < 0.2  # near-uniform predictions at init
    assert torch.allclose(model.slopes, alibi_slopes(4))


def test_runs_beyond_training_length_and_attention_variants_agree_in_the_limit():
    model = tiny_model()
    x = torch.randint(256, (1, 4 * TINY.context_length))
    exact, _ = model(x)
    window, _ = model(x, attention=AttentionSpec("window", sliding_window=x.shape[1]))
    assert torch.allclose(window, exact, atol=1e-4)
    # More samples: closer to exact (error ~ 1/sqrt(R)).
    err = {
        r: (model(x, attention=AttentionSpec("lsh", num_samples=r, seed=0))[0] - exact).abs().mean() for r in (1, 32)
    }
    assert err[32] < err[1]


def test_lsh_is_reproducible_from_its_seed():
    model = tiny_model()
    x = torch.randint(256, (1, 48))
    a, _ = model(x, attention=AttentionSpec("lsh", "cuts", 4, seed=3))
    b, _ = model(x, attention=AttentionSpec("lsh", "cuts", 4, seed=3))
    c, _ = model(x, attention=AttentionSpec("lsh", "cuts", 4, seed=4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("seed", [5, 20_000_000_000_000, 2**63 - 1])  # big seeds: nothing derived from them
def test_each_layer_draws_the_blocks_of_its_global_heads(seed):
    """Layer l's heads are global heads l*H .. l*H + H - 1 of the spec's own seed."""
    model, capture, layer_outputs = tiny_model(), {}, {}
    x = torch.randint(256, (1, 40), generator=torch.Generator().manual_seed(2))
    model.layers[1].attn.register_forward_hook(lambda mod, args, out: layer_outputs.setdefault(1, out))
    model(x, attention=AttentionSpec("lsh", "binning", 4, seed=seed), capture=capture)
    q, k, v = capture[1]
    expected = lsh_alibi_attention(q, k, v, model.slopes, 4, scheme="binning", seed=seed, head_offset=TINY.n_head)
    block = model.layers[1].attn
    y = expected.transpose(1, 2).reshape(1, 40, TINY.n_embd)
    assert torch.allclose(layer_outputs[1], block.c_proj(y), atol=1e-6)
    # Layer 0 of the same seed draws other blocks (heads 0..H-1): its output differs on layer 1's q, k, v.
    other = lsh_alibi_attention(q, k, v, model.slopes, 4, scheme="binning", seed=seed, head_offset=0)
    assert not torch.allclose(other, expected, atol=1e-4)


def test_capture_returns_each_layers_qkv():
    model = tiny_model()
    capture = {}
    model(torch.randint(256, (2, 16)), capture=capture)
    assert sorted(capture) == [0, 1]
    assert all(t.shape == (2, 4, 16, 8) for t in capture[1])


def test_data_helpers():
    assert decode(encode("héllo")) == "héllo"
    val = load_split("val")
    assert val.dtype == torch.uint8 and len(val) > 100_000
    x, y = eval_windows(val, 64, 5)
    assert x.shape == (5, 64) and torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(eval_windows(val, 64, 5)[0], x)  # deterministic
    bx, by = random_batch(val, 4, 16, torch.Generator().manual_seed(0))
    assert bx.shape == by.shape == (4, 16)
    with pytest.raises(ValueError):
        load_split("test")


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=100, warmup_steps=10, lr=1e-3, min_lr=1e-4)
    assert learning_rate(0, cfg) == pytest.approx(1e-4)
    assert learning_rate(9, cfg) == pytest.approx(1e-3)
    assert learning_rate(100, cfg) == pytest.approx(1e-4)


def test_a_few_training_steps_lower_the_loss(tmp_path):
    text = torch.tensor(list(b"def f(x):\n    return x + 1\n" * 200), dtype=torch.uint8)
    cfg = TrainConfig(steps=30, batch_size=8, lr=3e-3, warmup_steps=5, eval_every=30, eval_windows=8, seed=0)
    out = tmp_path / "w.safetensors"
    _, summary = train(TINY, cfg, out=out, train_data=text, val_data=text, progress=False)
    assert summary["val_loss"] < math.log(256) - 1.5
    model, info = load_model(out)
    assert model.config == TINY and info["val_loss"] == summary["val_loss"]


def test_weights_round_trip_in_float16(tmp_path):
    model = tiny_model()
    path = tmp_path / "w.safetensors"
    save_weights(model, path, {"note": "x"})
    loaded, info = load_model(path)
    x = torch.randint(256, (1, 24))
    assert info == {"note": "x"}
    assert torch.allclose(loaded(x)[0], model(x)[0], atol=1e-2)


def test_missing_and_corrupt_weights_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m alibi_lsh.lm train"):
        load_model(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="corrupt"):
        load_model(bad)


def test_cli_prints_weight_errors_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 10)
    assert main(["eval", "--weights", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --weights:") and "is not a readable weights file" in err and "Traceback" not in err
    assert "git checkout" not in err  # the restore hint is for the shipped default only
    assert main(["eval", "--weights", str(tmp_path / "missing.safetensors")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped weights not trained yet")
def test_shipped_model_loads_and_predicts_held_out_text():
    model, info = load_model()
    assert 1_000_000 <= model.num_params() <= 5_000_000
    x, y = eval_windows(load_split("val"), model.config.context_length, 8)
    with torch.no_grad():
        _, loss = model(x, y)
    assert loss.item() < 2.0  # nats/byte; uniform would be 5.55
    assert abs(loss.item() - info["val_loss"]) < 0.3
