"""Command line: ``python -m alibi_lsh {demo,bench} ...``.

Each subcommand lives in its own module and registers itself here through ``add_parser``;
this file only wires them together with argparse.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import demo
from .bench import command as bench_command
from .cli_args import run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m alibi_lsh",
        description="ALiBi attention as the average of random block-diagonal masks.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.add_parser(commands)
    bench_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m alibi_lsh``; bad input is one ``error:`` line and status 2, no traceback."""
    return run_command(build_parser(), argv, lambda args: args.run(args))
