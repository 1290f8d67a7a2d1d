"""The command line: the demo prints its tables, bad input is one clear line and exit status 2."""

from __future__ import annotations

import pytest

from alibi_lsh.cli import main


def test_demo_prints_a_row_per_slope_and_sample_count(capsys):
    assert main(["demo", "--n", "48", "--samples", "1,8", "--slopes", "1/2,0.05", "--dim", "8"]) == 0
    out = capsys.readouterr().out
    expected = {("0.5", "1"), ("0.5", "8"), ("0.05", "1"), ("0.05", "8")}
    rows = [line for line in out.splitlines() if tuple(line.split()[:2]) in expected]
    assert len(rows) == 8  # four in the mask table, four in the attention table
    assert "max-norm" in out and "rel. error" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--n", "0"], "--n must be in 1..4096"),
        (["demo", "--samples", "0,4"], "--samples must be integers >= 1"),
        (["demo", "--slopes", "-1"], "slope must be a finite number >= 0"),
    ],
)
def test_bad_demo_arguments_exit_2_with_a_message(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_command_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["nonsense"])
    assert exit_info.value.code == 2
