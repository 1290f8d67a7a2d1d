"""The argument contract of every command line, tested by seeded random draws.

Each numeric or list option of every command gets values drawn from a pool of typed text
(numbers around and far past its range, fractions, floats, NaN and inf, words, empty items,
unicode digits, underscores). The contract, written here, decides whether the text is valid:

- valid: the parsed value equals the reference reading of the text (nothing is run);
- invalid: the command returns status 2, prints exactly one line with ``error:`` naming the
  option, no traceback, and nothing on stdout (before any work: the options are checked first).

A few invalid draws also run as programs (``python -m``) under a CPU-time and memory limit and a
wall-clock timeout.
"""

from __future__ import annotations

import math
import random
import resource
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from alibi_lsh import cli, hf
from alibi_lsh.bench import gpu_check
from alibi_lsh.classroom import loadtest, page_timing, serve
from alibi_lsh.lm import __main__ as lm_cli

ROOT = Path(__file__).resolve().parents[1]
SEED_MAX = 2**63 - 1
DRAWS = 12  # per option


def reference_int(text: str, low: int, high: int) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


def reference_float(text: str, low: float, high: float, open_low: bool = True) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    inside = (value > low if open_low else value >= low) and value <= high
    return value if math.isfinite(value) and inside else None


def reference_ints(text: str, low: int, high: int) -> tuple[int, ...] | None:
    values = [reference_int(item.strip(), low, high) if item.strip() else None for item in text.split(",")]
    return None if any(value is None for value in values) else tuple(values)


def reference_slopes(text: str) -> tuple[float, ...] | None:
    values = []
    for item in (item.strip() for item in text.split(",")):
        numerator, _, denominator = item.partition("/")
        try:
            value = float(numerator) / float(denominator) if denominator else float(numerator)
        except (ValueError, ZeroDivisionError):
            return None
        if not (math.isfinite(value) and 0 <= value <= 16):
            return None
        values.append(value)
    return tuple(values)


def texts(rng: random.Random, low: float, high: float) -> str:
    """One typed value: near or past the range, or any other text a user might type."""
    whole = [int(low) - 1, int(low), int(high), int(high) + 1, rng.randint(int(low), int(high))]
    pool = [
        *map(str, whole), "-1", "0", "1.5", "1e3", "nan", "inf", "-inf", "abc", "", " 7 ", "4,4", "4,,4", ",",
        "1/2", "1/0", "0x10", "9" * 30, "True", "None", "\u0663", "1_000", f"{rng.random() * high:.3g}",
        f"{rng.randint(int(low), int(high))},{rng.randint(int(low), int(high))}",
    ]  # fmt: skip
    return rng.choice(pool)


def integer(low: int, high: int) -> tuple[Callable[[str], object], tuple[float, float]]:
    return (lambda text: reference_int(text, low, high)), (low, high)


def integers(low: int, high: int) -> tuple[Callable[[str], object], tuple[float, float]]:
    return (lambda text: reference_ints(text, low, high)), (low, high)


def number(low: float, high: float, open_low: bool = True) -> tuple[Callable[[str], object], tuple[float, float]]:
    return (lambda text: reference_float(text, low, high, open_low)), (low, high)


COMMANDS = {
    "alibi_lsh": (cli.main, cli.build_parser), "alibi_lsh.lm": (lm_cli.main, lm_cli.build_parser),
    "alibi_lsh.hf": (hf.main, hf.build_parser), "alibi_lsh.classroom.serve": (serve.main, serve.build_parser),
    "alibi_lsh.classroom.loadtest": (loadtest.main, loadtest.build_parser),
    "alibi_lsh.bench.gpu_check": (gpu_check.main, gpu_check.build_parser),
    "alibi_lsh.classroom.page_timing": (page_timing.main, page_timing.build_parser),
}  # fmt: skip
HF_BASE = ["--model", "{tmp}/no-model", "--text", "{text}"]
# (module, argv before the option, option, its dest, (reference reading, range the draws aim at))
OPTIONS = [
    ("alibi_lsh", ["demo"], "--n", "n", integer(1, 4096)),
    ("alibi_lsh", ["demo"], "--dim", "dim", integer(1, 1024)),
    ("alibi_lsh", ["demo"], "--seed", "seed", integer(0, SEED_MAX)),
    ("alibi_lsh", ["demo"], "--samples", "samples", integers(1, 4096)),
    ("alibi_lsh", ["demo"], "--slopes", "slopes", (reference_slopes, (0, 16))),
    ("alibi_lsh", ["bench"], "--n", "n", integers(2, 2**20)),
    ("alibi_lsh", ["bench"], "--heads", "heads", integer(1, 256)),
    ("alibi_lsh", ["bench"], "--batch", "batch", integer(1, 64)),
    ("alibi_lsh", ["bench"], "--repeat", "repeat", integer(1, 100)),
    ("alibi_lsh", ["bench"], "--threads", "threads", integer(1, 1024)),
    ("alibi_lsh", ["bench"], "--score-std", "score_std", number(0, 100)),
    ("alibi_lsh", ["bench"], "--max-call-s", "max_call_s", number(0, 86400)),
    ("alibi_lsh", ["bench"], "--fit-min-n", "fit_min_n", integer(2, 2**20)),
    ("alibi_lsh.lm", ["train"], "--steps", "steps", integer(1, 100_000)),
    ("alibi_lsh.lm", ["train"], "--threads", "threads", integer(1, 1024)),
    ("alibi_lsh.lm", ["eval"], "--seeds", "seeds", integer(1, 100)),
    ("alibi_lsh.lm", ["eval"], "--tokens", "tokens", integer(1024, 16384)),
    ("alibi_lsh.hf", HF_BASE, "--max-tokens", "max_tokens", integer(2, 8192)),
    ("alibi_lsh.hf", HF_BASE, "--seed", "seed", integer(0, SEED_MAX)),
    ("alibi_lsh.classroom.serve", [], "--processes", "processes", integer(0, 64)),
    ("alibi_lsh.classroom.serve", [], "--port", "port", integer(0, 65535)),
    ("alibi_lsh.classroom.loadtest", [], "--seed", "seed", integer(0, SEED_MAX)),
    ("alibi_lsh.classroom.loadtest", [], "--seconds", "seconds", number(0.1, 3600, open_low=False)),
    ("alibi_lsh.classroom.loadtest", [], "--processes", "processes", integer(1, 64)),
    ("alibi_lsh.bench.gpu_check", [], "--smoke-s", "smoke_s", number(0, 600)),
    ("alibi_lsh.bench.gpu_check", [], "--n", "n", integers(16, 2**20)),
    ("alibi_lsh.bench.gpu_check", [], "--repeat", "repeat", integer(1, 100)),
    ("alibi_lsh.classroom.page_timing", [], "--repeat", "repeat", integer(1, 1000)),
]
NO_SERVER = ["--url", "http://127.0.0.1:9"]  # loadtest: never contacted, the options are refused first


