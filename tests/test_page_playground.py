"""The Cost playground page through the entry point app.py, headless with Streamlit's AppTest.

The page starts the browser's playground from the app's shared n, m and R: the component must be
mounted with exactly the values the page says it used, and a URL value the playground cannot take
must give a warning naming the value given and the value used.
"""

from __future__ import annotations

import json

import pytest

from alibi_lsh.app.live.playground import (
    MAX_N,
    PlaygroundStart,
    followed_controls,
    reported_start,
    starting_point,
    tail_window,
)
from alibi_lsh.app.ui.controls import Controls
from alibi_lsh.app.ui.tour import STEPS

from .test_app_pages import open_page

PAGE = "pages/playground.py"


def playgrounds(at) -> list[dict]:
    return [
        json.loads(e.proto.json) for e in at.get("bidi_component") if e.proto.component_name.endswith("cost_playground")
    ]


def test_playground_starts_from_the_shared_controls():
    at = open_page(PAGE, n="64", R="8", preset="custom", heads="8", head="4")
    assert at.title[0].value == "Cost playground: when do random blocks pay off?"
    (data,) = playgrounds(at)
    assert (data["n"], data["samples"], data["slope"]) == (64, 8, 1 / 16)
    assert data["window"] == tail_window(1 / 16, 64) == 64  # exp(-m w) <= 1e-3 needs w >= 111 > n
    assert not at.warning and not at.error and not at.exception
    # The URL gets the playground's own settings, so that the address is a bookmark of what is drawn.
    assert (at.query_params["w"], at.query_params["std"], at.query_params["causal"]) == ("64", "1", "0")


def test_values_off_the_sliders_warn_with_the_value_used():
    at = open_page(PAGE, n="1024", R="100")
    (data,) = playgrounds(at)
    assert (data["n"], data["samples"]) == (MAX_N, 99)
    shown = " | ".join(w.value for w in at.warning)
    assert "n = 1024 is not on the playground's n slider" in shown and f"using n = {MAX_N}" in shown
    assert "R = 100" in shown and "using R = 99" in shown


def test_bad_url_values_warn_and_the_page_still_draws():
    at = open_page(PAGE, n="abc", R="-3")
    assert len(playgrounds(at)) == 1
    shown = " | ".join(w.value for w in at.warning)
    assert "abc" in shown and "-3" in shown, shown


def test_the_verdict_step_links_to_the_playground():
    index = next(number for number, step in enumerate(STEPS, start=1) if step.key == "verdict")
    at = open_page("pages/lecture.py", n="48", R="8", step=str(index))
    targets = [link.proto.page for link in at.get("page_link")]
    assert any(target.endswith("playground.py") or target.endswith("playground") for target in targets), targets


def test_the_url_sets_the_window_the_score_std_causal_and_the_seed():
    at = open_page(PAGE, n="64", R="8", w="12", std="4", causal="1", seed="3")
    (data,) = playgrounds(at)
    assert (data["window"], data["score_std"], data["causal"], data["seed"]) == (12, 4, True, "3")
    assert not at.warning and not at.exception


def test_bad_playground_url_values_are_clamped_with_the_value_used():
    at = open_page(PAGE, n="64", R="8", w="1000", std="3", causal="maybe")
    (data,) = playgrounds(at)
    assert (data["window"], data["score_std"], data["causal"]) == (64, 2, False)
    shown = " | ".join(w.value for w in at.warning)
    assert "w = 1000" in shown and "using w = 64" in shown, shown
    assert "score std = 3 is not one of 0, 1, 2, 4; using score std = 2" in shown, shown
    assert "causal = 'maybe' is not 0 or 1; using causal = 0" in shown, shown
    assert (at.query_params["w"], at.query_params["std"], at.query_params["causal"]) == ("64", "2", "0")


@pytest.mark.parametrize(
    ("raw", "used", "message"),
    [
        ("abc", 64, "w = 'abc' is not a number"),  # n = 64, m = 1/16: exp(-m w) <= 1e-3 needs w > n
        ("0", 1, "using w = 1"),
        ("6", 6, None),  # 2^(21/8) = 6.17: a position of the slider
        ("7", 7, None),
        ("100", 64, "using w = 64"),
    ],
)
def test_the_window_from_the_url_is_moved_onto_the_slider(raw, used, message):
    start, notes = starting_point(64, 1 / 16, 8, {"w": raw})
    assert start.window == used
    assert (notes == []) if message is None else any(message in note for note in notes), notes


def test_a_report_of_the_sliders_becomes_the_shared_controls():
    controls = Controls()  # head 4 of 8: m = 1/16
    report = {"n": 128, "slope": 2**-6, "samples": 32, "window": 23, "score_std": 0, "causal": False, "seed": "5"}
    start = reported_start(report)
    assert start == PlaygroundStart(128, 2**-6, 32, 23, 0, False, 5)
    followed = followed_controls(controls, start)
    assert (followed.n, followed.samples, followed.slope_mode, followed.head, followed.seed, followed.preset) == (
        128,
        32,
        "alibi",
        6,
        5,
        "custom",
    )
    # "draw again" alone (the next seed) keeps the preset, as the sidebar's seed does.
    redrawn = followed_controls(controls, PlaygroundStart(256, 1 / 16, 64, 1, seed=1))
    assert (redrawn.seed, redrawn.preset) == (1, controls.preset)
    custom = followed_controls(controls, PlaygroundStart(128, 2**-4.375, 32, 23))
    assert (custom.slope_mode, custom.custom_slope) == ("custom", 0.0481941)
    assert followed_controls(controls, PlaygroundStart(256, 1 / 16, 64, 1)) == controls  # nothing moved


@pytest.mark.parametrize(
    "change",
    [
        {"n": 100},
        {"n": 1024},
        {"samples": 0},
        {"window": 129},
        {"slope": float("nan")},
        {"slope": 8.0},
        {"score_std": 3},
        {"causal": 1},
        {"n": "128"},
        {"n": True},
        {"seed": 1},
        {"seed": "-1"},
        {"seed": "2e3"},
        {"seed": str(2**53)},
    ],
)
def test_a_malformed_report_is_ignored(change):
    report = {"n": 128, "slope": 2**-6, "samples": 32, "window": 23, "score_std": 0, "causal": False, "seed": "0"}
    assert reported_start(report) is not None
    assert reported_start({**report, **change}) is None
    assert reported_start(None) is None and reported_start({"n": 128}) is None
