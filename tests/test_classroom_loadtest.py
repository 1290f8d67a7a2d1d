"""The shipped load test: a short real run, the checks a simulated student makes, the table.

The short run starts its own app process, runs two students for a few seconds on two pages, plus
one who presses Run on Scaling, and must print a table row with zero failed checks and zero
timeouts and the measured run. The checker is also given runs
built by hand, to show that it catches an exception box, a page without chart data and a page
that shows another student's values.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.PlotlyChart_pb2 import PlotlyChart
from streamlit.proto.Slider_pb2 import Slider

from alibi_lsh.classroom import loadtest
from alibi_lsh.classroom.protocol import Rerun, widget_key, widget_state
from alibi_lsh.classroom.report import COLUMNS, Usage, duration, header, percentile, row, size
from alibi_lsh.classroom.students import CONTROLS, PhaseResult, Settings, check

ROOT = Path(__file__).resolve().parent.parent


def test_short_run_prints_a_clean_row():
    command = [sys.executable, "-m", "alibi_lsh.classroom.loadtest", "--students", "2", "--seconds", "4"]
    command += ["--pages", "overview,masks", "--idle-seconds", "0.5"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 2 |")]
    assert len(rows) == 1, done.stdout
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    values = dict(zip(COLUMNS, cells))
    assert float(values["reruns/s served"]) > 0
    assert values["timeouts"] == "0" and values["errors"] == "0"
    assert values["median"].endswith(("ms", " s")) and values["server memory"].endswith(("MB", "GB"))
    assert "after the last student left" in done.stdout
    # One more student pressed Run on Scaling: its capped run measured (nobody else was running one).
    runs = re.search(r"with 2 students: (\d+) runs measured in .* \(median\), 0 answered busy", done.stdout)
    assert runs and int(runs.group(1)) >= 1, done.stdout


def page(settings: Settings, **overrides) -> Rerun:
    """A run as the app would send it to ``settings``' student; ``overrides`` replace echoed values."""
    values = {name: overrides.get(name, getattr(settings, name)) for name, _, _, _ in CONTROLS.values()}
    elements = []
    for key, (name, _, _, _) in CONTROLS.items():
        widget_id = f"$$ID-0123abcd-{key}"
        if key in ("w_n", "w_samples"):
            elements.append(("slider", Slider(id=widget_id, value=[values[name]])))
        else:
            elements.append(("number_input", NumberInput(id=widget_id, value=values[name])))
    elements.append(("plotly_chart", PlotlyChart(spec='{"data":[{"type":"heatmap","z":[[1]]}],"layout":{}}')))
    query = f"heads=8&head={values['head']}&n={values['n']}&R={values['samples']}&seed={values['seed']}"
    return Rerun(0.1, ForwardMsg.FINISHED_SUCCESSFULLY, elements, query, 1000)


def test_checks_pass_a_run_with_the_students_own_values():
    settings = Settings.draw(random.Random(1), "overview")
    assert check(page(settings), settings) == []


def test_checks_catch_another_students_values():
    settings = Settings(page="masks", n=200, samples=32, seed=3, head=2)
    problems = check(page(settings, n=300, seed=9), settings)
    assert "masks: n: the page shows 300, this student set 200" in problems
    assert "masks: URL has seed=9, this student set 3" in problems
    assert len(problems) == 4  # n and seed, each in the sidebar and in the URL


def test_checks_catch_exceptions_and_missing_chart_data():
    settings = Settings(page="overview", n=200, samples=32, seed=3, head=2)
    rerun = page(settings)
    exception = ForwardMsg().delta.new_element.exception
    exception.type, exception.message = "ValueError", "n must be positive"
    rerun.elements = [(kind, element) for kind, element in rerun.elements if kind != "plotly_chart"]
    rerun.elements.append(("plotly_chart", PlotlyChart(spec='{"data":[],"layout":{}}')))
    rerun.elements.append(("exception", exception))
    assert check(rerun, settings) == [
        "overview: exception: ValueError: n must be positive",
        "overview: no chart with data",
    ]


def test_students_draw_their_settings_in_range_and_change_one_control():
    rng = random.Random(0)
    for _ in range(200):
        settings = Settings.draw(rng, "overview")
        changed, key, value = settings.changed(rng)
        name, _, low, high = CONTROLS[key]
        assert low <= getattr(settings, name) <= high and low <= value <= high
        assert getattr(changed, name) == value != getattr(settings, name)
        assert [f for f in ("n", "samples", "seed", "head") if getattr(changed, f) != getattr(settings, f)] == [name]


def test_widget_states_are_encoded_as_the_frontend_sends_them():
    assert list(widget_state("slider", "$$ID-1-w_n", 300).double_array_value.data) == [300.0]
    assert list(widget_state("slider", "$$ID-1-scale_cap_cpu", "1024").string_array_value.data) == ["1024"]
    assert widget_state("number_input", "$$ID-1-w_seed", 7).double_value == 7.0
    assert widget_state("selectbox", "$$ID-1-w_scheme", "qmc").string_value == "qmc"
    assert widget_state("button", "$$ID-1-run", True).WhichOneof("value") == "trigger_value"
    with pytest.raises(ValueError, match="not supported"):
        widget_state("file_uploader", "$$ID-1-f", b"")
    assert widget_key(Slider(id="$$ID-5fc7c38d-w_n")) == "w_n"
    assert widget_key(Slider(id="$$ID-5fc7c38d-my-key")) == "my-key"
    assert widget_key(PlotlyChart(spec="{}")) is None


def test_table_cells():
    seconds = (0.2024, 0.9994, 1.0, 1.754, 12.14, 123.4, None)
    assert [duration(s) for s in seconds] == ["202 ms", "999 ms", "1.00 s", "1.75 s", "12.1 s", "123 s", "-"]
    sizes = (85_300, 7.14e6, 423e6, 1.97e9, None)
    assert [size(b) for b in sizes] == ["85 kB", "7.1 MB", "423 MB", "1.97 GB", "-"]
    assert percentile([0.1, 0.2, 0.3, 0.4], 50) == pytest.approx(0.25)
    assert percentile([0.1, 0.2, 0.3, 0.4], 90) == pytest.approx(0.37)  # 0.3 + 0.7 * (0.4 - 0.3)
    result = PhaseResult(5, 10.0, latencies=[0.1, 0.2, 0.3, 0.4], first_loads=[0.5, 1.5], timeouts=1, errors=["x"])
    result.received_bytes = 4 * 600_000
    usage = Usage(server_cpu=76.4, server_bytes=475_000_000, client_cpu=3.2)
    assert (
        row(result, usage) == "| 5 | 0.4 | 250 ms | 370 ms | 397 ms | 1 | 1 | 76 % | 475 MB | 600 kB | 1.00 s | 3 % |"
    )
    assert header().splitlines()[0].startswith("| students | reruns/s served | median | p90 | p99 |")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--students", "0"], "--students='0': each count must be in 1..200"),
        (["--students", "5,x"], "not a comma-separated list"),
        (["--pages", "scaling"], "--pages='scaling'"),
        (["--seconds", "0"], "--seconds=0 is outside"),
        (["--processes", "0"], "--processes=0 is outside 1..64"),
    ],
)
def test_bad_arguments_are_one_error_line(argv, message, capsys):
    assert loadtest.main([*argv, "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
