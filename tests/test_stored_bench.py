"""The benchmark results shipped for the Scaling page: schema, validation and the writing command."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from alibi_lsh.app.data import stored_bench
from alibi_lsh.app.data.stored_bench import REQUIRED_COLUMNS, StoredBench, from_document, load, load_shipped, main, save


def small_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": ["dense", "lsh"],
            "scheme": ["", "binning"],
            "samples": [0, 4],
            "n": [512, 512],
            "label": ["dense", "lsh binning R=4"],
            "time_ms": [12.5, 3.25],
            "rel_error": [1e-7, float("nan")],
            "peak_mem_mb": [10.0, 1.5],
            "status": ["ok", "ok"],
        }
    )


def stored(frame: pd.DataFrame | None = None) -> StoredBench:
    return StoredBench(
        device="cpu",
        machine="test machine, 2 cores",
        torch="2.13.0",
        command="python -m alibi_lsh bench --n 512",
        created="2026-01-02",
        notes="",
        frame=small_frame() if frame is None else frame,
    )


def test_round_trip_keeps_every_value(tmp_path):
    path = save(stored(), tmp_path / "bench_cpu.json")
    document = json.loads(path.read_text())  # valid JSON: NaN is written as null
    assert document["schema"] == "alibi-lsh bench results" and document["version"] == 1
    assert document["rows"][1][document["columns"].index("rel_error")] is None
    back = load(path)
    assert (back.device, back.machine, back.torch, back.command, back.created) == (
        "cpu",
        "test machine, 2 cores",
        "2.13.0",
        "python -m alibi_lsh bench --n 512",
        "2026-01-02",
    )
    pd.testing.assert_frame_equal(back.frame, small_frame(), check_dtype=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="other"), "schema must be 'alibi-lsh bench results'"),
        (lambda d: d.update(version=2), "version must be 1, got 2"),
        (lambda d: d.pop("machine"), "the field 'machine' is missing"),
        (lambda d: d.update(device="tpu"), "device must be one of cpu, cuda, got 'tpu'"),
        (lambda d: d["columns"].remove("time_ms"), "columns lack time_ms"),
        (lambda d: d["rows"][0].pop(), "row 0 has 8 values for 9 columns"),
    ],
)
def test_a_broken_document_is_refused_naming_what_is_wrong(change, message):
    document = stored_bench.to_document(stored())
    change(document)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        from_document(document, "results.json")


def test_the_shipped_results_follow_the_schema():
    results = load_shipped("cpu")
    assert results is not None, "alibi_lsh/app/results/bench_cpu.json is missing"
    assert results.command.startswith("python -m alibi_lsh") and results.machine and results.torch
    frame = results.frame
    assert set(REQUIRED_COLUMNS) <= set(frame.columns) and set(frame["device"]) == {"cpu"}
    ok = frame[frame["status"] == "ok"]
    assert {"dense", "window", "lsh"} <= set(ok["method"]) and ok["n"].max() >= 16384
    assert (ok["time_ms"] > 0).all() and (ok["rel_error"] >= 0).all()
    for case in stored_bench.DEFAULT_CASES:
        assert case in set(frame["label"]), case


def test_from_csv_wraps_a_bench_csv(tmp_path, capsys):
    csv = tmp_path / "results.csv"
    small_frame().assign(device="cpu").to_csv(csv, index=False)
    out = tmp_path / "bench_cpu.json"
    status = main(
        [
            "from-csv",
            str(csv),
            "--machine",
            "a machine",
            "--command",
            "python -m alibi_lsh bench --out results.csv",
            "--torch",
            "2.13.0",
            "--created",
            "2026-01-02",
            "--out",
            str(out),
        ]
    )
    assert status == 0 and "wrote" in capsys.readouterr().out
    back = load(out)
    assert back.machine == "a machine" and len(back.frame) == 2 and back.device == "cpu"


def test_bench_records_machine_torch_and_command(tmp_path, monkeypatch):
    """The bench action runs the benchmark with the bench command's options and keeps how it ran."""
    import torch

    import alibi_lsh.bench as bench

    seen = {}

    def fake_run(config, progress=None):
        seen["config"] = config
        frame = small_frame().assign(device=config.device)
        frame.attrs["machine"] = "fake machine"
        return frame

    monkeypatch.setattr(bench, "run_benchmark", fake_run)
    out = tmp_path / "bench_cpu.json"
    assert main(["bench", "--n", "256,512", "--samples", "4", "--out", str(out)]) == 0
    assert seen["config"].n_values == (256, 512) and seen["config"].samples == (4,)
    back = load(out)
    assert back.machine == "fake machine" and back.torch == torch.__version__
    assert back.command == f"python -m alibi_lsh.app.data.stored_bench bench --n 256,512 --samples 4 --out {out}"


def test_bad_output_is_one_error_line_and_status_2(tmp_path, capsys):
    csv = tmp_path / "results.csv"
    small_frame().assign(device="cpu").to_csv(csv, index=False)
    args = ["from-csv", str(csv), "--machine", "m", "--command", "c", "--torch", "t", "--created", "d"]
    assert main([*args, "--out", str(tmp_path / "out.txt")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out must name a .json file, got '{tmp_path / 'out.txt'}'"
    assert main([*args[:1], str(tmp_path / "missing.csv"), *args[2:], "--out", str(tmp_path / "x.json")]) == 2
    assert capsys.readouterr().err.startswith("error:")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--mode", "decode"], "--mode decode cannot be stored"),
        (["--charts", "CHARTS"], "--charts does not apply here"),
        (["--n", "1048576", "--batch", "64", "--heads", "256", "--dim", "1024"], "needs"),  # before allocating 70 TB
    ],
)
def test_bench_refuses_what_it_would_not_store_or_cannot_hold(tmp_path, capsys, extra, message):
    out = tmp_path / "x.json"
    extra = [str(tmp_path / "charts") if item == "CHARTS" else item for item in extra]
    assert main(["bench", "--n", "64", "--samples", "4", *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err, err
    assert not out.exists() and not (tmp_path / "charts").exists()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("python -m alibi_lsh bench --n 2048 --threads 1", 2.0),  # the bench's default
        ("python -m alibi_lsh bench --n 2048 --score-std 0.5", 0.5),
        ("python -m alibi_lsh.app.data.stored_bench run --score-std=3", 3.0),
        ("python -m alibi_lsh bench --qkv lm", None),  # scores from a model: no spread to name
        ("python -m alibi_lsh bench --score-std x", None),
        ("python -m alibi_lsh bench 'unclosed", None),
    ],
)
def test_score_std_is_read_from_the_command(command, expected):
    stored = StoredBench("cpu", "machine", "2.13.0", command, "2026-12-06", "", pd.DataFrame())
    assert stored_bench.score_std(stored) == expected
