"""Load test: simulated students as real Streamlit websocket sessions; prints the load table.

    python -m alibi_lsh.classroom.loadtest --students 1,5,10,20,40 --seconds 60
    python -m alibi_lsh.classroom.loadtest --students 10,40 --processes 2 --pages all
    python -m alibi_lsh.classroom.loadtest --students 10,40 --mode open     # a fresh session per open

It starts its own server on a free localhost port (one ``streamlit run app.py`` process, or
``--processes N`` behind the proxy as ``alibi_lsh.classroom.serve`` runs them), warms each process up
with one visit per page, then runs one phase per number of students (see
``alibi_lsh.classroom.students`` for what a student does and checks). Each row gives
completed reruns per second, rerun latency percentiles (request to ``script_finished``),
timeouts, failed checks, the server's CPU (percent of one core, summed over its processes) and
peak memory, and this command's own CPU. At the end it waits ``--idle-seconds`` (Streamlit keeps a
closed session for 120 s) and reports the memory then. Exit status 1 if any check failed.
``--url`` measures a server that is already running instead (no CPU or memory columns).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import urllib.parse
from collections.abc import Sequence

from ..cli_args import run_command, seed
from .protocol import BrowserTab, http_get
from .report import Usage, duration, header, percentile, row, size
from .servers import MAX_PROCESSES, Classroom
from .students import ALL_PAGES, MODES, PhaseResult, Settings, check, run_phase
from .usage import UsageMeter, resident_bytes

MAX_STUDENTS = 200
MAX_SECONDS = 3600


def parse_students(text: str) -> list[int]:
    """'1,5,10' -> [1, 5, 10]; ValueError naming the value outside 1..MAX_STUDENTS."""
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise ValueError(f"--students={text!r} has an empty item: each count must be in 1..{MAX_STUDENTS}")
    try:
        counts = [int(part) for part in parts]
    except ValueError:
        raise ValueError(f"--students={text!r} is not a comma-separated list of whole numbers") from None
    if not counts or any(not 1 <= count <= MAX_STUDENTS for count in counts):
        raise ValueError(f"--students={text!r}: each count must be in 1..{MAX_STUDENTS}")
    return counts


def parse_pages(text: str) -> tuple[str, ...]:
    """'all', or page URL paths separated by commas ('overview,masks')."""
    pages = ALL_PAGES if text == "all" else tuple(part.strip() for part in text.split(","))
    unknown = [page for page in pages if page not in ALL_PAGES]  # an empty item is unknown too
    if unknown:
        raise ValueError(f"--pages={text!r}: use 'all' or pages among {', '.join(ALL_PAGES)}")
    return pages


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alibi_lsh.classroom.loadtest", description=__doc__.split("\n")[0])
    parser.add_argument("--students", default="1,5,10,20,40", help="students per phase, e.g. 1,5,10,20,40")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase (default 60)")
    parser.add_argument(
        "--processes", type=int, default=1, help="app processes; more than 1 runs them behind the proxy"
    )
    parser.add_argument("--pages", default="overview", help=f"'all' ({', '.join(ALL_PAGES)}) or a list")
    parser.add_argument(
        "--mode", default="controls", choices=MODES, help="controls: move a control; open: a fresh session per open"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a rerun counts as timed out")
    parser.add_argument(
        "--idle-seconds", type=float, default=150.0, help="wait after the last phase, then report memory (0: skip)"
    )
    parser.add_argument(
        "--seed", type=seed, default=0, help="seed of the students' settings and think times, 0..2^63 - 1"
    )
    parser.add_argument(
        "--scaling-run",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add one student on Scaling who presses Run every 3-6 s (default: on)",
    )
    parser.add_argument("--url", help="measure this running server instead of starting one")
    return parser


def validate(args: argparse.Namespace) -> None:
    for name, value, low, high in (
        ("--seconds", args.seconds, 0.1, MAX_SECONDS),
        ("--timeout", args.timeout, 0.1, MAX_SECONDS),
        ("--idle-seconds", args.idle_seconds, 0, MAX_SECONDS),
        ("--processes", args.processes, 1, MAX_PROCESSES),
    ):
        if not low <= value <= high:
            raise ValueError(f"{name}={value:g} is outside {low:g}..{high:g}")


def check_url(url: str, timeout: float) -> None:
    """A server must answer at ``--url`` before the test starts: one error line, not a traceback
    from the warm-up's first connection."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https") or not urllib.parse.urlsplit(url).hostname:
        raise ValueError(f"--url must be an http:// or https:// address of a running app, got {url!r}")
    try:
        http_get(url, {}, timeout)
    except (OSError, ValueError) as error:  # URLError, refused, timed out, unreachable
        reason = getattr(error, "reason", None) or error
        raise ValueError(
            f"--url: nothing answers at {url} ({reason}); start the app there or leave out --url"
        ) from None


