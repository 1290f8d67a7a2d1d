"""The guided tour (the Lecture page), run headless with AppTest through the entry point app.py.

Each step: its title, at most two live controls, one figure drawn by the server, and a warning
for a step out of range; Previous / Next move through the steps and keep the step in the URL.
Small n and R keep the file fast (the steps' own speed is measured by alibi_lsh.classroom.page_timing).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alibi_lsh.app.ui.tour import NUM_STEPS, STEPS, parse_step

from .test_app_pages import report_from_browser

APP = Path(__file__).resolve().parent.parent / "app.py"
SMALL = {"n": "48", "R": "8", "lecture": "1"}
# The tour's own navigation, and lecture mode's switch (in the top bar of every page): not a step's controls.
NAVIGATION_KEYS = {"tour_previous", "tour_next", "p_lecture"}
WIDGETS = ("selectbox", "slider", "select_slider", "number_input", "button", "toggle", "multiselect", "radio")


def open_tour(**params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    for key, value in {**SMALL, **params}.items():
        at.query_params[key] = value
    at.run()
    at.switch_page("pages/lecture.py").run()
    assert not at.exception, at.exception
    return at


def step_controls(at: AppTest) -> list[str]:
    """Keys of the live controls in the main area, the tour's own navigation left out."""
    keys = []
    for kind in WIDGETS:
        keys += [w.key for w in at.main.get(kind) if w.key and w.key not in NAVIGATION_KEYS]
    return keys


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart")) + len(at.get("vega_lite_chart"))


def url_step(at: AppTest) -> str:
    value = at.query_params["step"]
    return value[-1] if isinstance(value, list) else value


def test_parse_step_clamps_with_a_message():
    assert parse_step(None) == (1, None)
    assert parse_step("3") == (3, None)
    assert parse_step(["2", "4"]) == (4, None)
    assert parse_step("99") == (
        NUM_STEPS,
        f"step=99 is above the cap {NUM_STEPS} (the last step); using step={NUM_STEPS}.",
    )
    assert parse_step("0")[0] == 1 and "below the minimum 1" in parse_step("0")[1]
    assert parse_step("x") == (1, "step='x' is not a whole number; using step=1.")


def test_the_story_has_at_least_eight_steps_of_two_or_three_sentences():
    assert NUM_STEPS >= 8
    for step in STEPS:
        assert len(step.controls) <= 2, step.key
        sentences = step.text.count(". ") + step.text.count(": ") + 1
        assert 2 <= sentences <= 4 and len(step.text) < 420, (step.key, step.text)


@pytest.mark.parametrize("index", range(1, NUM_STEPS + 1))
def test_every_step_draws_one_figure_with_at_most_two_controls(index):
    at = open_tour(step=str(index))
    step = STEPS[index - 1]
    assert at.subheader[0].value == f"{index} / {NUM_STEPS} · {step.title}"
    assert not at.error and not at.warning
    # One figure; the bias step's two panels are two charts, so that a phone can stack them.
    assert charts(at) == (2 if step.key == "bias" else 1), f"step {index} draws {charts(at)} figures"
    assert len(step_controls(at)) == len(step.controls) <= 2, step_controls(at)
    assert url_step(at) == str(index)


def test_next_and_previous_move_through_the_steps_and_the_url():
    at = open_tour()
    assert url_step(at) == "1" and at.button(key="tour_previous").disabled
    at.button(key="tour_next").click().run()
    assert at.subheader[0].value.startswith(f"2 / {NUM_STEPS}") and url_step(at) == "2"
    at.button(key="tour_next").click().run()
    assert url_step(at) == "3"
    at.button(key="tour_previous").click().run()
    at.button(key="tour_previous").click().run()
    assert url_step(at) == "1" and at.button(key="tour_previous").disabled


def test_a_bookmark_reopens_the_step_with_its_settings():
    at = open_tour(step="5", R="16")
    live = [json.loads(e.proto.json) for e in at.get("bidi_component")]
    assert len(live) == 1 and live[0]["samples"] == 16  # the live running mean starts at R = 16
    report_from_browser(at, samples=32)  # R dragged in the live figure is the shared R
    assert at.query_params["R"] in ("32", ["32"]) and url_step(at) == "5"
    assert not [w for w in at.main.get("select_slider") if w.key == "p_samples"]  # the figure's R is the only one


def test_a_step_out_of_range_is_clamped_with_a_warning():
    at = open_tour(step="99")
    assert f"step=99 is above the cap {NUM_STEPS}" in at.warning[0].value
    assert at.subheader[0].value.startswith(f"{NUM_STEPS} / {NUM_STEPS}") and url_step(at) == str(NUM_STEPS)
    assert at.button(key="tour_next").disabled


def test_the_mask_steps_resample_and_follow_the_head():
    at = open_tour(step="2")
    title = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"][0]["text"]
    at.button(key="tour_resample").click().run()
    assert at.query_params["seed"] in ("1", ["1"])
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"][0]["text"] != title
    at.selectbox(key="p_head").set_value(1).run()
    assert at.query_params["head"] in ("1", ["1"])


def test_the_timing_step_says_what_the_stored_errors_are():
    """Step 8 puts the stored run's numbers in words: the blocks' relative error at each R drawn
    (median over n, recomputed here from the shipped file) and the context of its timings."""
    from alibi_lsh.app.data.stored_bench import DEFAULT_CASES, shipped_path

    index = next(k for k, step in enumerate(STEPS, 1) if step.key == "scaling")
    assert "2-core" in STEPS[index - 1].text and "standard deviation 2" in STEPS[index - 1].text
    at = open_tour(step=str(index))
    caption = " | ".join(c.value for c in at.main.caption)
    shown = " | ".join(m.value for m in at.main.markdown)  # the errors are said above the chart
    document = json.loads(shipped_path("cpu").read_text())  # the shipped file itself, not the app's frame
    rows = [dict(zip(document["columns"], row)) for row in document["rows"]]
    for case in DEFAULT_CASES:
        if case.startswith("lsh "):
            errors = sorted(row["rel_error"] for row in rows if row["label"] == case and row["rel_error"] is not None)
            middle = len(errors) // 2
            median = errors[middle] if len(errors) % 2 else (errors[middle - 1] + errors[middle]) / 2
            samples = int(case.rsplit("=", 1)[1])
            assert f"{median:.2f} at R = {samples}" in shown, (case, shown)
    assert f"Stored run: {document['machine']}" in caption and "Relative error" not in caption


def test_the_convergence_step_doubles_r_with_a_button():
    """R x 2 (for a remote or a mouse, no dragging) doubles the R drawn, in the figure and the URL,
    up to the cap, where it is disabled."""
    index = next(k for k, step in enumerate(STEPS, 1) if step.key == "convergence")
    at = open_tour(step=str(index), R="16")
    for expected in (32, 64):
        at.button(key="tour_double_samples").click().run()
        live = [json.loads(e.proto.json) for e in at.get("bidi_component")]
        assert live[0]["samples"] == expected and at.query_params["R"] in (str(expected), [str(expected)])
        assert url_step(at) == str(index)
    report_from_browser(at, samples=8)  # a drag in the figure moves R back
    at.button(key="tour_double_samples").click().run()
    assert at.query_params["R"] in ("16", ["16"])
    at = open_tour(step=str(index), R="1024")
    assert at.button(key="tour_double_samples").disabled
