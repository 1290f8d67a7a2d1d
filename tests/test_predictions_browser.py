"""Predict, then reveal, in headless Chromium: every prediction step of the tour hides its answer
until a guess is chosen and Reveal is clicked, then shows it, and a new guess hides it again.

The steps are found by their keys in the tour (their numbers change as steps are added). The
answer each step must show is computed here with the same functions on the same settings (the
URL's n = 64, R = 8, head 4 of 8, binning, seed 0), and only its choice is compared: the sentences
around it carry numbers that other tests check.
"""

from __future__ import annotations

import pytest

from alibi_lsh.app.data import verdict
from alibi_lsh.app.ui import tour_steps
from alibi_lsh.app.ui.controls import Controls
from alibi_lsh.app.ui.tour import STEPS

from .browser_support import WatchedBrowser, chromium_browser, require_chromium, streamlit_server, wait_until_idle

require_chromium()

QUERY = "n=64&R=8&heads=8&head=4&scheme=binning&seed=0"
CONTROLS = Controls(n=64, samples=8, heads=8, head=4, scheme="binning", seed=0)


def _answer(key: str) -> str:
    """The choice the step's answer names, computed as the step computes it."""
    if key == "shrink":
        base = tour_steps._shrink_base(CONTROLS.samples)
        return tour_steps.shrink_answer(CONTROLS.n, CONTROLS.slope, base, "binning", CONTROLS.head_index).choice
    if key == "window_head":
        heads = min(CONTROLS.heads, tour_steps.ATTENTION_MAX_HEADS)
        window = min(CONTROLS.n, tour_steps.ATTENTION_WINDOW)
        return tour_steps.window_head_answer(CONTROLS, heads, window).choice
    return tour_steps.race_answer(verdict.load()).choice


# (question key, the tour step that asks it, a text only the revealed answer shows beside the verdict)
QUESTIONS = [("shrink", "convergence", None), ("window_head", "attention", None), ("race", "verdict", "best error is")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with streamlit_server("app.py", tmp_path_factory.mktemp("predictions_server")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield WatchedBrowser(chromium)


def _answers_shown(page) -> list[str]:
    """The texts of the answer boxes on the page ("Right. ..." or "You guessed ..."), leaving out the
    copies of the last run that Streamlit keeps, faded, while a rerun draws the page again."""
    boxes = page.locator("[data-testid='stElementContainer']:not([data-stale='true']) [data-testid='stAlert']")
    texts = [boxes.nth(i).inner_text() for i in range(boxes.count())]
    return [text for text in texts if text.startswith("Right.") or text.startswith("You guessed")]


@pytest.mark.parametrize(("key", "step_key", "verdict_text"), QUESTIONS, ids=[q[0] for q in QUESTIONS])
def test_a_prediction_step_hides_its_answer_until_a_guess_and_reveal(browser, server, key, step_key, verdict_text):
    index = next(number for number, step in enumerate(STEPS, 1) if step.key == step_key)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server}/lecture?step={index}&{QUERY}", wait_until="domcontentloaded")
    question = page.locator(f".st-key-guess_{key}")
    question.wait_for(timeout=90_000)
    wait_until_idle(page)
    # (the button with its help tooltip is in the page twice, one copy hidden)
    reveal = page.locator(f".st-key-reveal_{key} button:visible")
    assert reveal.is_disabled(), "Reveal must wait for a guess"
    assert _answers_shown(page) == []
    if verdict_text:
        assert verdict_text not in page.locator("[data-testid='stMain']").inner_text()

    options = question.locator("[data-testid='stRadioOption']")
    choices = [options.nth(i).inner_text().strip() for i in range(options.count())]
    answer = _answer(key)
    assert answer in choices, (answer, choices)
    guess = next(choice for choice in choices if choice != answer)  # a wrong guess: the answer names the right one
    options.nth(choices.index(guess)).click()
    page.wait_for_function(
        f"() => [...document.querySelectorAll('.st-key-reveal_{key} button')].every((b) => !b.disabled)", timeout=30_000
    )
    wait_until_idle(page)
    assert _answers_shown(page) == [], "choosing a guess must not show the answer"

    reveal.click()
    page.locator("[data-testid='stAlert']", has_text="You guessed").wait_for(timeout=60_000)
    wait_until_idle(page)
    (shown,) = _answers_shown(page)
    assert shown.startswith(f"You guessed '{guess}'; the answer is '{answer}'."), shown
    if verdict_text:
        assert verdict_text in page.locator("[data-testid='stMain']").inner_text()

    # A new guess hides the answer again (a class votes again, then reveals).
    options.nth(choices.index(answer)).click()
    page.wait_for_function(
        "() => ![...document.querySelectorAll(\"[data-testid='stAlert']\")]"
        ".some((box) => box.innerText.startsWith('You guessed'))",
        timeout=30_000,
    )
    wait_until_idle(page)
    assert _answers_shown(page) == []
    reveal.click()
    page.locator("[data-testid='stAlert']", has_text="Right.").wait_for(timeout=60_000)
    assert _answers_shown(page)[0].startswith("Right.")
    page.close()
    assert browser.foreign_requests(server) == []
