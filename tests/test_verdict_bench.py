"""The verdict run: window widths for a tail mass, keys per query, and a small run end to end."""

from __future__ import annotations

import json
import math

import pytest

from alibi_lsh.app.data import verdict, verdict_bench
from alibi_lsh.app.data.attention_data import head_mask_means
from alibi_lsh.slopes import alibi_slopes


@pytest.mark.parametrize("tail_mass", [0.3, 0.01, 1e-3])
def test_tail_mass_windows_are_the_smallest_widths_that_drop_less_than_the_tail(tail_mass):
    slopes = alibi_slopes(8).tolist()
    for m, w in zip(slopes, verdict_bench.tail_mass_windows(slopes, 10**6, tail_mass)):
        assert math.exp(-m * w) < tail_mass <= math.exp(-m * (w - 1))
    assert verdict_bench.tail_mass_windows([0.0, 1.0], 50, 1e-3) == [50, 7]  # slope 0 and the cap n


@pytest.mark.parametrize("n, w", [(10, 1), (10, 4), (10, 10), (10, 30)])
def test_window_keys_count_the_causal_band(n, w):
    count = sum(1 for i in range(n) for j in range(n) if j <= i and i - j < w)
    assert verdict_bench.window_keys(n, w) == pytest.approx(count / n)


@pytest.mark.parametrize("scheme, samples", [("binning", 1), ("binning", 8), ("cuts", 5), ("qmc", 16)])
def test_block_union_keys_equal_the_causal_support_of_the_mean_of_masks(scheme, samples):
    """Independent check: the keys a query reads are the nonzero causal entries of its row of M_hat,
    built from the very partitions the attention draws (attention_data.head_mask_means)."""
    n, slopes = 96, alibi_slopes(4).tolist()
    means = head_mask_means(n, slopes, samples, scheme, 3)
    support = (means.tril() > 0).sum(dim=-1).double().mean(dim=-1).tolist()
    assert verdict_bench.block_union_keys(n, slopes, samples, scheme, 3) == pytest.approx(support)


def test_a_small_run_measures_every_case_against_the_reference(tmp_path):
    config = verdict_bench.VerdictConfig(
        n=96, heads=4, dim=8, tail_masses=(0.3, 1e-9), fixed_windows=(8,), samples=(1, 16), repeat=1, threads=None
    )
    rows = verdict_bench.run_verdict(config)
    by_label = {row["label"]: row for row in rows}
    assert by_label["exact"]["rel_error"] < 1e-5 and by_label["exact"]["keys_per_query"] == (96 + 1) / 2
    assert by_label["window, tail mass 1e-09"]["rel_error"] < 1e-5  # a window over the whole row is exact
    assert by_label["window, tail mass 0.3"]["rel_error"] > 1e-2
    assert by_label["blocks R = 16"]["rel_error"] < by_label["blocks R = 1"]["rel_error"]
    for row in rows:
        assert len(row["head_errors"]) == 4 and row["time_ms"] > 0 and row["time_median_ms"] >= row["time_ms"]
        assert row["keys_per_query"] == pytest.approx(sum(row["head_keys"]) / 4)
    path = verdict_bench.save(rows, config, "python -m alibi_lsh.app.data.verdict_bench --n 96", tmp_path / "v.json")
    run = verdict.load(path)
    assert len(run.frame) == len(rows) and run.config["n"] == 96
    assert verdict.equal_error(run).blocks["label"] == "blocks R = 16"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--out", "x.csv"], "--out must name a .json file"),
        (["--n", "1", "--out", "{tmp}/v.json"], "--n: must be an integer in [2, 65536]"),
        (["--tail-masses", "0,0.1", "--out", "{tmp}/v.json"], "tail_masses must be numbers in (0, 1)"),
        (["--out", "{tmp}/missing/v.json"], "does not exist"),
    ],
)
def test_bad_arguments_give_one_error_line_and_status_2(argv, message, tmp_path, capsys):
    argv = [part.replace("{tmp}", str(tmp_path)) for part in argv]
    assert verdict_bench.main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]  # argparse's usage may come first
    assert len(errors) == 1 and message in errors[0]


def test_an_existing_file_is_not_overwritten_without_force(tmp_path, capsys):
    path = tmp_path / "v.json"
    path.write_text("{}")
    assert verdict_bench.main(["--out", str(path)]) == 2
    assert "pass --force" in capsys.readouterr().err and path.read_text() == "{}"


def test_a_broken_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"schema": "something else"}))
    with pytest.raises(ValueError, match="v.json: expected schema"):
        verdict.load(path)
