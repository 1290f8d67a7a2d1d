"""argparse ``type=`` functions shared by the command lines: bounded integers, seeds, slopes,
comma-separated lists and output paths.

Each one turns the typed text into a value or raises ``argparse.ArgumentTypeError`` with the
allowed range and the text as typed; argparse then prints its usage and one line
``error: argument --flag: must be ..., got '...'`` before any work, and ``run_command`` returns
status 2 (argparse's own convention for usage errors).
"""

from __future__ import annotations

import argparse
import math
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from ._checks import exit_status

SEED_MAX = 2**63 - 1  # torch generators take a signed 64-bit seed
# Beyond m = 16 every off-diagonal entry of exp(-m|i-j|) is below 1.2e-7, float32's resolution
# next to the diagonal's 1: the kernel is the identity, and a huge m (1e39) only produces nan.
MAX_SLOPE = 16.0


def _range_text(low: int, high: int) -> str:
    return f"[{low}, {'2^63 - 1' if high == SEED_MAX else high}]"


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """A parser of one integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in {_range_text(low, high)}, got {text!r}")
        return value

    return parse


seed = bounded_int(0, SEED_MAX)


def positive_float(high: float) -> Callable[[str], float]:
    """A parser of one finite number in (0, high]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0 < value <= high):
            raise argparse.ArgumentTypeError(f"must be a number in (0, {high:g}], got {text!r}")
        return value

    return parse


def _got(item: str, text: str) -> str:
    """The typed value to quote: the bad item, and the whole list when it has more than one."""
    return repr(text) if item == text.strip() else f"{item!r} in {text!r}"


def _items(text: str, what: str) -> list[str]:
    """The comma-separated items of ``text``; an empty list or an empty item is refused."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of {what}, with no empty item, got {text!r}")
    return items


def int_list(low: int, high: int) -> Callable[[str], tuple[int, ...]]:
    """A parser of comma-separated integers, each in [low, high], e.g. ``1,4,16``."""
    what = f"integers in {_range_text(low, high)}"
    one = bounded_int(low, high)

    def parse(text: str) -> tuple[int, ...]:
        values = []
        for item in _items(text, what):
            try:
                values.append(one(item))
            except argparse.ArgumentTypeError:
                raise argparse.ArgumentTypeError(
                    f"must be a comma-separated list of {what}, got {_got(item, text)}"
                ) from None
        return tuple(values)

    return parse


def name_list(allowed: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    """A parser of comma-separated names, each one of ``allowed``, e.g. ``binning,qmc``."""
    what = f"names from {', '.join(allowed)}"

    def parse(text: str) -> tuple[str, ...]:
        items = _items(text, what)
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"must be a comma-separated list of {what}, got {_got(unknown[0], text)}")
        return tuple(items)

    return parse


def _number(text: str) -> float:
    """'1/16' -> 0.0625, '0.5' -> 0.5 (slopes are usually written as fractions)."""
    numerator, _, denominator = text.partition("/")
    return float(numerator) / float(denominator) if denominator else float(numerator)


def slope_list(text: str) -> tuple[float, ...]:
    """Comma-separated ALiBi slopes m with 0 <= m <= MAX_SLOPE; fractions allowed (``1/2,1/16``)."""
    what = f"slopes m with 0 <= m <= {MAX_SLOPE:g} (fractions such as 1/16 allowed)"
    values = []
    for item in _items(text, what):
        try:
            value = _number(item)
        except (ValueError, ZeroDivisionError):
            value = math.nan
        if not (math.isfinite(value) and 0 <= value <= MAX_SLOPE):
            raise argparse.ArgumentTypeError(f"must be a comma-separated list of {what}, got {_got(item, text)}")
        values.append(value)
    return tuple(values)


def output_file(text: str) -> Path:
    """A file to write: its directory must exist and be writable; it must not be a directory."""
    path = Path(text)
    directory = path.parent
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(
            f"must name a file to write, got {text!r}, which is {'empty' if not text else 'a directory'}"
        )
    if not directory.is_dir():
        raise argparse.ArgumentTypeError(f"directory {str(directory)!r} does not exist (of {text!r}); create it first")
    if not os.access(directory, os.W_OK):
        raise argparse.ArgumentTypeError(f"directory {str(directory)!r} is not writable (of {text!r})")
    return path


def output_dir(text: str) -> Path:
    """A directory to write into: an existing one, or one the command creates, whose parent must
    exist and be writable (only the last folder is created, never a chain of them)."""
    path = Path(text)
    if not text:
        raise argparse.ArgumentTypeError("must name a directory, got ''")
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"must name a directory, got {text!r}, which is a file")
    existing = path if path.is_dir() else path.absolute().parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(
            f"directory {str(path.parent)!r} does not exist (of {text!r}); only the last folder is created"
        )
    if not os.access(existing, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot create or write {text!r}: {str(existing)!r} is not writable")
    return path


def listen_address(text: str) -> str:
    """An address this machine can listen on: 127.0.0.1, 0.0.0.0 (every interface), ::, one of its
    own addresses, or a name resolving to one. Checked by binding a socket to a free port there,
    before any process is started."""
    try:
        family, _, _, _, where = socket.getaddrinfo(text or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
            0
        ]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind(where)
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise argparse.ArgumentTypeError(
            "must be an address of this machine to listen on (127.0.0.1, 0.0.0.0 for every interface, "
            f"or one of its own addresses), got {text!r} ({reason})"
        ) from None
    return text


def existing_file(text: str) -> Path:
    """A file to read, which must exist."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"file not found: {text!r}")
    return path


def existing_dir(text: str) -> Path:
    """A directory to read, which must exist."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"directory not found: {text!r}")
    return path


def read_csv(path: Path | str, flag: str, columns: Sequence[str], kind: str):
    """The pandas frame of a CSV that one of the commands wrote (``kind`` says which).

    A file that cannot be read, is not a CSV, or lacks any of ``columns`` is a ValueError naming
    ``flag`` and the file, never a parser traceback or a KeyError deep in the report.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path, keep_default_na=True)
    except FileNotFoundError:
        raise ValueError(f"{flag}: file not found: {str(path)!r}") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise ValueError(f"{flag}: {str(path)!r} is not a readable CSV ({reason}); expected {kind}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{flag}: {str(path)!r} is not {kind}: it lacks the column(s) {', '.join(missing)}")
    return frame


def make_output_dir(path: Path, flag: str) -> Path:
    """Create ``path`` (its parent exists: :func:`output_dir`) before the work starts; failure is a
    ValueError naming ``flag``, so a long run never ends in a write error."""
    try:
        path.mkdir(exist_ok=True)
    except OSError as error:
        raise ValueError(f"{flag}: cannot create directory {str(path)!r} ({error.strerror})") from error
    return path


def run_command(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, run: Callable[[argparse.Namespace], int | None]
) -> int:
    """Parse ``argv`` and run the command; return the exit status instead of exiting.

    argparse's own errors (and ``--help``) keep their status (2, 0), so that a caller of
    ``main(argv)`` always gets a status back; bad values found while running become one
    ``error:`` line and status 2 (:func:`alibi_lsh._checks.exit_status`).
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits with an int status
        return int(exit_.code or 0)
    return exit_status(lambda: run(args))
