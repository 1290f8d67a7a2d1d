"""Every command line refuses bad input with one ``error:`` line naming the argument, the allowed
range and the value as typed, exit status 2 and no traceback, before doing any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alibi_lsh import cli, hf
from alibi_lsh.bench import command as bench_command
from alibi_lsh.bench import gpu_check, report
from alibi_lsh.bench.methods import METHODS
from alibi_lsh.bench.runner import COLUMNS as BENCH_COLUMNS
from alibi_lsh.classroom import loadtest, serve
from alibi_lsh.cli_args import SEED_MAX
from alibi_lsh.lm import __main__ as lm_cli
from alibi_lsh.lm.data import DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
MAINS = {
    "alibi_lsh": cli.main, "alibi_lsh.lm": lm_cli.main, "alibi_lsh.hf": hf.main,
    "alibi_lsh.classroom.serve": serve.main,
    "alibi_lsh.classroom.loadtest": loadtest.main, "alibi_lsh.bench.gpu_check": gpu_check.main,
    "alibi_lsh.bench.report": report.main,
}  # fmt: skip
NO_SERVER = ["--url", "http://127.0.0.1:9"]  # loadtest: a server that is never contacted
HUGE = ["--n", "1048576", "--batch", "64", "--heads", "256", "--dim", "1024", "--samples", "1"]
HF = ["--model", "{tmp}/no-model", "--text", "{text}"]  # hf's required arguments; the model is never loaded

# (module, argv, fragments the error line must contain: the argument, the range, the typed value)
BAD_INPUTS = [
    ("alibi_lsh", ["demo", "--samples", "1,,4"], ["--samples", "[1, 4096]", "'1,,4'"]),
    ("alibi_lsh", ["demo", "--samples", ""], ["--samples", "[1, 4096]", "''"]),
    ("alibi_lsh", ["demo", "--samples", "4,0"], ["--samples", "[1, 4096]", "'0' in '4,0'"]),
    ("alibi_lsh", ["demo", "--samples", "four"], ["--samples", "[1, 4096]", "'four'"]),
    ("alibi_lsh", ["demo", "--slopes", "1e39"], ["--slopes", "0 <= m <= 16", "'1e39'"]),
    ("alibi_lsh", ["demo", "--slopes", "1/2,-1"], ["--slopes", "0 <= m <= 16", "'-1' in '1/2,-1'"]),
    ("alibi_lsh", ["demo", "--slopes", "nan"], ["--slopes", "0 <= m <= 16", "'nan'"]),
    ("alibi_lsh", ["demo", "--slopes", "inf"], ["--slopes", "0 <= m <= 16", "'inf'"]),
    ("alibi_lsh", ["demo", "--slopes", "1/0"], ["--slopes", "0 <= m <= 16", "'1/0'"]),
    ("alibi_lsh", ["demo", "--slopes", "half"], ["--slopes", "0 <= m <= 16", "'half'"]),
    ("alibi_lsh", ["demo", "--slopes", ","], ["--slopes", "no empty item", "','"]),
    ("alibi_lsh", ["demo", "--n", "0"], ["--n", "[1, 4096]", "'0'"]),
    ("alibi_lsh", ["demo", "--n", "-3"], ["--n", "[1, 4096]", "'-3'"]),
    ("alibi_lsh", ["demo", "--n", "4097"], ["--n", "[1, 4096]", "'4097'"]),
    ("alibi_lsh", ["demo", "--n", "1.5"], ["--n", "[1, 4096]", "'1.5'"]),
    ("alibi_lsh", ["demo", "--dim", "0"], ["--dim", "[1, 1024]", "'0'"]),
    ("alibi_lsh", ["demo", "--seed", "-1"], ["--seed", "[0, 2^63 - 1]", "'-1'"]),
    ("alibi_lsh", ["demo", "--seed", str(SEED_MAX + 1)], ["--seed", "[0, 2^63 - 1]", f"'{SEED_MAX + 1}'"]),
    ("alibi_lsh", ["demo", "--scheme", "sorted"], ["--scheme", "binning", "'sorted'"]),
    ("alibi_lsh", ["bench", "--out", "/missing/dir/x.csv"], ["--out", "'/missing/dir' does not exist"]),
    ("alibi_lsh", ["bench", "--out", "{tmp}/missing/x.csv"], ["--out", "missing' does not exist"]),
    ("alibi_lsh", ["bench", "--out", "{tmp}"], ["--out", "must name a file", "'{tmp}', which is a directory"]),
    ("alibi_lsh", ["bench", "--charts", "{text}"], ["--charts", "must name a directory", "'{text}'"]),
    ("alibi_lsh", ["bench", "--n", ""], ["--n", "[2, 1048576]", "''"]),
    ("alibi_lsh", ["bench", "--n", "1"], ["--n", "[2, 1048576]", "'1'"]),
    ("alibi_lsh", ["bench", "--n", "512,abc"], ["--n", "[2, 1048576]", "'abc' in '512,abc'"]),
    ("alibi_lsh", ["bench", "--samples", "0"], ["--samples", "[1, 4096]", "'0'"]),
    ("alibi_lsh", ["bench", "--schemes", "binning,foo"], ["--schemes", "binning, cuts, qmc", "'foo'"]),
    ("alibi_lsh", ["bench", "--methods", ""], ["--methods", "dense", "''"]),
    ("alibi_lsh", ["bench", "--heads", "0"], ["--heads", "[1, 256]", "'0'"]),
    ("alibi_lsh", ["bench", "--batch", "-1"], ["--batch", "[1, 64]", "'-1'"]),
    ("alibi_lsh", ["bench", "--repeat", "0"], ["--repeat", "[1, 100]", "'0'"]),
    ("alibi_lsh", ["bench", "--threads", "0"], ["--threads", "[1, 1024]", "'0'"]),
    ("alibi_lsh", ["bench", "--seed", "-1"], ["--seed", "[0, 2^63 - 1]", "'-1'"]),
    ("alibi_lsh", ["bench", "--score-std", "0"], ["--score-std", "(0, 100]", "'0'"]),
    ("alibi_lsh", ["bench", "--max-dense-gib", "inf"], ["--max-dense-gib", "(0, 4096]", "'inf'"]),
    ("alibi_lsh", ["bench", "--max-call-s", "-1"], ["--max-call-s", "(0, 86400]", "'-1'"]),
    ("alibi_lsh", ["bench", "--max-call-s", "soon"], ["--max-call-s", "(0, 86400]", "'soon'"]),
    ("alibi_lsh", ["bench", "--fit-min-n", "0"], ["--fit-min-n", "[2, 1048576]", "'0'"]),
    ("alibi_lsh", ["bench", "--n", "64", "--methods", "dense", "--pareto-n", "128"], ["--pareto-n", "[64]", "128"]),
    ("alibi_lsh", ["bench", "--max-input-gib", "0"], ["--max-input-gib", "(0, 4096]", "'0'"]),
    # q, k, v that cannot fit are refused before anything is allocated (70 TB asked for here)
    *[
        ("alibi_lsh", ["bench", *mode, *HUGE], ["--n 1048576 with --batch 64 --heads 256 --dim 1024", "--max-input"])
        for mode in ([], ["--mode", "decode"], ["--mode", "training"])
    ],
    ("alibi_lsh", ["bench", "--n", "64", "--max-input-gib", "0.0001"], ["1.5 MiB", "--max-input-gib = 0.0001 GiB"]),
    ("alibi_lsh", ["bench", "--mode", "decode", "--n", "2", "--max-input-gib", "1e-9"], ["--mode decode", "10 KiB"]),
    # forward-only options are refused by --mode decode and training, not ignored
    *[
        ("alibi_lsh", ["bench", "--mode", mode, "--n", "64", *option], [f"{option[0]} does not apply to --mode {mode}"])
        for mode in ("decode", "training")
        for option in (
            ["--methods", "flex"],
            ["--charts", "{tmp}/charts"],
            ["--bidirectional"],
            ["--qkv", "random"],
            ["--score-std", "1"],
            ["--max-dense-gib", "1"],
            ["--max-call-s", "1"],
            ["--pareto-n", "64"],
            ["--fit-min-n", "64"],
        )
    ],
    # files of the wrong kind, or missing, are named by their argument
    (
        "alibi_lsh.bench.gpu_check",
        ["--charts-from", "{tmp}/missing.csv", "--charts", "{tmp}/gc"],
        ["--charts-from", "file not found", "missing.csv'"],
    ),
    (
        "alibi_lsh.bench.gpu_check",
        ["--charts-from", "{bench}", "--charts", "{tmp}/gc"],
        ["--charts-from", "is not a gpu_check.csv", "stage"],
    ),
    ("alibi_lsh.bench.gpu_check", ["--out", "{tmp}/missing/out"], ["--out", "missing' does not exist"]),
    ("alibi_lsh.bench.report", ["{tmp}/missing.csv"], ["csv: file not found", "missing.csv'"]),
    ("alibi_lsh.bench.report", ["{text}"], ["csv:", "is not a CSV of python -m alibi_lsh bench", "lacks"]),
    ("alibi_lsh.bench.report", ["{garbled}"], ["csv:", "is not a readable CSV", "garbled.csv'"]),
    ("alibi_lsh.bench.report", ["{tmp}"], ["csv:", "is not a readable CSV"]),
    ("alibi_lsh.bench.report", ["{bench}", "--seeds", "{text}"], ["--seeds:", "is not a CSV", "text.txt'"]),
    # the proxy's address is checked before any process starts
    ("alibi_lsh.classroom.serve", ["--address", "bad addr"], ["--address", "127.0.0.1, 0.0.0.0", "'bad addr'"]),
    ("alibi_lsh.classroom.serve", ["--address", "999.1.1.1"], ["--address", "127.0.0.1, 0.0.0.0", "'999.1.1.1'"]),
    ("alibi_lsh.classroom.loadtest", ["--students", "1,,2", *NO_SERVER], ["--students", "1..200", "'1,,2'"]),
    ("alibi_lsh.classroom.loadtest", ["--pages", "overview,,masks", *NO_SERVER], ["--pages", "'overview,,masks'"]),
    ("alibi_lsh.classroom.loadtest", ["--seed", "-1", *NO_SERVER], ["--seed", "[0, 2^63 - 1]", "'-1'"]),
    # nothing listening at --url: one line naming it, before any student starts (was a traceback)
    (
        "alibi_lsh.classroom.loadtest",
        ["--url", "http://127.0.0.1:1", "--seconds", "1"],
        ["--url: nothing answers at http://127.0.0.1:1", "Connection refused"],
    ),
    ("alibi_lsh.classroom.loadtest", ["--url", "127.0.0.1:8501"], ["--url must be an http:// or https:// address"]),
    # serve's log folder follows the rule of every output folder (was a traceback, or a chain of folders)
    ("alibi_lsh.classroom.serve", ["--log-dir", "{text}"], ["--log-dir", "must name a directory", "'{text}'"]),
    ("alibi_lsh.classroom.serve", ["--log-dir", "{tmp}/missing/logs"], ["--log-dir", "missing' does not exist"]),
    ("alibi_lsh.classroom.serve", ["--processes", "-1"], ["--processes", "[0, 64]", "'-1'"]),
    ("alibi_lsh.classroom.serve", ["--port", "70000"], ["--port", "[0, 65535]", "'70000'"]),
    ("alibi_lsh.classroom.serve", ["--processes", "0", "--log-dir", "{tmp}/logs"], ["processes=0 needs"]),
    # only the last folder of an output directory is created
    ("alibi_lsh", ["bench", "--charts", "{tmp}/missing/x/y"], ["--charts", "missing/x' does not exist"]),
    ("alibi_lsh.lm", ["snapshot", "--out", "{tmp}/missing/dir"], ["--out", "missing' does not exist"]),
    ("alibi_lsh.lm", ["train", "--steps", "0"], ["--steps", "[1, 100000]", "'0'"]),
    ("alibi_lsh.lm", ["train", "--steps", "-3"], ["--steps", "[1, 100000]", "'-3'"]),
    ("alibi_lsh.lm", ["train", "--steps", "many"], ["--steps", "[1, 100000]", "'many'"]),
    ("alibi_lsh.lm", ["train", "--threads", "0"], ["--threads", "[1, 1024]", "'0'"]),
    ("alibi_lsh.lm", ["train", "--out", "{tmp}/missing/w.safetensors"], ["--out", "missing' does not exist"]),
    ("alibi_lsh.lm", ["eval", "--seeds", "0"], ["--seeds", "[1, 100]", "'0'"]),
    ("alibi_lsh.lm", ["eval", "--tokens", "0"], ["--tokens", "[1024, 16384]", "'0'"]),
    ("alibi_lsh.lm", ["eval", "--tokens", "-7"], ["--tokens", "[1024, 16384]", "'-7'"]),
    ("alibi_lsh.lm", ["eval", "--tokens", "100"], ["--tokens", "[1024, 16384]", "'100'"]),
    ("alibi_lsh.lm", ["eval", "--tokens", "1e4"], ["--tokens", "[1024, 16384]", "'1e4'"]),
    ("alibi_lsh.lm", ["eval", "--weights", "{tmp}/missing.safetensors"], ["--weights", "not found", "missing"]),
    ("alibi_lsh.lm", ["eval", "--weights", "{text}"], ["--weights", "'{text}' is not a readable weights file"]),
    ("alibi_lsh.lm", ["eval", "--weights", "{bench}"], ["--weights", "'{bench}' is not a readable weights file"]),
    ("alibi_lsh.lm", ["eval", "--out", "{text}"], ["--out", "must name a directory", "'{text}'"]),
    ("alibi_lsh.lm", ["snapshot", "--stdlib", "{tmp}/missing"], ["--stdlib", "not found", "missing'"]),
    ("alibi_lsh.lm", ["snapshot", "--out", "{text}"], ["--out", "must name a directory", "'{text}'"]),
    # 3 sources would leave the validation split empty (was an empty val.txt and status 0)
    (
        "alibi_lsh.lm",
        ["snapshot", "--stdlib", "{sources}", "--out", "{tmp}/snap"],
        ["--stdlib:", "has 3 Python sources", "at least 10", "validation split would be empty"],
    ),
    ("alibi_lsh.hf", [*HF, "--max-tokens", "-5"], ["--max-tokens", "[2, 8192]", "'-5'"]),
    ("alibi_lsh.hf", [*HF, "--max-tokens", "1"], ["--max-tokens", "[2, 8192]", "'1'"]),
    ("alibi_lsh.hf", [*HF, "--seed", "-1"], ["--seed", "[0, 2^63 - 1]", "'-1'"]),
    ("alibi_lsh.hf", [*HF, "--seed", str(SEED_MAX + 1)], ["--seed", "[0, 2^63 - 1]", f"'{SEED_MAX + 1}'"]),
    ("alibi_lsh.hf", [*HF, "--seed", "one"], ["--seed", "[0, 2^63 - 1]", "'one'"]),
    ("alibi_lsh.hf", [*HF, "--samples", "8", "0"], ["--samples", "[1, 4096]", "'0'"]),
    ("alibi_lsh.hf", ["--model", "{tmp}", "--text", "{tmp}/missing.txt"], ["--text", "not found", "missing.txt'"]),
]


def _fill(argv: list[str], tmp_path: Path) -> list[str]:
    """Fill in {tmp}, {text} (a text file), {bench} (an empty bench CSV) and {garbled} (not a CSV)."""
    files = {"text": ("text.txt", "some text\n"), "bench": ("bench.csv", ",".join(BENCH_COLUMNS) + "\n"),
             "garbled": ("garbled.csv", "a\nb\nc,d,e\n")}  # fmt: skip
    for name, content in files.values():
        (tmp_path / name).write_text(content, encoding="utf-8")
    sources = tmp_path / "sources"  # {sources}: a folder of 3 Python files of a snapshot's size
    sources.mkdir(exist_ok=True)
    for index in range(3):
        (sources / f"module{index}.py").write_text("x = 1\n" * 1000, encoding="utf-8")
    paths = {key: tmp_path / name for key, (name, _) in files.items()}
    return [arg.format(tmp=tmp_path, sources=sources, **paths) for arg in argv]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error:" in line]


@pytest.mark.parametrize(("module", "argv", "fragments"), BAD_INPUTS, ids=[" ".join(case[1]) for case in BAD_INPUTS])
def test_bad_input_is_one_error_line_and_status_2(module, argv, fragments, tmp_path, capsys):
    argv = _fill(argv, tmp_path)
    before = sorted(tmp_path.rglob("*"))
    assert MAINS[module](argv) == 2
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, no folder made
    captured = capsys.readouterr()
    lines = error_lines(captured.err)
    assert len(lines) == 1, captured.err
    for fragment in _fill(fragments, tmp_path):
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in captured.err and captured.out == ""


def test_hf_seed_message_quotes_the_typed_value_not_a_derived_one(tmp_path, capsys):
    assert hf.main(_fill([*HF, "--seed", "-1"], tmp_path)) == 2
    line = error_lines(capsys.readouterr().err)[0]
    assert line.endswith("got '-1'") and "1000003" not in line


@pytest.mark.skipif(not (DATA_DIR / "train.txt").is_file(), reason="no text snapshot to protect")
def test_snapshot_refuses_to_overwrite_the_shipped_text_without_force(capsys):
    before = (DATA_DIR / "train.txt").stat().st_mtime_ns
    assert lm_cli.main(["snapshot"]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert "--force" in line and str(DATA_DIR / "train.txt") in line
    assert (DATA_DIR / "train.txt").stat().st_mtime_ns == before


# Seeds are integers in [0, 2^63 - 1] on every command line; the big ones pass validation.
@pytest.mark.parametrize("seed", [0, 20_000_000_000_000, SEED_MAX])
def test_big_seeds_pass_validation(seed, tmp_path):
    args = hf.build_parser().parse_args(_fill([*HF, "--seed", str(seed)], tmp_path))
    assert args.seed == seed
    assert cli.build_parser().parse_args(["demo", "--seed", str(seed)]).seed == seed
    assert cli.build_parser().parse_args(["bench", "--seed", str(seed)]).seed == seed


def test_command_lines_show_no_traceback_when_run_as_programs(tmp_path):
    """The same checks through ``python -m``: status 2, one error line, nothing else on stderr."""
    text = tmp_path / "text.txt"
    text.write_text("x", encoding="utf-8")
    commands = [
        ["alibi_lsh", "demo", "--slopes", "1e39"],
        ["alibi_lsh", "bench", "--out", str(tmp_path / "missing" / "x.csv")],
        ["alibi_lsh.lm", "train", "--steps", "0"],
        ["alibi_lsh.hf", "--model", str(tmp_path), "--text", str(text), "--seed", "-1"],
        ["alibi_lsh.bench.gpu_check", "--charts-from", str(text), "--charts", str(tmp_path / "gc")],
        ["alibi_lsh.bench.report", str(text)],
        ["alibi_lsh.classroom.serve", "--address", "999.1.1.1"],
    ]
    runs = [
        subprocess.Popen([sys.executable, "-m", *command], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for command in commands
    ]  # fmt: skip
    for command, run in zip(commands, runs):
        out, err = run.communicate(timeout=120)
        assert run.returncode == 2, (command, err)
        assert len(error_lines(err)) == 1 and "Traceback" not in err and out == "", (command, err)


def test_input_bytes_count_what_each_mode_holds():
    """(B, H, n, d) = (2, 3, 5, 7): forward 4 float32 + 4 float64 tensors, training 8 float32,
    decode float32 k, v of n rows and q of one."""
    elements = 2 * 3 * 5 * 7
    assert bench_command.input_bytes("forward", 5, 2, 3, 7) == elements * (4 * 4 + 4 * 8)
    assert bench_command.input_bytes("training", 5, 2, 3, 7) == elements * 8 * 4
    assert bench_command.input_bytes("decode", 5, 2, 3, 7) == 2 * 3 * (2 * 5 + 1) * 7 * 4


def test_refused_options_leave_nothing_behind_and_causal_is_accepted(tmp_path):
    assert cli.main(["bench", "--mode", "training", "--n", "64", "--charts", str(tmp_path / "charts")]) == 2
    assert not (tmp_path / "charts").exists()
    args = cli.build_parser().parse_args(["bench", "--mode", "decode", "--causal", "--n", "64"])
    bench_command.refuse_forward_options(args)  # decoding is causal: --causal is what it does
    forward = bench_command.config_from_args(cli.build_parser().parse_args(["bench", "--n", "64"]))
    assert (forward.methods, forward.causal, forward.qkv, forward.max_dense_gib) == (METHODS, True, "random", 10.0)


def test_only_the_shipped_weights_get_the_restore_hint(tmp_path, monkeypatch, capsys):
    """A file the user named is just not a weights file; the missing shipped file says how to restore it."""
    from alibi_lsh.lm import checkpoint

    assert lm_cli.main(_fill(["eval", "--weights", "{text}"], tmp_path)) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert "git checkout" not in line and "retrain" not in line
    monkeypatch.setattr(checkpoint, "DEFAULT_WEIGHTS", tmp_path / "shipped.safetensors")
    monkeypatch.chdir(tmp_path)
    assert lm_cli.main(["eval"]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert "shipped.safetensors" in line and "git checkout" in line and "--weights" not in line
