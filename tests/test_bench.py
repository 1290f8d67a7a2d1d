"""The benchmark: its methods against the float64 reference, the command end to end, and the fast
LSH kernel's internals (tensor draws equal the partition objects). No timing is asserted."""

from __future__ import annotations

import math
import subprocess
import sys

import pandas as pd
import pytest
import torch

from alibi_lsh import SCHEMES, alibi_attention, alibi_slopes
from alibi_lsh.attention.lsh.draws import (
    binning_pieces,
    block_lengths,
    draw_head_blocks,
    lsh_flops,
    sample_head_partitions,
)
from alibi_lsh.bench import COLUMNS, BenchConfig, Case, exact_reference, fit_loglog_slopes, run_benchmark, window_sizes
from alibi_lsh.bench.methods import dense_bias, flop_count, prepare
from alibi_lsh.cli import main

from .conftest import random_qkv


def naive_reference(q, k, v, slopes, causal):
    """Loop over query rows in float64, from the definition."""
    batch, heads, n, dim = q.shape
    out = torch.zeros(batch, heads, n, v.shape[-1], dtype=torch.float64)
    for h in range(heads):
        for i in range(n):
            keys = torch.arange(i + 1 if causal else n)
            logits = (q[:, h, i : i + 1].double() @ k[:, h, keys].double().transpose(-1, -2)).squeeze(1) / math.sqrt(
                dim
            )
            logits = logits - float(slopes[h]) * (i - keys).abs().double()
            out[:, h, i] = torch.einsum("bk,bkd->bd", torch.softmax(logits, dim=-1), v[:, h, keys].double())
    return out


@pytest.mark.parametrize("causal", [True, False])
def test_reference_matches_naive_loop_and_chunks(causal):
    q, k, v = random_qkv(2, 3, 21, 4, seed=3, score_scale=2.0)
    slopes = torch.tensor([0.5, 0.1, 0.0], dtype=torch.float64)
    expected = naive_reference(q, k, v, slopes, causal)
    torch.testing.assert_close(exact_reference(q, k, v, slopes, causal), expected, rtol=1e-10, atol=1e-12)
    four_rows = exact_reference(q, k, v, slopes, causal, score_elements=2 * 3 * 21 * 4)  # 4 rows a chunk
    torch.testing.assert_close(four_rows, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [True, False])
def test_exact_methods_match_reference(causal):
    q, k, v = random_qkv(1, 4, 48, 8, seed=5, score_scale=2.0)
    slopes = alibi_slopes(4).double()
    reference = exact_reference(q, k, v, slopes, causal)
    for method in ("dense",):  # flex needs a compiler; it has its own test below
        out = prepare(Case(method), q, k, v, slopes, causal, seed=0)()
        torch.testing.assert_close(out.double(), reference, rtol=1e-5, atol=1e-5)


