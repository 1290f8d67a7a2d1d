"""The Cost playground page through the entry point app.py, headless with Streamlit's AppTest.

The page starts the browser's playground from the app's shared n, m and R: the component must be
mounted with exactly the values the page says it used, and a URL value the playground cannot take
must give a warning naming the value given and the value used.
"""

from __future__ import annotations

import json

from alibi_lsh.app.live.playground import MAX_N, tail_window
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
    assert "w = 64" in at.caption[0].value


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
