"""Server-side time of the app's pages and of the tour's steps, measured with Streamlit's AppTest
(no browser).

For every page: the first load with empty caches, then full page runs after a slider change at
n = 256, R = 64. Two kinds of change are timed: to a *new* value (the page's computations are
redone: the n slider stepping 256 -> 255 -> 254 ...) and back to a value seen before (served
from the caches). For every step of the tour (the Lecture page, lecture mode, default settings):
the step drawn with empty caches, and drawn again. Medians over ``--repeat`` runs; prints
markdown tables.

    python -m alibi_lsh.classroom.page_timing [--repeat 7] [--pages ...] [--no-tour]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from ..cli_args import bounded_int, existing_file, run_command

PAGES = {  # name: (page, toggles switched on before timing)
    "Overview": (None, {}),
    "Masks": ("pages/masks.py", {}),
    "Convergence (with its error curves)": ("pages/convergence.py", {}),
    "Convergence, with spectral norms": ("pages/convergence.py", {"conv_spectral": True}),
    "Attention": ("pages/attention.py", {}),
    "Theory": ("pages/theory.py", {}),
    "Scaling (before Run)": ("pages/scaling.py", {}),
}
BASE = {"n": "256", "R": "64"}


def _timed(action, cpu: list[float] | None = None) -> float:
    """Wall-clock ms of ``action()``; its process CPU ms is appended to ``cpu`` if given.

    CPU time is reported too because on a shared machine the wall clock also counts the time this
    process waited for a core.
    """
    start, start_cpu = time.perf_counter(), time.process_time()
    action()
    if cpu is not None:
        cpu.append((time.process_time() - start_cpu) * 1000)
    return (time.perf_counter() - start) * 1000


def _clear_caches(st) -> None:
    """Empty the computation caches and the figure/layout caches: a first load builds everything."""
    st.cache_data.clear()
    st.cache_resource.clear()


def time_page(entry: Path, page: str | None, toggles: dict[str, bool], repeat: int) -> dict[str, float]:
    """First load (cold caches), then median ms per run after a new / a revisited n value.

    ``toggles`` (widget key: value) are set before the first load, for on-demand parts of a page.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    _clear_caches(st)
    at = AppTest.from_file(str(entry), default_timeout=300)
    for key, value in BASE.items():
        at.query_params[key] = value
    if toggles:
        at.run()
        at.switch_page(page).run()
        for key, value in toggles.items():
            at.toggle(key=key).set_value(value)
        _clear_caches(st)
        first = _timed(at.run)
    elif page:
        at.run()  # the session opens on the home page; switching is what a visitor does
        _clear_caches(st)
        first = _timed(lambda: at.switch_page(page).run())
    else:
        first = _timed(at.run)
    assert not at.exception, at.exception
    new, new_cpu, cached = [], [], []
    for step in range(1, repeat + 1):
        new.append(_timed(lambda value=256 - step: at.slider(key="w_n").set_value(value).run(), new_cpu))
        cached.append(_timed(lambda: at.slider(key="w_n").set_value(256).run()))
        assert not at.exception, at.exception
    return {
        "first": first,
        "new": statistics.median(new),
        "new_cpu": statistics.median(new_cpu),
        "cached": statistics.median(cached),
    }


def time_tour_step(entry: Path, step: int, repeat: int) -> dict:
    """One tour step at the default settings in lecture mode: drawn with empty caches (median of
    ``repeat`` fresh sessions, each emptying the caches first), and drawn again from the caches.
    ``heading`` is the step's heading as shown ("3 / 10 · title"), which also says how many steps
    the tour has: the classroom tooling reads the app as a visitor does, never its modules."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    cold, cold_cpu, warm = [], [], []
    for _ in range(repeat):
        at = AppTest.from_file(str(entry), default_timeout=300)
        for key, value in {**BASE, "lecture": "1", "step": str(step)}.items():
            at.query_params[key] = value
        at.run()  # the session opens on the home page; the tour is one click away
        _clear_caches(st)
        cold.append(_timed(lambda at=at: at.switch_page("pages/lecture.py").run(), cold_cpu))
        assert not at.exception, at.exception
        heading = at.subheader[0].value
        assert heading.startswith(f"{step} /"), heading
        warm.append(_timed(at.run))
    return {
        "cold": statistics.median(cold),
        "cold_cpu": statistics.median(cold_cpu),
        "warm": statistics.median(warm),
        "heading": heading,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m alibi_lsh.classroom.page_timing", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--repeat", type=bounded_int(1, 1000), default=7, help="slider changes per page, 1..1000 (median)"
    )
    parser.add_argument(
        "--pages", nargs="*", choices=list(PAGES), metavar="PAGE", help="only these pages (default: all)"
    )
    parser.add_argument("--app", type=existing_file, default="app.py", help="the app's entry script")
    parser.add_argument("--no-tour", action="store_true", help="skip the tour's steps")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Time the pages; bad input is one ``error:`` line and status 2, before any page is opened."""
    return run_command(build_parser(), argv, run)


def run(args: argparse.Namespace) -> int:
    args.app = args.app.resolve()  # AppTest resolves relative paths against the calling file

    import torch

    import_start = time.perf_counter()
    from streamlit.testing.v1 import AppTest

    warm = AppTest.from_file(str(args.app), default_timeout=300)
    warm.run()  # imports torch, plotly, altair and the package once, like a server's first session
    first_session = (time.perf_counter() - import_start) * 1000
    torch.set_num_threads(1)

    chosen = {name: spec for name, spec in PAGES.items() if not args.pages or name in args.pages}
    rows = [(name, time_page(args.app, page, toggles, args.repeat)) for name, (page, toggles) in chosen.items()]
    print(
        f"Page timings at n = 256, R = 64 (median of {args.repeat}; {os.cpu_count()}-core CPU, "
        f"{platform.python_implementation()} {platform.python_version()}, torch {torch.__version__})\n"
    )
    print(
        "| page | first load, empty caches (ms) | slider to a new value (ms) | same, CPU time (ms) "
        "| slider back to a cached value (ms) |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t['first']:.0f} | {t['new']:.0f} | {t['new_cpu']:.0f} | {t['cached']:.0f} |")
    if not args.no_tour:
        print(
            "\nTour steps (lecture mode, defaults), ms: drawn with empty caches (wall, CPU), drawn again\n"
            "\n| step | empty caches (ms) | same, CPU time (ms) | drawn again (ms) |\n|---|---:|---:|---:|"
        )
        index, steps = 1, 1
        while index <= steps:
            t = time_tour_step(args.app, index, max(1, args.repeat // 2))
            steps = int(t["heading"].split("/")[1].split()[0])  # "3 / 10 · title"
            print(f"| {t['heading']} | {t['cold']:.0f} | {t['cold_cpu']:.0f} | {t['warm']:.0f} |")
            index += 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nLoad average (1 min) at the end: {load:.1f}.")
    print(f"\nFirst session after start (imports included): {first_session:.0f} ms.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
