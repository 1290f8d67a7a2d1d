"""CPU time and resident memory of a set of server processes, read from /proc (Linux).

CPU is user + system time summed over the processes, so 100 % is one core busy. Memory is the
resident set summed over the processes (shared library pages count once per process, as ``ps``
shows them). A background thread samples the memory so that a phase reports its peak.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (exited processes count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                # The command name (field 2) may hold spaces; the fields after its ')' are plain.
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / CLOCK_TICKS


def resident_bytes(pids: Sequence[int]) -> int:
    """Resident memory of ``pids`` in bytes (exited processes count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_BYTES
        except OSError:
            continue
    return total


class UsageMeter:
    """CPU share and peak memory of ``pids`` between ``start()`` and ``stop()``."""

    def __init__(self, pids: Sequence[int], interval: float = 0.5) -> None:
        self.pids = list(pids)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peak = 0
        self._start_cpu = self._start_wall = 0.0

    def start(self) -> UsageMeter:
        self._stop.clear()
        self._peak = resident_bytes(self.pids)
        self._start_cpu, self._start_wall = cpu_seconds(self.pids), time.monotonic()
        self._thread = threading.Thread(target=self._sample, name="usage-meter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> tuple[float, int]:
        """(CPU percent of one core over the interval, peak resident bytes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        wall = max(time.monotonic() - self._start_wall, 1e-9)
        self._peak = max(self._peak, resident_bytes(self.pids))
        return 100.0 * (cpu_seconds(self.pids) - self._start_cpu) / wall, self._peak

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, resident_bytes(self.pids))
