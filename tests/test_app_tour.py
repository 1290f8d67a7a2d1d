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


PREDICTION_PREFIXES = ("guess_", "reveal_")  # a step's question: its guess and its Reveal button
PREDICTION_STEPS = {"convergence": "shrink", "attention": "window_head", "one_query": "equal_keys", "verdict": "race"}


def _widget_keys(at: AppTest) -> list[str]:
    keys = []
    for kind in WIDGETS:
        keys += [w.key for w in at.main.get(kind) if w.key and w.key not in NAVIGATION_KEYS]
    return keys


def step_controls(at: AppTest) -> list[str]:
    """Keys of the live controls in the main area, the tour's navigation and the step's question left out."""
    return [key for key in _widget_keys(at) if not key.startswith(PREDICTION_PREFIXES)]


def prediction_keys(at: AppTest) -> list[str]:
    return sorted(key for key in _widget_keys(at) if key.startswith(PREDICTION_PREFIXES))


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
    # One figure; a figure of two panels (bias and kernel, error against R, time and error, the
    # verdict) is two charts in two columns, so that a phone can stack them. A chart a phone would
    # squeeze is drawn twice, one hidden by the screen's width: the panel with the legend (at the
    # right on a projector, under the plot on a phone), the two heatmaps (colour bar beside or
    # above). The convergence step's figure is the live one: its chart of the error against r
    # answers the step's question, so it is drawn once the answer is revealed. The one-query step
    # is a live figure alone, computed and drawn in the browser.
    drawn = {"bias": 4, "error": 3, "scaling": 3, "verdict": 3, "convergence": 0, "one_query": 0}
    assert charts(at) == drawn.get(step.key, 1), f"step {index} draws {charts(at)} figures"
    if step.key == "one_query":
        assert len(at.get("bidi_component")) == 1
    assert len(step_controls(at)) == len(step.controls) <= 2, step_controls(at)
    question = PREDICTION_STEPS.get(step.key)
    assert prediction_keys(at) == ([f"guess_{question}", f"reveal_{question}"] if question else [])
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
    """The timing step puts the stored run's numbers in words: the blocks' relative error at each R
    drawn (median over n, recomputed here from the shipped file) and the context of its timings."""
    from alibi_lsh.app.data.stored_bench import DEFAULT_CASES, shipped_path

    index = next(k for k, step in enumerate(STEPS, 1) if step.key == "scaling")
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
    # The scores' spread is read from the run's command (no --score-std there: the bench's default).
    assert "--score-std" not in document["command"] and "random scores with standard deviation 2." in caption


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


def _index(key: str) -> int:
    return next(k for k, step in enumerate(STEPS, 1) if step.key == key)


def _revealed(at: AppTest) -> str:
    return " | ".join(box.value for box in (*at.main.success, *at.main.info))


@pytest.mark.parametrize("key", sorted(PREDICTION_STEPS))
def test_every_question_hides_its_answer_until_a_guess_is_revealed(key):
    """The guess is recorded (the radio's value), Reveal is off until there is one, the answer shows only
    after the click and names the guess; a new guess hides the answer again."""
    question = PREDICTION_STEPS[key]
    at = open_tour(step=str(_index(key)))
    assert at.button(key=f"reveal_{question}").disabled and not _revealed(at)
    options = at.radio(key=f"guess_{question}").options
    at.radio(key=f"guess_{question}").set_value(options[0]).run()
    assert at.session_state[f"guess_{question}"] == options[0]
    assert not _revealed(at) and not at.button(key=f"reveal_{question}").disabled
    at.button(key=f"reveal_{question}").click().run()
    assert not at.exception, at.exception
    shown = _revealed(at)
    assert shown.startswith("Right.") or f"You guessed {options[0]!r}" in shown, shown
    at.radio(key=f"guess_{question}").set_value(options[1]).run()
    assert not _revealed(at)


def _reveal(at: AppTest, question: str) -> str:
    guess = at.radio(key=f"guess_{question}")
    guess.set_value(guess.options[0]).run()
    at.button(key=f"reveal_{question}").click().run()
    return _revealed(at)


def test_the_shrink_question_answers_with_the_measured_ratio():
    """R x 4: the answer is the choice nearest (log scale) to error(R) / error(4R) of the very masks,
    here recomputed from the library's running means (relative Frobenius error, mean over seeds 0-7)."""
    import math

    import torch

    from alibi_lsh.app.data.mask_data import mask_running_mean

    at = open_tour(step=str(_index("convergence")), R="8")
    live = json.loads(at.get("bidi_component")[0].proto.json)
    n, slope, head = live["n"], live["slope"], live["head"]
    assert charts(at) == 0  # the chart of the error against r would answer the question
    shown = _reveal(at, "shrink")
    assert charts(at) == 1
    distance = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs().double()
    kernel = torch.exp(-slope * distance)
    errors = {8: [], 32: []}
    for seed in range(8):
        means, _ = mask_running_mean(n, slope, 32, "binning", seed, checkpoints=[8, 32], head=head)
        for r, mean in zip((8, 32), means):
            errors[r].append(float((mean.double() - kernel).norm() / kernel.norm()))
    before, after = (sum(errors[r]) / 8 for r in (8, 32))
    assert f"{before:.3f} at R = 8, {after:.3f} at R = 32, {before / after:.2f}x smaller" in shown, shown
    choices = {"it stays the same": 1, "about 2x smaller": 2, "about 4x smaller": 4, "about 16x smaller": 16}
    nearest = min(choices, key=lambda c: abs(math.log(choices[c]) - math.log(before / after)))
    assert shown.startswith("Right.") or f"the answer is {nearest!r}" in shown, shown


