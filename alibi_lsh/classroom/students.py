"""Simulated students: browser tabs with their own settings, changing a control about once a second.

Each student draws its own context length n in 128..512, samples R in 16..256, seed and ALiBi head
(of 8), opens its page with them in the URL (as a shared link would), then repeatedly thinks for
0.5-1.5 s and moves one of the four sidebar controls to a new value. In the ``open`` mode a
student instead opens the link afresh each time (a new session per open) with one control changed.

After every run the student checks what came back: the run finished, no exception box, no
``st.error``, at least one chart with data, and the sidebar and URL echo *its own* values (a
session that showed another student's n or seed would fail here).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, urlencode

from websockets.exceptions import WebSocketException

from .protocol import SUCCESS_STATUSES, BrowserTab, ProtocolError, Rerun

# Every page whose figures follow the sidebar. Scaling is left out: it computes only on its Run button.
ALL_PAGES = ("overview", "masks", "convergence", "attention", "theory", "language_model")
MODES = ("controls", "open")
HEADS = 8
# Widget key in the app's sidebar -> (field of Settings, URL parameter, lowest, highest value drawn)
CONTROLS = {
    "w_n": ("n", "n", 128, 512),
    "w_samples": ("samples", "R", 16, 256),
    "w_seed": ("seed", "seed", 0, 9999),
    "w_head": ("head", "head", 1, HEADS),
}
THINK_SECONDS = (0.5, 1.5)  # uniform: one change about every second, plus the wait for the page
# The student who presses Run on Scaling: a run takes seconds (capped for students), so it waits
# longer for its page and thinks longer between presses.
RUN_PAGE, RUN_BUTTON = "scaling", "scale_run"
# Largest n of its runs, an option of the page's select slider: a run (n = 256..1024, dense,
# window and LSH, 1 thread) takes a few seconds on a 2-core CPU.
RUN_LARGEST_N = ("scale_cap_cpu", "1024")
RUN_TIMEOUT = 300.0
RUN_THINK_SECONDS = (3.0, 6.0)
BUSY_NOTE = "Busy: another visitor's measurement is running"


@dataclass(frozen=True)
class Settings:
    """One student's page and controls."""

    page: str
    n: int
    samples: int
    seed: int
    head: int

    @classmethod
    def draw(cls, rng: random.Random, page: str) -> Settings:
        values = {name: rng.randint(low, high) for name, _, low, high in CONTROLS.values()}
        return cls(page=page, **values)

    def query_string(self) -> str:
        params = {"heads": HEADS, **{param: getattr(self, name) for name, param, _, _ in CONTROLS.values()}}
        return urlencode(params)

    def changed(self, rng: random.Random) -> tuple[Settings, str, int]:
        """These settings with one control moved to a new value: (settings, widget key, value)."""
        key = rng.choice(list(CONTROLS))
        name, _, low, high = CONTROLS[key]
        value = getattr(self, name)
        while value == getattr(self, name):
            value = rng.randint(low, high)
        return replace(self, **{name: value}), key, value


def check(rerun: Rerun, settings: Settings) -> list[str]:
    """What is wrong with a run that ``settings``' student received (empty if nothing)."""
    problems = [f"exception: {text}" for text in rerun.exceptions()]
    problems += [f"st.error: {text}" for text in rerun.error_alerts()]
    if rerun.status not in SUCCESS_STATUSES:
        problems.append(f"script finished with status {rerun.status}")
    if not rerun.charts_with_data():
        problems.append("no chart with data")
    widgets = rerun.widgets()
    for key, (name, param, _, _) in CONTROLS.items():
        expected = getattr(settings, name)
        if key not in widgets:
            problems.append(f"control {key} missing")
            continue
        kind, element = widgets[key]
        shown = element.value[0] if kind == "slider" and len(element.value) == 1 else element.value
        shown = int(shown) if isinstance(shown, float) and shown.is_integer() else shown  # widgets send floats
        if shown != expected:
            problems.append(f"{param}: the page shows {shown}, this student set {expected}")
    if rerun.query_string is not None:
        url = {k: v[-1] for k, v in parse_qs(rerun.query_string).items()}
        for name, param, _, _ in CONTROLS.values():
            if url.get(param) != str(getattr(settings, name)):
                problems.append(f"URL has {param}={url.get(param)}, this student set {getattr(settings, name)}")
    return [f"{settings.page}: {problem}" for problem in problems]