async def warm_up(urls: Sequence[str], pages: Sequence[str], timeout: float) -> list[str]:
    """Visit each page once on each process (imports and first-run work), checking what comes back."""
    problems = []
    for url in urls:
        for page in pages:
            settings = Settings(page=page, n=256, samples=64, seed=0, head=4)
            async with BrowserTab(url, page, settings.query_string(), timeout=timeout) as tab:
                problems += check(await tab.open(), settings)
    return problems


def measure_phase(
    url: str, pids: Sequence[int], students: int, pages: Sequence[str], args: argparse.Namespace
) -> tuple[PhaseResult, Usage]:
    """One phase of ``students``, with the server's CPU and peak memory and this process's CPU."""
    meter = UsageMeter(pids).start()
    client_start, wall_start = time.process_time(), time.monotonic()
    result = asyncio.run(
        run_phase(url, students, args.seconds, pages, args.mode, args.timeout, args.seed, args.scaling_run)
    )
    client_cpu = 100 * (time.process_time() - client_start) / (time.monotonic() - wall_start)
    server_cpu, server_bytes = meter.stop()
    return result, Usage(server_cpu if pids else None, server_bytes if pids else None, client_cpu)


def run_summary(students: int, result: PhaseResult) -> str:
    """One line on the Scaling runs of a phase: how many measured, how long they took, how many were busy."""
    measured = f"{len(result.runs)} runs measured" + (
        f" in {duration(percentile(result.runs, 50))} (median)" if result.runs else ""
    )
    return f"- with {students} students: {measured}, {result.runs_busy} answered busy"


def run(args: argparse.Namespace) -> int:
    validate(args)
    counts, pages = parse_students(args.students), parse_pages(args.pages)
    if args.url:
        check_url(args.url, min(args.timeout, 10.0))
    classroom = None if args.url else Classroom(args.processes, proxy=args.processes > 1)
    with classroom or contextlib.nullcontext():
        url = args.url or classroom.url
        pids = classroom.pids if classroom else []
        direct = [f"http://{b.address}" for b in classroom.backends] if classroom else [url]
        where = f"{args.processes} app processes behind HAProxy" if args.processes > 1 else "1 app process, no proxy"
        print(f"Load test at {url} ({where if classroom else 'a running server'}); pages: {', '.join(pages)};")
        print(
            f"mode {args.mode}: each student "
            + ("moves a sidebar control" if args.mode == "controls" else "opens the link with new settings")
            + f" after 0.5-1.5 s of thought; {args.seconds:g} s per row, timeout {args.timeout:g} s.",
            flush=True,
        )
        problems = asyncio.run(warm_up(direct, (*pages, "scaling") if args.scaling_run else pages, args.timeout))
        warm = resident_bytes(pids) if pids else None
        print(f"Server memory after one visit per page and process: {size(warm)}\n")
        print(header(), flush=True)
        load_averages: list[float] = []
        run_notes: list[str] = []
        for count in counts:
            result, usage = measure_phase(url, pids, count, pages, args)
            print(row(result, usage), flush=True)
            problems += result.errors
            load_averages.append(os.getloadavg()[0])
            run_notes.append(run_summary(count, result))
        if args.scaling_run:
            print("\nOne more student on Scaling pressed Run every 3-6 s (capped run, one at a time):")
            print("\n".join(run_notes))
        # Other work on the machine competes for the cores: say how busy it was.
        loads = ", ".join(f"{load:.1f}" for load in load_averages)
        print(f"\nLoad average (1 min, this test's processes included) after each row: {loads}")
        if pids and args.idle_seconds > 0:
            print(f"Waiting {args.idle_seconds:g} s with no students ...", flush=True)
            time.sleep(args.idle_seconds)
            idle = resident_bytes(pids)
            print(f"Server memory {args.idle_seconds:g} s after the last student left: {size(idle)} ", end="")
            print(f"({(idle - warm) / 1e6:+.0f} MB from after the warm-up)")
    if problems:
        print(f"\n{len(problems)} failed checks; the first ones:")
        for problem in list(dict.fromkeys(problems))[:10]:  # distinct, in order
            print(f"  {problem}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the load test; bad input is one ``error:`` line and status 2, before any server starts."""
    return run_command(build_parser(), argv, run)


if __name__ == "__main__":
    raise SystemExit(main())