def test_flex_matches_reference():
    pytest.importorskip("torch.nn.attention.flex_attention")
    q, k, v = random_qkv(1, 2, 128, 16, seed=6)
    slopes = alibi_slopes(2).double()
    try:
        out = prepare(Case("flex"), q, k, v, slopes, True, seed=0)()
    except Exception as error:  # no C++ compiler or an unsupported platform: not this code's bug
        pytest.skip(f"FlexAttention cannot run here: {type(error).__name__}")
    torch.testing.assert_close(out.double(), exact_reference(q, k, v, slopes, True), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("causal", [True, False])
def test_window_method_matches_truncated_reference_and_has_small_error(causal):
    q, k, v = random_qkv(1, 3, 80, 8, seed=7)
    slopes = torch.tensor([0.5, 0.2, 0.1], dtype=torch.float64)
    windows = window_sizes(slopes, 80)
    assert all(math.exp(-m * w) < 1e-3 <= math.exp(-m * (w - 1)) for m, w in zip(slopes.tolist(), windows))
    out = prepare(Case("window"), q, k, v, slopes, causal, seed=0)()
    reference = exact_reference(q, k, v, slopes, causal)
    assert ((out.double() - reference).norm() / reference.norm()).item() < 1e-2


@pytest.mark.parametrize("scheme", SCHEMES)
def test_lsh_method_error_against_reference_falls_with_samples(scheme):
    q, k, v = random_qkv(1, 4, 96, 8, seed=8)
    slopes = alibi_slopes(4).double()
    reference = exact_reference(q, k, v, slopes, True)

    def error(samples: int) -> float:
        out = prepare(Case("lsh", scheme, samples), q, k, v, slopes, True, seed=1)()
        return ((out.double() - reference).norm() / reference.norm()).item()

    assert error(64) < error(1) / 3


def test_dense_bias_values():
    bias = dense_bias(torch.tensor([0.5, 0.0]), 3, True, torch.float32, torch.device("cpu"))
    assert bias.shape == (1, 2, 3, 3)
    assert bias[0, 0, 2, 0].item() == -1.0 and bias[0, 0, 0, 2].item() == -math.inf and bias[0, 1, 2, 1].item() == 0.0


def test_flop_counts():
    slopes = torch.tensor([0.5, 0.25], dtype=torch.float64)
    assert flop_count(Case("dense"), 10, 4, 4, slopes, True, 0) == 2 * 8 * 100 * 2
    assert flop_count(Case("flex"), 10, 4, 4, slopes, True, 0) == 2 * 16 * 55
    # A causal lsh sample with blocks of lengths L costs 2 (d + d_v) * sum L (L + 1) / 2.
    draws = draw_head_blocks(10, slopes, 3, "cuts", 4)
    pairs = sum(
        int((lengths * (lengths + 1) // 2).sum())
        for d in draws
        for lengths in (block_lengths(d, 10, r) for r in range(3))
    )
    assert lsh_flops(10, 4, slopes, 3, True, "cuts", 4) == 16 * pairs


# --------------------------------------------------------------------------------------------
# The fast kernel's internals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("n", [1, 2, 37, 200])
def test_tensor_draws_reproduce_the_partition_objects(scheme, n):
    # The dense-equivalence tests sample partitions with sample_head_partitions and the kernel
    # draws tensors: both must consume one random stream identically, slope-0 heads included.
    slopes = torch.tensor([0.9, 0.0, 0.2, 0.03], dtype=torch.float64)
    partitions = sample_head_partitions(n, slopes, 6, scheme, 11)
    draws = draw_head_blocks(n, slopes, 6, scheme, 11)
    for head, draw in enumerate(draws):
        assert draw.is_plain == (slopes[head] == 0)
        for sample in range(6):
            assert block_lengths(draw, n, sample).tolist() == partitions[head][sample].lengths().tolist()


def test_binning_pieces_cover_the_sequence():
    for n in (1, 5, 64):
        for width in (1, 3, 8, 100):
            for shift in range(width):
                a, full, t = binning_pieces(n, width, shift)
                assert a + full * width + t == n and 0 <= a < max(width, 1) + n and 0 <= t < width


# --------------------------------------------------------------------------------------------
# Config, runner and command
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_values": (1,)}, "n_values"),
        ({"samples": (0,)}, "samples"),
        ({"schemes": ("grid",)}, "schemes"),
        ({"methods": ("magic",)}, "methods"),
        ({"heads": 0}, "heads"),
        ({"dtype": "float16"}, "dtype"),
        ({"device": "tpu"}, "device"),
        ({"qkv": "file"}, "qkv"),
        ({"repeat": 0}, "repeat"),
        ({"max_call_s": -1.0}, "max_call_s"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BenchConfig(**kwargs)


def test_run_benchmark_rows_progress_and_dense_cap():
    calls = []
    config = BenchConfig(
        n_values=(32, 64), samples=(1, 2), schemes=("binning", "cuts"), methods=("dense", "window", "lsh"),
        heads=2, dim=8, repeat=1, max_dense_gib=16384 / 2**30, measure_matmul=False,
    )  # fmt: skip
    df = run_benchmark(config, progress=lambda done, total, label: calls.append((done, total, label)))
    assert list(df.columns) == COLUMNS and len(df) == 2 * 6
    assert [c[0] for c in calls] == list(range(1, 13)) and all(c[1] == 12 for c in calls)
    dense = df[df["method"] == "dense"].set_index("n")
    assert dense.loc[32, "status"] == "ok" and dense.loc[64, "status"].startswith("skipped: dense bias needs")
    ok = df[df["status"] == "ok"]
    assert ok["rel_error"].map(math.isfinite).all() and (ok["time_ms"] > 0).all()
    # LSH is also timed with its draws cached; the others have one time only.
    assert ok["time_cached_ms"].notna().tolist() == (ok["method"] == "lsh").tolist()
    assert (ok[ok["method"] == "lsh"]["time_cached_ms"] > 0).all()
    slopes = fit_loglog_slopes(df)
    assert {"method", "scheme", "samples", "slope"} <= set(slopes.columns)
    assert slopes[slopes["method"] == "lsh"]["slope"].map(math.isfinite).all()


def test_bench_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "bench.csv"
    charts = tmp_path / "charts"
    code = main([
        "bench", "--n", "32,64", "--samples", "1,4", "--schemes", "binning,cuts,qmc", "--heads", "2", "--dim", "8",
        "--repeat", "1", "--threads", "1", "--out", str(out), "--charts", str(charts),
    ])  # fmt: skip
    assert code == 0
    df = pd.read_csv(out)
    assert set(COLUMNS) <= set(df.columns)
    expected = {"dense", "flex", "window", "lsh binning R=1", "lsh cuts R=4", "lsh qmc R=4"}
    assert expected <= set(df["label"])
    for label, group in df.groupby("label"):
        status = group["status"].tolist()
        if label == "flex" and all(s.startswith("failed") for s in status):
            continue  # no C++ compiler for torch.compile: recorded, not fatal
        assert status == ["ok", "ok"], (label, status)
        assert group["rel_error"].map(math.isfinite).all() and group["max_abs_error"].map(math.isfinite).all()
    assert (charts / "time.png").stat().st_size > 0 and (charts / "pareto_n64.svg").stat().st_size > 0
    # The FLOP floor: the useful FLOPs at the measured matmul rate.
    ok = df[df["status"] == "ok"]
    floor = ok["flops"] / (ok["matmul_gflops"] * 1e9) * 1e3
    assert ((ok["floor_ms"] - floor).abs() <= 1e-9 * floor).all() and (ok["floor_ms"] > 0).all()
    printed = capsys.readouterr().out
    assert "GFLOP/s" in printed and "lsh cuts R=4" in printed


def test_bench_command_bad_value_is_one_line_error(capsys):
    assert main(["bench", "--n", "1"]) == 2
    assert "argument --n:" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bench_runs_on_cuda():
    config = BenchConfig(
        n_values=(64,), samples=(2,), methods=("dense", "window", "lsh"), heads=2, dim=8, repeat=1, device="cuda"
    )
    df = run_benchmark(config)
    assert (df["status"] == "ok").all() and df["rel_error"].map(math.isfinite).all()


def test_lsh_matches_exact_for_steep_slopes_and_many_samples():
    # Sanity of the whole pipeline: R large enough makes lsh close to exact ALiBi.
    q, k, v = random_qkv(1, 2, 64, 8, seed=2)
    slopes = torch.tensor([0.3, 0.1])
    exact = alibi_attention(q, k, v, slopes)
    out = prepare(Case("lsh", "binning", 1024), q, k, v, slopes.double(), True, seed=0)()
    assert ((out - exact).norm() / exact.norm()).item() < 0.05


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("n", [1, 5, 70, 300])
def test_union_pass_equals_per_sample_blocks_in_float32(scheme, causal, n):
    # One softmax over the union of the blocks with the bias log c is the same algebra as the
    # log-sum-exp merge of per-sample blocks: the float32 outputs agree to rounding.
    from alibi_lsh import AttentionOptions, lsh_alibi_attention

    q, k, v = random_qkv(2, 4, n, 8, seed=n, score_scale=2.0)
    slopes = alibi_slopes(4) * 4
    results = []
    for path in ("per-sample", "union"):
        options = AttentionOptions(lsh_path=path)
        results.append(lsh_alibi_attention(q, k, v, slopes, 7, causal=causal, scheme=scheme, seed=3, options=options))
    torch.testing.assert_close(results[1], results[0], rtol=1e-5, atol=1e-5)


def test_gpu_check_runs_every_path_at_toy_sizes_on_the_cpu(tmp_path):
    # The one-command GPU check, exercised on the CPU so that it cannot rot: smoke checks against
    # float64 references, then the sweep (flex compiled once, dynamic length), rows appended as it goes.
    from alibi_lsh.bench import gpu_check

    code = gpu_check.main(["--device", "cpu", "--smoke", "--dtypes", "float32,bfloat16", "--out", str(tmp_path)])
    df = pd.read_csv(tmp_path / "gpu_check.csv").fillna({"scheme": ""})
    smoke, sweep = df[df["stage"] == "smoke"], df[df["stage"] == "sweep"]
    assert code == 0 and len(smoke) >= 15 and (smoke["status"] == "ok").all()
    assert (smoke["rel_error"] <= smoke["tolerance"]).all()
    labels = {"flex", "sdpa", "window", "lsh binning R=8", "lsh binning R=64"}
    ok = sweep[sweep["status"] == "ok"]
    flex_failed = sweep[sweep["label"] == "flex"]["status"].str.startswith("failed").all()  # no C++ compiler
    assert set(ok["label"]) == labels - ({"flex"} if flex_failed else set())
    assert set(ok["n"]) == set(gpu_check.SMOKE_N) and set(ok["dtype"]) == {"float32", "bfloat16"}
    lsh = ok[ok["method"] == "lsh"]
    assert lsh["rel_error"].between(1e-3, 2).all() and (lsh["time_cached_ms"] > 0).all()
    assert (ok[ok["method"] != "lsh"]["rel_error"] < 1e-2).all()
    log = (tmp_path / "gpu_check.log").read_text()
    assert "done: 0 smoke check(s) failed" in log
    paths = gpu_check.draw_charts(tmp_path / "gpu_check.csv", tmp_path / "charts")
    assert (tmp_path / "charts" / "float32" / "time.png") in paths


def test_gpu_check_imports_only_torch_numpy_pandas_and_tqdm():
    code = (
        "import sys, torch, numpy, pandas, tqdm; before = set(sys.modules); "
        "import alibi_lsh.bench.gpu_check as g; g.build_parser(); "
        "new = {m.split('.')[0] for m in set(sys.modules) - before} - {m.split('.')[0] for m in before}; "
        "print(sorted(new - set(sys.stdlib_module_names) - {'alibi_lsh', 'tqdm'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_targets_are_medians_over_seeds():
    from alibi_lsh.bench.report import seed_medians, target_rows

    def rows(seed_factor: float, methods=("dense", "flex", "window", "lsh")):
        out = []
        for n in (2048, 8192, 16384, 32768):
            for method in methods:
                cases = [("", 0)] if method != "lsh" else [(s, r) for s in ("binning", "qmc", "cuts") for r in (8, 64)]
                for scheme, r in cases:
                    time_ms = {"dense": 40.0, "flex": 30.0, "window": 2.0}.get(method, r * seed_factor / 8) * n / 2048
                    if method in ("dense", "flex"):
                        time_ms *= n / 2048  # quadratic
                    flops = 1e9 * time_ms * (1.2 if scheme == "cuts" else 1.0)  # cuts: more FLOPs, same time
                    label = f"lsh {scheme} R={r}" if method == "lsh" else method
                    out.append({"method": method, "scheme": scheme, "samples": r, "n": n, "label": label,
                                "time_ms": time_ms, "time_cached_ms": time_ms, "flops": flops, "status": "ok",
                                "efficiency": 0.5 if method != "window" else 0.25, "peak_mem_mb": 100.0})  # fmt: skip
        return pd.DataFrame(out)

    main_run, seeds = rows(1.0), [rows(f, ("lsh",)) for f in (2.0, 3.0, 0.5)]
    medians = seed_medians(main_run, seeds)
    r8 = medians[(medians["label"] == "lsh binning R=8") & (medians["n"] == 2048)]
    assert r8["seeds"].item() == 4 and r8["time_ms"].item() == 1.5  # median of 1, 2, 3, 0.5
    targets = target_rows(main_run, seeds)
    met = {target.split(" >=")[0].split(" within")[0].split(" <")[0]: ok for target, _, ok in targets}
    assert met["LSH binning and qmc"] and met["cuts"] and not met["window"]
    # dense at 16384: 40 * 64 = 2560 ms; LSH R=8 there: 1.5 * 8 = 12 ms; flex 1920 ms.
    assert met["LSH R = 8 at n = 16384"] and met["time slope over n in [2048, 32768]"]
    assert met["extra memory at n = 32768"]
