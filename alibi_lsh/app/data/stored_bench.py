"""Benchmark results shipped with the package, so that the Scaling page opens with a measurement.

One JSON file per device under ``alibi_lsh/app/results/`` (``bench_cpu.json``, ``bench_cuda.json``),
schema ``alibi-lsh bench results``, version 1:

========== =================================================================================
field      meaning
========== =================================================================================
schema     the string ``"alibi-lsh bench results"``
version    ``1``
device     ``"cpu"`` or ``"cuda"``: the device the rows were measured on
machine    processor, cores, memory (and GPU), as ``alibi_lsh.bench`` describes the machine
torch      the torch version that ran the benchmark
command    the command line that produced the rows
created    the date of the run (ISO 8601)
notes      free text (load on the machine, what was converted), may be empty
columns    the column names of ``rows``: those of ``python -m alibi_lsh bench --out`` (CSV)
rows       one list per measurement, in the order of ``columns``; JSON ``null`` for a missing value
========== =================================================================================

The columns are exactly the CSV columns of the bench command, so a CSV it wrote maps one to one
(``from-csv`` below). Required among them: :data:`REQUIRED_COLUMNS`. Write a file with

    python -m alibi_lsh.app.data.stored_bench bench [options of python -m alibi_lsh bench] --out FILE.json
    python -m alibi_lsh.app.data.stored_bench from-csv RESULTS.csv --machine TEXT --command TEXT --out FILE.json

The first runs the benchmark (the bench command's own options and defaults) and records the
machine, torch version and command itself; the second wraps a CSV written earlier by
``python -m alibi_lsh bench --out RESULTS.csv`` with the facts the CSV does not hold.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SCHEMA = "alibi-lsh bench results"
VERSION = 1
RESULTS_DIR = Path(__file__).resolve().parent / "results"
FIELDS = ("device", "machine", "torch", "command", "created")
REQUIRED_COLUMNS = ("method", "scheme", "samples", "n", "label", "time_ms", "rel_error", "peak_mem_mb", "status")
DEVICES = ("cpu", "cuda")
# Cases drawn when the results are first shown: the exact methods and one scheme at three R.
DEFAULT_CASES = ("dense", "flex", "window", "lsh binning R=4", "lsh binning R=16", "lsh binning R=64")


@dataclass(frozen=True, eq=False)
class StoredBench:
    """One stored benchmark run: where and how it was measured, and its rows (a bench frame)."""

    device: str
    machine: str
    torch: str
    command: str
    created: str
    notes: str
    frame: pd.DataFrame


def score_std(stored: StoredBench) -> float | None:
    """The standard deviation of the random scores of a stored run, read from its command: the value
    of ``--score-std``, else the benchmark's default; None where the command names ``--qkv`` other
    than random (the scores then come from a model) or does not parse."""
    from ...bench.command import FORWARD_DEFAULTS

    try:
        words = shlex.split(stored.command)
    except ValueError:
        return None
    words = [part for word in words for part in (word.split("=", 1) if word.startswith("--") else [word])]
    options = dict(zip(words, words[1:]))
    if options.get("--qkv", "random") != "random":
        return None
    try:
        return float(options.get("--score-std", FORWARD_DEFAULTS["score_std"]))
    except ValueError:
        return None


def shipped_path(device: str) -> Path:
    """The shipped results file of ``device`` ("cpu" or "cuda")."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    return RESULTS_DIR / f"bench_{device}.json"


def _json_value(value):
    """A cell as JSON: numpy scalars to Python, NaN (not valid JSON) to None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_document(stored: StoredBench) -> dict:
    """The JSON document of ``stored`` (see the module docstring for the schema)."""
    frame = stored.frame
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"the results lack the column(s) {', '.join(missing)}")
    return {
        "schema": SCHEMA,
        "version": VERSION,
        **{name: getattr(stored, name) for name in FIELDS},
        "notes": stored.notes,
        "columns": list(frame.columns),
        "rows": [[_json_value(value) for value in row] for row in frame.itertuples(index=False)],
    }


def from_document(document: dict, source: str = "the document") -> StoredBench:
    """A :class:`StoredBench` from a JSON document; ValueError naming the first thing that is wrong."""
    if document.get("schema") != SCHEMA:
        raise ValueError(f"{source}: schema must be {SCHEMA!r}, got {document.get('schema')!r}")
    if document.get("version") != VERSION:
        raise ValueError(f"{source}: version must be {VERSION}, got {document.get('version')!r}")
    for name in (*FIELDS, "columns", "rows"):
        if name not in document:
            raise ValueError(f"{source}: the field {name!r} is missing")
    if document["device"] not in DEVICES:
        raise ValueError(f"{source}: device must be one of {', '.join(DEVICES)}, got {document['device']!r}")
    columns = document["columns"]
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise ValueError(f"{source}: columns lack {', '.join(missing)}")
    for index, row in enumerate(document["rows"]):
        if len(row) != len(columns):
            raise ValueError(f"{source}: row {index} has {len(row)} values for {len(columns)} columns")
    frame = pd.DataFrame(document["rows"], columns=columns)
    frame["scheme"] = frame["scheme"].fillna("")
    return StoredBench(
        **{name: str(document[name]) for name in FIELDS}, notes=str(document.get("notes", "")), frame=frame
    )


def load(path: Path | str) -> StoredBench:
    """Read a results file (FileNotFoundError if absent, ValueError if it breaks the schema)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    return from_document(document, str(path))


