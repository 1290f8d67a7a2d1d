"""The Scaling page's fresh measurements on a shared server: one at a time, and capped for students.

A benchmark run takes every core it is given for seconds to minutes; on a server that a class
shares, two at once (or one at n = 16384) would stall every other student's page. So:

- one run at a time on the machine: an exclusive lock on a file (``flock``), held while a run
  goes on, across the sessions of a process and across the processes behind the proxy; a
  visitor who presses Run meanwhile is told the server is busy and sees the stored results;
- capped for students: n <= :data:`STUDENT_MAX_N`, the dense bias (H n^2 float32) at most
  :data:`STUDENT_MAX_DENSE_BYTES`, one CPU thread (the other cores keep serving the class), and
  run at the lowest CPU priority (:func:`yielding_cpu`): it takes only the CPU time the class's
  pages leave over;
- an instructor lifts the caps by starting the server with the environment variable
  ``ALIBI_LSH_INSTRUCTOR=1`` (``python -m alibi_lsh.classroom.serve --instructor`` sets it). It is
  read on the server, never from the URL, so a student cannot switch it on.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

INSTRUCTOR_ENV = "ALIBI_LSH_INSTRUCTOR"
LOCK_DIR_ENV = "ALIBI_LSH_LOCK_DIR"  # where the lock lives; default: the temporary directory
STUDENT_MAX_N = 4096
STUDENT_MAX_DENSE_BYTES = 2**30  # the dense method's float32 bias, H n^2 x 4 bytes
STUDENT_THREADS = 1
LOCK_NAME = "alibi-lsh-scaling-run.lock"
LOWEST_PRIORITY = 19  # nice value of a student's run


def instructor_mode() -> bool:
    """True if the server was started in instructor mode (``ALIBI_LSH_INSTRUCTOR`` = 1/true/yes/on)."""
    return os.environ.get(INSTRUCTOR_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Caps:
    """What one run may ask for: largest n, bytes of the dense bias, CPU threads (None: any)."""

    max_n: int | None
    max_dense_bytes: int | None
    threads: int | None

    def refusal(self, n_values: tuple[int, ...], heads: int, methods: tuple[str, ...], threads: int) -> str | None:
        """Why a run of these settings is refused (naming the value and the cap), or None."""
        largest = max(n_values)
        if self.max_n is not None and largest > self.max_n:
            return f"n={largest} is above the cap {self.max_n} on a shared server"
        dense = heads * largest * largest * 4
        if self.max_dense_bytes is not None and "dense" in methods and dense > self.max_dense_bytes:
            return (
                f"the dense bias at n={largest} with H={heads} heads takes {dense / 2**30:.2f} GiB, above the cap "
                f"{self.max_dense_bytes / 2**30:.0f} GiB on a shared server"
            )
        if self.threads is not None and threads > self.threads:
            return f"threads={threads} is above the cap {self.threads} on a shared server"
        return None


def caps() -> Caps:
    """No caps in instructor mode, the student caps otherwise."""
    if instructor_mode():
        return Caps(None, None, None)
    return Caps(STUDENT_MAX_N, STUDENT_MAX_DENSE_BYTES, STUDENT_THREADS)


def lock_path() -> Path:
    """The machine-wide lock file, shared by every app process: in ``$ALIBI_LSH_LOCK_DIR`` if set,
    else in the temporary directory."""
    return Path(os.environ.get(LOCK_DIR_ENV) or tempfile.gettempdir()) / LOCK_NAME


class Busy(RuntimeError):
    """Another measurement holds the lock; ``since`` is when it started (epoch seconds) if known."""

    def __init__(self, since: float | None) -> None:
        started = time.strftime("%H:%M:%S", time.localtime(since)) if since else "a moment ago"
        super().__init__(f"another visitor's measurement is running on this server (started {started})")
        self.since = since


@contextlib.contextmanager
def exclusive_run(path: Path | None = None) -> Iterator[None]:
    """Hold the run lock for the ``with`` block; raises :class:`Busy` at once if it is held.

    ``flock`` locks belong to an open file, so two sessions (threads) of one process exclude
    each other as two processes do, and the lock goes when the holder ends, even if it crashed.
    """
    path = path or lock_path()
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            raise Busy(float(text) if text.replace(".", "", 1).isdigit() else None) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{time.time():.0f}")
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def yielding_cpu(enabled: bool = True) -> Iterator[None]:
    """Run the ``with`` block in this thread at the lowest scheduling priority (nice 19), then
    restore it. Linux schedules threads one by one, so only the benchmark's thread (a student's
    run uses one) yields to the threads that serve the class; elsewhere, or if not allowed, a no-op.
    Measured times then include waiting for the CPU when the server is busy (the page says so).
    """
    if not enabled or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        yield
        return
    thread = threading.get_native_id()
    try:
        before = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, LOWEST_PRIORITY)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # raising a priority back may need privileges
            os.setpriority(os.PRIO_PROCESS, thread, before)


def busy_since(path: Path | None = None) -> float | None:
    """When the running measurement started (epoch seconds; 0.0 if unknown), or None if none runs."""
    try:
        with exclusive_run(path):
            return None
    except Busy as busy:
        return busy.since or 0.0
