"""Command line: ``python -m alibi_lsh {demo,bench} ...``.

Each subcommand lives in its own module and registers itself here through ``add_parser``;
this file only wires them together with argparse.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import demo
from .bench import command as bench_command


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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:  # bad input: one clear line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