def load_shipped(device: str = "cpu") -> StoredBench | None:
    """The shipped results of ``device``, or None where none are shipped."""
    path = shipped_path(device)
    return load(path) if path.is_file() else None


def save(stored: StoredBench, path: Path | str) -> Path:
    """Write ``stored`` as JSON (one row per line, readable in a diff); returns the path."""
    document = to_document(stored)
    rows = document.pop("rows")
    head = json.dumps(document, indent=1)[:-2]  # without the closing brace
    lines = ",\n".join("  " + json.dumps(row) for row in rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'{head},\n "rows": [\n{lines}\n ]\n}}\n')
    return path


# --- command line ---------------------------------------------------------------------------


def _run_bench(args: argparse.Namespace, argv: Sequence[str]) -> StoredBench:
    """Run the benchmark as ``python -m alibi_lsh bench`` would, keeping machine and command."""
    import torch

    from ...bench import run_benchmark
    from ...bench.command import check_input_memory, config_from_args

    if args.mode != "forward":
        raise ValueError(
            f"--mode {args.mode} cannot be stored: the Scaling page shows the forward sweep (--mode forward)"
        )
    for flag, value in (("--charts", args.charts), ("--pareto-n", args.pareto_n)):
        if value is not None:
            raise ValueError(f"{flag} does not apply here: the Scaling page draws its own charts from the stored rows")
    check_input_memory(args)  # before any allocation, as python -m alibi_lsh bench does
    config = config_from_args(args)
    frame = run_benchmark(config)
    machine = frame.attrs.get("machine", "")
    frame = frame.copy()
    frame.attrs = {}
    return StoredBench(
        device=config.device,
        machine=machine,
        torch=torch.__version__,
        command="python -m alibi_lsh.app.data.stored_bench " + shlex.join(argv),
        created=datetime.date.today().isoformat(),
        notes=args.notes,
        frame=frame,
    )


def _from_csv(args: argparse.Namespace) -> StoredBench:
    """Wrap a CSV of ``python -m alibi_lsh bench --out`` with machine, torch version and command."""
    frame = pd.read_csv(args.csv, keep_default_na=True)
    devices = set(frame["device"]) if "device" in frame else set()
    if len(devices) != 1:
        raise ValueError(f"{args.csv}: expected the rows of one device, found {sorted(devices) or 'none'}")
    return StoredBench(
        device=devices.pop(),
        machine=args.machine,
        torch=args.torch,
        command=args.command,
        created=args.created,
        notes=args.notes,
        frame=frame,
    )


def build_parser() -> argparse.ArgumentParser:
    from ...bench.command import add_parser

    parser = argparse.ArgumentParser(
        prog="python -m alibi_lsh.app.data.stored_bench",
        description="Write benchmark results in the format the Scaling page ships and reads.",
    )
    commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_parser(commands)  # "bench": the options of python -m alibi_lsh bench; --out is the JSON file
    convert = commands.add_parser("from-csv", help="wrap a CSV written by python -m alibi_lsh bench --out")
    convert.add_argument("csv", help="the CSV file")
    convert.add_argument("--machine", required=True, help="the machine that ran it (processor, cores, memory)")
    convert.add_argument("--command", required=True, help="the command line that wrote the CSV")
    convert.add_argument("--torch", required=True, help="the torch version of that run")
    convert.add_argument("--created", required=True, help="the date of that run (YYYY-MM-DD)")
    convert.add_argument("--out", required=True, help="the JSON file to write")
    for sub in commands.choices.values():
        sub.add_argument("--notes", default="", help="free text stored with the results")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ..._checks import exit_status

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)

    def run() -> None:
        if not args.out:
            raise ValueError("--out is required: the JSON file to write")
        if not str(args.out).endswith(".json"):
            raise ValueError(f"--out must name a .json file, got {args.out!r}")
        stored = _from_csv(args) if args.action == "from-csv" else _run_bench(args, argv)
        print(f"wrote {save(stored, args.out)} ({len(stored.frame)} rows, {stored.device})")

    return exit_status(run)


if __name__ == "__main__":
    sys.exit(main())
