"""Predict, then reveal: a tour step asks first, records the student's guess, and answers on a click.

The guess is a choice kept in session state (``guess_<key>``); the answer is computed by the step
from the numbers it draws, only when "Reveal" is pressed, and compared with the guess. Changing the
guess hides the answer again, so a class can vote, then reveal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

GUESS = "guess_{}"
REVEALED = "revealed_{}"


@dataclass(frozen=True)
class Answer:
    """The right choice (one of the options) and the sentence that explains it with live numbers."""

    choice: str
    explanation: str


def _hide(key: str) -> None:
    st.session_state[REVEALED.format(key)] = False


def _reveal(key: str) -> None:
    st.session_state[REVEALED.format(key)] = True


def is_revealed(key: str) -> bool:
    return bool(st.session_state.get(REVEALED.format(key))) and st.session_state.get(GUESS.format(key)) is not None


def ask(
    key: str, question: str, options: Sequence[str], answer: Callable[[], Answer], place=None, narrow: bool = False
) -> str | None:
    """The question with its choices and a Reveal button; after the click, the answer against the guess.

    ``answer`` is called only once revealed; ``place`` is the container to draw in (None: where the
    page is), ``narrow`` puts the button under the choices (a side column). Returns the guess (None
    until one is chosen).
    """
    with place if place is not None else st.container():
        return _ask(key, question, options, answer, narrow)


def _ask(key: str, question: str, options: Sequence[str], answer: Callable[[], Answer], narrow: bool) -> str | None:
    left, right = (st.container(), st.container()) if narrow else st.columns([5, 1], vertical_alignment="bottom")
    guess = left.radio(
        f"**Predict first:** {question}",
        list(options),
        index=None,
        key=GUESS.format(key),
        horizontal=True,
        on_change=_hide,
        args=(key,),
    )
    right.button(
        "Reveal",
        key=f"reveal_{key}",
        on_click=_reveal,
        args=(key,),
        disabled=guess is None,
        icon=":material/visibility:",
        help="Choose a guess first; the answer is then computed from this step's own data.",
        width="stretch",
    )
    if is_revealed(key):
        result = answer()
        verdict = "Right" if guess == result.choice else f"You guessed {guess!r}; the answer is {result.choice!r}"
        (st.success if guess == result.choice else st.info)(f"{verdict}. {result.explanation}")
    return guess