@dataclass
class PhaseResult:
    """What all students of one phase saw."""

    students: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # reruns (controls) or page opens (open)
    first_loads: list[float] = field(default_factory=list)
    timeouts: int = 0
    errors: list[str] = field(default_factory=list)
    received_bytes: int = 0  # by the runs in ``latencies``
    runs: list[float] = field(default_factory=list)  # seconds of each Scaling Run that measured
    runs_busy: int = 0  # presses of Run answered with the busy note

    def record(self, rerun: Rerun, settings: Settings, first_load: bool) -> None:
        """Keep the run's latency (and bytes, unless it is a tab's first load) and its failed checks."""
        if first_load:
            self.first_loads.append(rerun.seconds)
        else:
            self.latencies.append(rerun.seconds)
            self.received_bytes += rerun.received_bytes
        self.errors += check(rerun, settings)


async def simulate_student(
    url: str, settings: Settings, rng: random.Random, deadline: float, mode: str, timeout: float, result: PhaseResult
) -> None:
    """One student until ``deadline``: in the ``controls`` mode one tab whose controls move about
    once a second (its first load is kept apart); in the ``open`` mode a fresh tab for every change.
    A tab that failed or timed out is reopened after a think time, as a student would reload it.
    """
    while time.monotonic() < deadline:
        async with (
            _failures_counted(result, settings.page),
            BrowserTab(url, settings.page, settings.query_string(), timeout=timeout) as tab,
        ):
            result.record(await tab.open(), settings, first_load=mode == "controls")
            while mode == "controls" and await _think(rng, deadline):
                settings, key, value = settings.changed(rng)
                result.record(await tab.rerun({key: value}), settings, first_load=False)
        await _think(rng, deadline)
        settings = settings.changed(rng)[0]


async def press_run(url: str, settings: Settings, rng: random.Random, deadline: float, result: PhaseResult) -> None:
    """The student on Scaling until ``deadline``: opens the page, presses Run, reads the result, thinks
    a few seconds, presses again. A finished run shows the measured chart beside the stored one;
    a busy server shows its note (counted apart); either way the stored results stay drawn."""
    while time.monotonic() < deadline:
        async with (
            _failures_counted(result, settings.page),
            BrowserTab(url, settings.page, settings.query_string(), timeout=RUN_TIMEOUT) as tab,
        ):
            result.record(await tab.open(), settings, first_load=True)
            key, choice = RUN_LARGEST_N
            result.errors += check(await tab.rerun({key: choice}), settings)
            while time.monotonic() < deadline:
                run = await tab.rerun({RUN_BUTTON: True})
                result.errors += check(run, settings)
                if any(BUSY_NOTE in text for text in run.warnings()):
                    result.runs_busy += 1
                elif run.charts_with_data() >= 2:  # the stored results and this measurement
                    result.runs.append(run.seconds)
                else:
                    result.errors.append(f"{settings.page}: Run showed neither a measurement nor the busy note")
                await asyncio.sleep(max(0.0, min(rng.uniform(*RUN_THINK_SECONDS), deadline - time.monotonic())))
        await _think(rng, deadline)


@contextlib.asynccontextmanager
async def _failures_counted(result: PhaseResult, page: str):
    """Count a run that timed out, and record a broken connection or protocol as an error."""
    try:
        yield
    except TimeoutError:
        result.timeouts += 1
    except (ProtocolError, WebSocketException, OSError) as error:
        result.errors.append(f"{page}: {type(error).__name__}: {error}")


async def run_phase(
    url: str,
    students: int,
    seconds: float,
    pages: Sequence[str] = ("overview",),
    mode: str = "controls",
    timeout: float = 30.0,
    seed: int = 0,
    scaling_run: bool = False,
) -> PhaseResult:
    """``students`` students for ``seconds`` (each finishes its current run, at most ``timeout`` more).

    Student i is on ``pages[i % len(pages)]``; starts are spread over the first second.
    ``scaling_run`` adds one more student, on Scaling, who presses Run (:func:`press_run`).
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {', '.join(MODES)}")
    result = PhaseResult(students)
    start = time.monotonic()
    deadline = start + seconds

    async def student(i: int) -> None:
        rng = random.Random(f"{seed}-{students}-{i}")
        await asyncio.sleep(i / students)
        await simulate_student(url, Settings.draw(rng, pages[i % len(pages)]), rng, deadline, mode, timeout, result)

    async def runner() -> None:
        rng = random.Random(f"{seed}-{students}-run")
        await press_run(url, Settings.draw(rng, RUN_PAGE), rng, deadline, result)

    await asyncio.gather(*(student(i) for i in range(students)), *([runner()] if scaling_run else []))
    result.seconds = time.monotonic() - start
    return result


async def _think(rng: random.Random, deadline: float) -> bool:
    """Wait a think time (cut at ``deadline``); False if the deadline has passed."""
    remaining = deadline - time.monotonic()
    await asyncio.sleep(max(0.0, min(rng.uniform(*THINK_SECONDS), remaining)))
    return time.monotonic() < deadline
