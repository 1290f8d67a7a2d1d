"""The command line: the demo prints its tables; bad input is covered by test_cli_errors.py."""

from __future__ import annotations

from alibi_lsh.cli import main


def test_demo_prints_a_row_per_slope_and_sample_count(capsys):
    assert main(["demo", "--n", "48", "--samples", "1,8", "--slopes", "1/2,0.05", "--dim", "8"]) == 0
    out = capsys.readouterr().out
    expected = {("0.5", "1"), ("0.5", "8"), ("0.05", "1"), ("0.05", "8")}
    rows = [line for line in out.splitlines() if tuple(line.split()[:2]) in expected]
    assert len(rows) == 8  # four in the mask table, four in the attention table
    assert "max-norm" in out and "rel. error" in out


def test_demo_accepts_slopes_up_to_the_cap_with_spaces_and_fractions(capsys):
    assert main(["demo", "--n", "16", "--samples", "2", "--slopes", "0, 1/16, 16", "--dim", "4"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["2"]] == ["0", "0.0625", "16"] * 2


def test_unknown_command_is_rejected_by_argparse(capsys):
    assert main(["nonsense"]) == 2
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["demo", "--help"]) == 0
    assert "0 <= m <= 16" in capsys.readouterr().out