def test_the_window_question_names_the_head_with_the_largest_window_error():
    """Which head fails under a window of 32: recomputed with window_alibi_attention against exact
    attention on the page's own q, k, v (score scale 1)."""
    from alibi_lsh import alibi_attention, window_alibi_attention
    from alibi_lsh.app.data.attention_data import random_qkv
    from alibi_lsh.slopes import alibi_slopes

    at = open_tour(step=str(_index("attention")), n="64")
    shown = _reveal(at, "window_head")
    q, k, v = random_qkv(64, 8, 0, 1.0)
    slopes = alibi_slopes(8).tolist()
    exact = alibi_attention(q, k, v, slopes, causal=True)
    window = window_alibi_attention(q, k, v, slopes, 32, causal=True)
    errors = [float((window[0, h] - exact[0, h]).norm() / exact[0, h].norm()) for h in range(8)]
    worst = max(range(8), key=errors.__getitem__) + 1
    assert f"head {worst}'s kernel" in shown and f"its output error is {errors[worst - 1]:.3f}" in shown, shown


def test_page_timing_reads_the_tour_length_from_the_page_it_times():
    # The classroom tooling imports nothing from the app's UI: it learns the number of steps
    # from the heading the lecture page shows, as a visitor would.
    from alibi_lsh.classroom.page_timing import time_tour_step

    timing = time_tour_step(Path(__file__).resolve().parents[1] / "app.py", 1, 1)
    assert timing["heading"].startswith(f"1 / {NUM_STEPS} · {STEPS[0].title}")
    assert timing["cold"] > 0 and timing["warm"] > 0


def test_side_by_side_panels_stand_alone_with_one_legend():
    """Each panel of the benchmark's two-panel chart becomes a view of its own, as wide as its
    place, with the data and style of the whole; only the last one draws the legend."""
    import pandas as pd

    from alibi_lsh.app import figures

    frame = pd.DataFrame(
        {
            "n": [256, 512],
            "label": ["window", "window"],
            "status": ["ok", "ok"],
            "time_ms": [1.0, 2.0],
            "rel_error": [1e-2, 2e-2],
            "peak_mem_mb": [1.0, 1.0],
        }
    )
    whole = figures.spec_with_data(
        figures.scaling_layout(("window",), 18).to_dict(validate=False), figures.scaling_tables(frame, ("window",))
    )
    panels = figures.side_by_side_panels(whole)
    assert [panel["title"] for panel in panels] == [view["title"] for view in whole["hconcat"]]
    assert all(panel["width"] == "container" and "hconcat" not in panel for panel in panels)
    assert all(panel["datasets"]["bench"] is not None and panel["config"]["axis"] for panel in panels)
    assert [panel["config"].get("legend", {}).get("disable", False) for panel in panels] == [True, False]
    assert figures.side_by_side_panels(panels[0]) == [panels[0]]  # a single view stays as it is


def test_the_equal_keys_question_compares_the_library_errors_at_equal_keys():
    """For the figure's query, a window that reads as many keys as the blocks: the answer names the
    method with the smaller output error, both errors recomputed here from the library on the
    figure's example and the blocks' union from sample_partitions."""
    import math

    import torch

    from alibi_lsh import alibi_attention, lsh_alibi_attention_reference, window_alibi_attention
    from alibi_lsh.app.live.query_row import QueryRowStart, example_tensors
    from alibi_lsh.masks import sample_partitions
    from alibi_lsh.slopes import alibi_slopes

    at = open_tour(step=str(_index("one_query")))
    live = json.loads(at.get("bidi_component")[0].proto.json)
    start = QueryRowStart()
    assert (live["n"], live["query"], live["samples"], live["head"]) == (start.n, start.query, start.samples, 4)
    n, i, samples, slope = start.n, start.query, start.samples, float(alibi_slopes(8)[3])
    mask = torch.zeros(n, dtype=torch.bool)
    for partition in sample_partitions(n, slope, samples, "binning", 0, head=3):
        block = torch.searchsorted(partition.starts, torch.tensor([i]), right=True) - 1
        ends = torch.cat([partition.starts[1:], torch.tensor([n])])
        mask[partition.starts[block] : ends[block]] = True
    keys = int(mask.sum())
    window = next(w for w in range(1, n + 1) if min(n, i + w) - max(0, i - w + 1) >= keys)
    q, k, v = (x.reshape(1, 1, n, -1) for x in example_tensors(n))
    scale = start.score_scale / math.sqrt(q.shape[-1])
    exact = alibi_attention(q, k, v, [slope], False, scale)[0, 0, i]
    blocks = lsh_alibi_attention_reference(q, k, v, [slope], samples, False, "binning", 0, scale, head_offset=3)
    windowed = window_alibi_attention(q, k, v, [slope], window, False, scale=scale)
    errors = [float((out[0, 0, i] - exact).norm() / exact.norm()) for out in (blocks, windowed)]
    question = at.radio(key="guess_equal_keys").label
    assert f"blocks read {keys} keys; a window of w = {window} reads" in question, question
    shown = _reveal(at, "equal_keys")
    assert f"{keys} keys for an output error of {errors[0]:.3g}" in shown, shown
    assert f"w = {window} reads" in shown and f"for {errors[1]:.3g}." in shown, shown
    winner = "the window" if 1.25 * errors[1] < errors[0] else "the blocks" if 1.25 * errors[0] < errors[1] else None
    assert winner is not None  # on the default settings the two differ by far more than the tie's margin
    assert shown.startswith("Right.") or f"the answer is {winner!r}" in shown, shown
