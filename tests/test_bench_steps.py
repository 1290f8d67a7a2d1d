"""Decoding-step and training-step benchmark rows (alibi_lsh.bench.steps) and their command mode."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from alibi_lsh import alibi_slopes
from alibi_lsh.bench.steps import StepConfig, _fresh_process_peak_mb, _training_step, run_steps
from alibi_lsh.cli import main


def test_decode_rows_time_and_error_against_the_exact_step():
    config = StepConfig("decode", n_values=(64, 300), samples=(2, 4), schemes=("binning", "cuts"), batch=2, heads=4,
                        dim=8, repeat=1)  # fmt: skip
    df = run_steps(config)
    labels = ["exact", "window", "lsh binning R=2", "lsh binning R=4", "lsh cuts R=2", "lsh cuts R=4"]
    assert df["method"].tolist() == labels * 2 and df["n"].tolist() == [64] * 6 + [300] * 6
    assert (df["time_ms"] > 0).all() and df["rel_error"].map(math.isfinite).all()
    assert (df.loc[df["method"] == "exact", "rel_error"] == 0).all()
    assert (df.loc[df["method"] == "window", "rel_error"] < 1e-2).all()  # exp(-m w) < 1e-3 per head


def test_training_rows_forward_and_step():
    config = StepConfig("training", n_values=(48,), batch=1, heads=2, dim=4, repeat=1, measure_memory=False)
    df = run_steps(config)
    assert df["method"].tolist() == ["exact", "window", "lsh binning R=8"]
    assert (df["step_ms"] > 0).all() and (df["forward_ms"] > 0).all()


def test_both_step_definitions_give_the_same_gradient():
    # out.backward(g) and the linear loss sum(out * g) have the same gradient of out, hence the same dq.
    config = StepConfig("training", n_values=(40,), batch=1, heads=2, dim=4, repeat=1, measure_memory=False)
    q, k, v = (torch.randn(1, 2, 40, 4, generator=torch.Generator().manual_seed(i)) for i in range(3))
    grad_out = torch.randn(1, 2, 40, 4, generator=torch.Generator().manual_seed(3))
    for label, method in config.methods(alibi_slopes(2), 40).items():
        direct = _training_step(method, q, k, v, grad_out)
        through_loss = _training_step(method, q, k, v, grad_out, through_loss=True)
        assert direct.abs().max() > 0, label
        torch.testing.assert_close(direct, through_loss, rtol=1e-5, atol=1e-6, msg=label)


def test_peak_memory_of_a_training_step_counts_its_gradients():
    # dq, dk, dv alone are 3 * B H n d * 4 bytes = 6 MiB here; measured in a fresh process, as the rows are.
    config = StepConfig("training", n_values=(1024,), batch=1, heads=8, dim=64)
    peak = _fresh_process_peak_mb(config, 1024, "lsh binning R=8", "step")
    assert peak is None or peak >= 6.0


def test_step_config_rejects_bad_values():
    for kwargs, message in (
        ({"mode": "serve"}, "mode"),
        ({"samples": (0,)}, "samples"),
        ({"schemes": ("x",)}, "schemes"),
    ):
        with pytest.raises(ValueError, match=message):
            StepConfig(**({"mode": "decode", "n_values": (8,)} | kwargs))


def test_bench_command_decode_mode_writes_its_rows(tmp_path, capsys):
    out = tmp_path / "decode.csv"
    argv = ["bench", "--mode", "decode", "--n", "32,64", "--samples", "2", "--heads", "2", "--dim", "4",
            "--repeat", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    df = pd.read_csv(out)
    assert set(df["method"]) == {"exact", "window", "lsh binning R=2"} and sorted(set(df["n"])) == [32, 64]
    assert "lsh binning R=2" in capsys.readouterr().out
