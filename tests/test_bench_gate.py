"""One Scaling run at a time on a shared server, the students' caps, and instructor mode."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from alibi_lsh.classroom import bench_gate


def test_a_second_run_is_refused_while_one_holds_the_lock(tmp_path):
    path = tmp_path / "run.lock"
    assert bench_gate.busy_since(path) is None
    with bench_gate.exclusive_run(path):
        assert bench_gate.busy_since(path) > 0  # the start time is written into the lock file
        refused = []

        def other_session():  # another session of this process, in its own script thread
            try:
                with bench_gate.exclusive_run(path):
                    refused.append(False)
            except bench_gate.Busy as busy:
                refused.append(str(busy))

        thread = threading.Thread(target=other_session)
        thread.start()
        thread.join()
        assert refused[0].startswith("another visitor's measurement is running on this server (started ")
        # ... and another app process behind the proxy.
        code = (
            "import sys; from pathlib import Path; from alibi_lsh.classroom import bench_gate\n"
            "try:\n    bench_gate.exclusive_run(Path(sys.argv[1])).__enter__(); print('ran')\n"
            "except bench_gate.Busy: print('busy')"
        )
        other = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
        assert other.stdout.strip() == "busy", other.stderr
    assert bench_gate.busy_since(path) is None  # released at the end of the block


def test_the_lock_is_released_when_a_run_fails(tmp_path):
    path = tmp_path / "run.lock"
    with pytest.raises(RuntimeError, match="boom"), bench_gate.exclusive_run(path):
        raise RuntimeError("boom")
    assert bench_gate.busy_since(path) is None


def test_student_caps_name_the_value_and_the_cap(monkeypatch):
    monkeypatch.delenv(bench_gate.INSTRUCTOR_ENV, raising=False)
    caps = bench_gate.caps()
    assert caps.refusal((256, 4096), 8, ("dense", "lsh"), 1) is None  # 8 x 4096^2 x 4 B = 0.5 GiB
    assert caps.refusal((8192,), 8, ("lsh",), 1) == "n=8192 is above the cap 4096 on a shared server"
    assert caps.refusal((4096,), 16, ("dense",), 1) is None  # exactly 1 GiB is allowed
    refused = caps.refusal((4096,), 17, ("dense",), 1)
    assert refused == "the dense bias at n=4096 with H=17 heads takes 1.06 GiB, above the cap 1 GiB on a shared server"
    assert caps.refusal((4096,), 64, ("window", "lsh"), 1) is None  # no dense bias, no cap on heads
    assert caps.refusal((512,), 8, ("lsh",), 2) == "threads=2 is above the cap 1 on a shared server"


@pytest.mark.parametrize(("value", "instructor"), [("1", True), ("yes", True), ("0", False), ("", False)])
def test_instructor_mode_comes_from_the_server_environment(monkeypatch, value, instructor):
    monkeypatch.setenv(bench_gate.INSTRUCTOR_ENV, value)
    assert bench_gate.instructor_mode() is instructor
    assert (bench_gate.caps().max_n is None) is instructor


def test_a_students_run_yields_the_cpu_in_its_own_thread_only():
    if not hasattr(os, "setpriority"):
        pytest.skip("no per-thread priorities here")
    seen = []

    def run():
        thread = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, thread)
        with bench_gate.yielding_cpu():
            seen.append(os.getpriority(os.PRIO_PROCESS, thread))
            seen.append(os.getpriority(os.PRIO_PROCESS, os.getpid()))  # the main thread is untouched
        seen.append(os.getpriority(os.PRIO_PROCESS, thread) - before)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen[0] == bench_gate.LOWEST_PRIORITY and seen[1] != bench_gate.LOWEST_PRIORITY
    if os.geteuid() == 0:  # raising a priority back needs the privilege; the thread ends anyway
        assert seen[2] == 0