def _fill(argv: list[str], tmp_path: Path) -> list[str]:
    (tmp_path / "text.txt").write_text("some text\n", encoding="utf-8")
    return [arg.format(tmp=tmp_path, text=tmp_path / "text.txt") for arg in argv]


@pytest.mark.parametrize("option", OPTIONS, ids=[f"{o[0]} {' '.join(o[1][:1])} {o[2]}" for o in OPTIONS])
def test_random_option_values_meet_the_contract(option, tmp_path, capsys):
    command, base, flag, dest, (reference, (low, high)) = option
    main, build_parser = COMMANDS[command]
    rng = random.Random(f"{command} {flag}")
    base = _fill(base, tmp_path) + (NO_SERVER if main is loadtest.main else [])
    outcomes = {"valid": 0, "invalid": 0}
    for index in range(DRAWS):
        text = str(rng.randint(int(low) + 1, int(high))) if index == 0 else texts(rng, low, high)  # one in range
        argv = [*base, f"{flag}={text}"]
        expected = reference(text)
        where = f"draw {index}: {command} {flag}={text!r}"
        if expected is not None:
            args = build_parser().parse_args(argv)
            if main is loadtest.main:
                loadtest.validate(args)  # loadtest checks these ranges after parsing
            assert getattr(args, dest) == expected, where
            outcomes["valid"] += 1
            continue
        before = sorted(tmp_path.rglob("*"))
        assert main(argv) == 2, where
        captured = capsys.readouterr()
        lines = [line for line in captured.err.splitlines() if "error:" in line]
        assert len(lines) == 1 and flag in lines[0], (where, captured.err)
        assert "Traceback" not in captured.err and captured.out == "", (where, captured)
        assert sorted(tmp_path.rglob("*")) == before, where  # nothing written, no folder made
        outcomes["invalid"] += 1
    assert outcomes["valid"] and outcomes["invalid"], outcomes


def _limits() -> None:
    """In the child: 60 s of CPU and 4 GiB of address space at most, no core file."""
    resource.setrlimit(resource.RLIMIT_CPU, (60, 60))
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def test_invalid_draws_run_as_programs_end_in_one_error_line(tmp_path):
    rng = random.Random("programs")
    commands = []
    for command, base, flag, _, (reference, (low, high)) in rng.sample(
        [option for option in OPTIONS if option[0] not in ("alibi_lsh.hf", "alibi_lsh.classroom.loadtest")], 4
    ):
        text = texts(rng, low, high)
        while reference(text) is not None:
            text = texts(rng, low, high)
        commands.append([command, *base, f"{flag}={text}"])
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", *command], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_limits,
        )
        for command in commands
    ]  # fmt: skip
    for command, run in zip(commands, runs):
        out, err = run.communicate(timeout=120)
        lines = [line for line in err.splitlines() if "error:" in line]
        assert run.returncode == 2 and len(lines) == 1 and command[-1].split("=")[0] in lines[0], (command, err)
        assert "Traceback" not in err and out == "", (command, err)


def test_the_reference_readings_of_typed_text():
    # the contract itself, on values whose reading is not obvious
    assert reference_int("1_000", 1, 4096) == 1000 and reference_int("\u0663", 1, 9) == 3  # as Python's int()
    assert reference_int("1.5", 0, 9) is None and reference_int("0x10", 0, 99) is None
    assert reference_slopes("1/2,1/16") == (0.5, 0.0625) and reference_slopes("1/0") is None
    assert reference_ints("4,,4", 1, 9) is None and reference_float("inf", 0, 100) is None
    assert Fraction(reference_float("1e2", 0, 100)) == 100
