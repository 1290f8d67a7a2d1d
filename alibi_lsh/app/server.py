"""Keeping a served app process cheap: the housekeeping around every script run.

:func:`script_run` wraps app.py's one run; the pieces it uses:

- Streamlit runs a *full* garbage collection after every script run, and with torch, pandas,
  plotly and altair imported each one walks every imported object. :func:`freeze_imports`
  moves what is alive after the imports into the collector's permanent generation
  (``gc.freeze``), so a collection only walks what the sessions created since.
- Memory freed by Python goes back to glibc's malloc, which keeps it in per-thread arenas
  (Streamlit runs each session in its own thread), so a process stayed large after a class had
  left. :func:`start_janitor` starts one thread per process that, every
  :data:`JANITOR_SECONDS`, collects and asks malloc to give free pages back (``malloc_trim``);
  fewer arenas (:data:`MALLOC_ARENAS`) and fixed mmap/trim thresholds (:data:`MMAP_BYTES`,
  :data:`TRIM_BYTES`) keep freed memory in few places and stop glibc from raising the
  thresholds as large blocks are freed.
- Once no script has run for :data:`IDLE_SECONDS` (the class has left), the janitor calls the
  callbacks registered with :func:`on_idle` (the app drops its array caches).
- :func:`limit_concurrency` lets at most :data:`COMPUTE_SLOTS` of the app's cached computations
  run at once per process (the machine's cores, not its students); the others wait holding
  nothing, so memory does not grow with the number of students in one rerun.

The measurements behind each choice are in docs/app.md ("Cheap reruns"). The malloc pieces are
no-ops where they do not apply (not Linux/glibc).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

JANITOR_SECONDS = 10.0
IDLE_SECONDS = 60.0  # no script run for this long: the class has left, the caches go
COMPUTE_SLOTS = 2  # computations at once per process: the machine's cores, not its students
MALLOC_ARENAS = 2
MMAP_BYTES = 4 * 2**20
TRIM_BYTES = 4 * 2**20
_M_ARENA_MAX = -8  # from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1

_lock = threading.Lock()
_compute_slots = threading.BoundedSemaphore(COMPUTE_SLOTS)
_holding = threading.local()
F = TypeVar("F", bound=Callable)
_frozen_modules = 0
_janitor: threading.Thread | None = None
_idle_callbacks: list[Callable[[], None]] = []
_activity = {"last": time.monotonic(), "released": True}


def _libc():
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt"):
            return libc
    return None


def freeze_imports() -> bool:
    """Freeze the objects alive now if modules were imported since the last call (cheap otherwise).

    Called at the end of every run of the entry script: the first run of each page imports its
    modules, and everything they create for good (functions, classes, constants) is frozen once.
    Objects alive at that moment that later become cyclic garbage are not collected; they are
    the few of one script run, a handful of times per process. Returns True if it froze.
    """
    global _frozen_modules
    with _lock:
        if len(sys.modules) == _frozen_modules:
            return False
        gc.collect()  # what is garbage now should not be frozen
        gc.freeze()
        _frozen_modules = len(sys.modules)
        return True


def give_back_memory() -> None:
    """Collect, then return free heap pages to the system (glibc ``malloc_trim``)."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def note_activity() -> None:
    """A script ran (called by app.py on every run): the caches are in use."""
    _activity["last"] = time.monotonic()
    _activity["released"] = False


def on_idle(callback: Callable[[], None]) -> None:
    """Call ``callback`` (e.g. a cache's ``clear``) once the process has been idle for
    :data:`IDLE_SECONDS`, and again after each later period of use."""
    if callback not in _idle_callbacks:
        _idle_callbacks.append(callback)


def release_if_idle(idle_seconds: float = IDLE_SECONDS) -> bool:
    """Run the idle callbacks if no script ran for ``idle_seconds`` since the last release;
    returns True if it did. A callback that fails is skipped (the others still run)."""
    if _activity["released"] or time.monotonic() - _activity["last"] < idle_seconds:
        return False
    _activity["released"] = True
    for callback in list(_idle_callbacks):
        with contextlib.suppress(Exception):
            callback()
    return True


def _janitor_loop(period: float, stop: threading.Event) -> None:
    while not stop.wait(period):
        release_if_idle()
        give_back_memory()


def start_janitor(period: float = JANITOR_SECONDS) -> threading.Event | None:
    """Start the process's janitor thread once (later calls do nothing); returns its stop event
    on the call that started it. Also limits malloc to :data:`MALLOC_ARENAS` arenas."""
    global _janitor
    with _lock:
        if _janitor is not None:
            return None
        libc = _libc()
        if libc is not None:
            libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)
            libc.mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)
        stop = threading.Event()
        _janitor = threading.Thread(target=_janitor_loop, args=(period, stop), name="alibi-lsh-janitor", daemon=True)
        _janitor.start()
        return stop


def limit_concurrency(function: F) -> F:
    """``function`` run in at most :data:`COMPUTE_SLOTS` threads of the process at once.

    A call from a thread that already holds a slot (a cached computation calling another) runs
    at once, so nesting cannot deadlock. Wrap the pure function before caching it: only cache
    misses then take a slot (``functools.wraps`` keeps Streamlit's cache key, the source).
    """

    @functools.wraps(function)
    def limited(*args, **kwargs):
        if getattr(_holding, "slot", False):
            return function(*args, **kwargs)
        with _compute_slots:
            _holding.slot = True
            try:
                return function(*args, **kwargs)
            finally:
                _holding.slot = False

    return limited  # type: ignore[return-value]


@contextlib.contextmanager
def script_run() -> Iterator[None]:
    """Wrap one run of the app's script: the process's housekeeping around the page.

    On every run: one compute thread per computation (several students share the CPU), the
    janitor started once per process, this run noted as activity (the caches are in use), and,
    after the page ran, whatever the run imported moved out of the collector's way.
    """
    torch.set_num_threads(1)
    start_janitor()
    note_activity()
    try:
        yield
    finally:
        freeze_imports()
