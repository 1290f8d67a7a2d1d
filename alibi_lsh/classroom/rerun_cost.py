"""What one rerun of each page costs a served app process: server CPU, latency, and bytes sent.

    python -m alibi_lsh.classroom.rerun_cost [--reruns 12] [--pages overview,masks,convergence]

Starts one app process on a free localhost port (as ``streamlit run app.py``), opens each page
at n = 256, R = 64 as one browser tab (``alibi_lsh.classroom.protocol``), then moves sidebar
controls as a student does (n, the seed and R in turn, each time to a value not seen before, so
nothing comes from a cache). For each page it prints the first load (bytes sent, latency), then the
reruns' median server CPU (user + system time of the app process from /proc, 10 ms ticks), median
latency, and median and largest bytes sent, and which elements carried the bytes. Bytes are the
websocket messages as the browser decodes them (Streamlit does not compress its websocket by
default); elements the tab still holds are not sent again, as in a browser.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from .._checks import exit_status
from .protocol import BrowserTab, Rerun
from .report import duration, size
from .servers import Classroom
from .students import ALL_PAGES, RUN_PAGE, Settings
from .usage import cpu_seconds

PAGES = (*ALL_PAGES, RUN_PAGE, "lecture")
BASE = Settings(page="", n=256, samples=64, seed=0, head=4)


@dataclass
class PageCost:
    page: str
    first_bytes: int = 0
    first_seconds: float = 0.0
    cpu: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    by_element: collections.Counter = field(default_factory=collections.Counter)


def changes(reruns: int) -> list[tuple[str, int]]:
    """Sidebar changes to values not seen before: n 255, 254, ...; seed 1, 2, ...; R 65, 66, ..."""
    moves = []
    for k in range(1, reruns + 1):
        moves.append([("w_n", BASE.n - k), ("w_seed", BASE.seed + k), ("w_samples", BASE.samples + k)][k % 3])
    return moves


def element_bytes(rerun: Rerun) -> collections.Counter:
    """Protobuf bytes of the elements of a run, by element type (a bidi component: the live figure)."""
    sizes: collections.Counter = collections.Counter()
    for kind, element in rerun.elements:
        sizes[kind] += element.ByteSize()
    return sizes


async def measure_page(url: str, pid: int, page: str, reruns: int) -> PageCost:
    cost = PageCost(page)
    settings = Settings(page, BASE.n, BASE.samples, BASE.seed, BASE.head)
    async with BrowserTab(url, page, settings.query_string(), timeout=120) as tab:
        first = await tab.open()
        cost.first_bytes, cost.first_seconds = first.received_bytes, first.seconds
        for key, value in changes(reruns):
            before = cpu_seconds([pid])
            rerun = await tab.rerun({key: value})
            cost.cpu.append(cpu_seconds([pid]) - before)
            cost.seconds.append(rerun.seconds)
            cost.sent.append(rerun.received_bytes)
            cost.by_element.update(element_bytes(rerun))
    return cost


def table(costs: Sequence[PageCost], reruns: int) -> str:
    lines = [
        "| page | first load: sent | first load: latency | rerun: server CPU (median) | rerun: latency (median) "
        "| rerun: sent (median) | rerun: sent (largest) | largest elements per rerun |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for cost in costs:
        top = ", ".join(f"{kind} {size(total / reruns)}" for kind, total in cost.by_element.most_common(2))
        lines.append(
            f"| {cost.page} | {size(cost.first_bytes)} | {duration(cost.first_seconds)} | "
            f"{statistics.median(cost.cpu) * 1000:.0f} ms | {duration(statistics.median(cost.seconds))} | "
            f"{size(statistics.median(cost.sent))} | {size(max(cost.sent))} | {top} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m alibi_lsh.classroom.rerun_cost", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--reruns", type=int, default=12, help="control changes per page (default 12)")
    parser.add_argument("--pages", default=",".join(PAGES), help=f"pages among {', '.join(PAGES)}")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.reruns <= 1000:
        raise ValueError(f"--reruns={args.reruns} is outside 1..1000")
    pages = [page.strip() for page in args.pages.split(",") if page.strip()]
    unknown = [page for page in pages if page not in PAGES]
    if not pages or unknown:
        raise ValueError(f"--pages={args.pages!r}: use pages among {', '.join(PAGES)}")
    with Classroom(1, proxy=False) as classroom:
        pid = classroom.pids[0]
        for page in pages:  # a first visit of each page: imports and first-run work are not a rerun
            asyncio.run(measure_page(classroom.url, pid, page, 1))
        costs = [asyncio.run(measure_page(classroom.url, pid, page, args.reruns)) for page in pages]
    print(f"One app process, n = {BASE.n}, R = {BASE.samples}; {args.reruns} reruns per page (sidebar n, seed, R).\n")
    print(table(costs, args.reruns))
    print(f"\nLoad average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_status(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
