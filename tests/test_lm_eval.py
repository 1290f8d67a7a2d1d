"""Evaluation pipeline, real q/k/v for the benchmarks, figures and the committed results."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from alibi_lsh import AttentionSpec, alibi_attention
from alibi_lsh.lm import DEFAULT_WEIGHTS, ALiBiGPT, ModelConfig
from alibi_lsh.lm.evaluate import (
    RESULTS_DIR,
    EvalConfig,
    attention_errors,
    attention_maps,
    markdown_table,
    perplexity_runs,
    summarize,
    token_losses,
)
from alibi_lsh.lm.figures import attention_error_chart, attention_heatmaps, perplexity_chart, token_loss_chart

TINY = ModelConfig(context_length=16, n_layer=2, n_head=4, n_embd=32)
CFG = EvalConfig(multiples=(1, 2), samples=(1, 8), schemes=("binning", "cuts"), seeds=(0, 1), windows=(4,),
                 tokens=64, error_layers_length_multiples=(1,))
needs_weights = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped weights not trained yet")


@pytest.fixture(scope="module")
def model() -> ALiBiGPT:
    torch.manual_seed(0)
    return ALiBiGPT(TINY).eval()


@pytest.fixture(scope="module")
def val() -> torch.Tensor:
    return torch.tensor(list(b"import os\nprint(os.getcwd())\n" * 20), dtype=torch.uint8)


def test_perplexity_runs_and_summary(model, val):
    runs = perplexity_runs(model, CFG, val=val)
    # per length: exact + 1 window + 2 schemes x 2 R x 2 seeds
    assert len(runs) == 2 * (1 + 1 + 8)
    assert (runs[runs.method == "exact"].loss_gap == 0).all()
    summary = summarize(runs)
    assert len(summary) == 2 * (1 + 1 + 4)
    assert (summary[summary.method == "lsh"].seeds == 2).all()
    assert summary[summary.method == "exact"].gap_pct.abs().max() < 1e-9
    table = markdown_table(summary)
    assert "| exact ALiBi |" in table and "n = 32" in table and "LSH cuts, R=8" in table
    assert table.count(" ± ") == 4 * 2  # every LSH cell shows its spread over the 2 seeds
    one_seed = markdown_table(summary.assign(seeds=1))
    assert " ± " not in one_seed  # no "± 0.000" from a single seed
    chart = perplexity_chart(summary).to_dict()
    assert chart["width"] == "container"  # one panel, the width of its place (a phone or a projector)


def test_attention_errors_fall_with_r(model, val):
    errors = attention_errors(model, CFG, windows=1, val=val)
    assert set(errors.columns) >= {"length", "layer", "scheme", "R", "err_mean", "err_std"}
    for _, group in errors.groupby(["layer", "scheme"]):
        by_r = group.set_index("R").err_mean
        assert by_r[8] < by_r[1]
    assert "facet" in attention_error_chart(errors).to_dict()


def test_attention_maps_are_causal_distributions(model):
    ids = torch.randint(256, (24,), generator=torch.Generator().manual_seed(0))
    exact, approx = attention_maps(model, ids, layer=1, spec=AttentionSpec("lsh", num_samples=4, seed=0))
    assert exact.shape == approx.shape == (4, 24, 24)
    for matrix in (exact, approx):
        assert torch.allclose(matrix.sum(-1), torch.ones(4, 24), atol=1e-5)
        assert matrix.triu(1).abs().max() < 1e-6
    fig = attention_heatmaps(exact[0], approx[0], "LSH R=4")
    assert len(fig.data) == 2


def test_token_losses_and_chart(model):
    ids = torch.tensor(list(b"hello world"))
    exact = token_losses(model, ids)
    approx = token_losses(model, ids, AttentionSpec("lsh", num_samples=2, seed=0))
    assert exact.shape == approx.shape == (10,)
    chart = token_loss_chart([chr(b) for b in b"ello world"], exact, approx, "LSH R=2").to_dict()
    assert chart["mark"]["type"] == "line"


@needs_weights
def test_real_qkv_reproduces_the_models_attention_inputs():
    from alibi_lsh.lm.qkv import real_qkv

    q, k, v, slopes = real_qkv(300, layer=2, batch=2, seed=5)  # longer than the training length
    assert q.shape == k.shape == v.shape == (2, 8, 300, 24) and q.dtype == torch.float32
    assert slopes.shape == (8,)
    assert torch.equal(real_qkv(300, layer=2, batch=2, seed=5)[0], q)
    assert not torch.equal(real_qkv(300, layer=2, batch=2, seed=6)[0], q)
    assert torch.isfinite(alibi_attention(q, k, v, slopes)).all()
    with pytest.raises(ValueError, match="layer"):
        real_qkv(16, layer=99)


@needs_weights
def test_committed_results_cover_the_issue():
    summary = pd.read_csv(RESULTS_DIR / "perplexity.csv")
    assert set(summary.multiple) >= {1, 4, 8}
    lsh = summary[summary.method == "lsh"]
    assert set(lsh.R) >= {1, 2, 4, 8, 16, 64} and set(lsh.scheme) == {"binning", "cuts", "qmc"}
    assert (lsh.seeds >= 3).all()
    assert "window" in set(summary.method)
    errors = pd.read_csv(RESULTS_DIR / "attention_error.csv")
    assert errors.layer.nunique() == 4


@needs_weights
def test_shipped_weights_load_under_the_layer_names_and_reproduce_their_loss():
    # The weights file names its tensors after ALiBiGPT's modules (layers.N..., context_length);
    # loading is strict, and the held-out loss stored with the weights must come back.
    from alibi_lsh.lm import load_model
    from alibi_lsh.lm.data import eval_windows, load_split

    model, info = load_model()
    assert model.config.context_length == 128 and len(model.layers) == model.config.n_layer
    x, y = eval_windows(load_split("val"), model.config.context_length, info["train_config"]["eval_windows"])
    with torch.no_grad():
        _, loss = model(x, y)
    # float16 storage of the weights moves the loss by well under 0.01 nats (checkpoint.py)
    assert abs(loss.item() - info["val_loss"]) < 0.01
