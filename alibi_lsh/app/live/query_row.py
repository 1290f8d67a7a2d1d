"""One query's attention computed in the browser: its scores, the bias of the R blocks, the weights.

A Streamlit custom component (components v2, plain JavaScript, no build step). The browser holds a
small example (q, k, v of n positions, d = 8, standard normals from a seeded Philox stream: the
cost playground's example), draws the blocks of one head with the documented block function
(``blocks.js``: binning, the app's seed, the head's global index) and computes, for ONE query row i,
with the estimator of ``estimator.js``:

- the scores s q_i.k_j / sqrt(d) (s: the score scale; 0 leaves the positional weights alone);
- the bias the blocks add, log(c_ij / R) (c_ij: the number of the R blocks holding i that hold j;
  -inf where none does: the key is not read), against ALiBi's -m|i - j|;
- the weights of exact ALiBi, of the blocks and of a window |i - j| < w, and each method's output
  error ||o_i - o_exact_i|| / ||o_exact_i||.

Every slider (the query row, the score scale, R on a log2 scale, the window, the head) redraws on
the next animation frame; nothing goes back to the server. The browser test checks the numbers
shown against the library on the same q, k, v and the same blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..._checks import check_flag, check_int, check_number
from ...philox import MAX_SEED
from ...slopes import alibi_slopes
from .component import compact_script

COMPONENT_NAME = "alibi_lsh_query_row"
ASSETS = ("blocks.js", "estimator.js", "query_row.js")
HEAD_DIM = 8  # d = d_v of the example (HEAD_DIM in query_row.js)
SCHEME = "binning"  # the blocks' scheme in the browser
# n is small: one row's three softmaxes are cheap at any n, but every key must stay a few pixels
# wide on a projector's 900 px panel and a phone's 350 px one.
MIN_N, MAX_N = 16, 128
MAX_LOG2_SAMPLES = 9  # the R slider: 1, 2, 4, ..., 512
MAX_SCORE_SCALE = 4.0  # the score-scale slider: 0 .. 4 in quarters
MAX_HEADS = 16


@dataclass(frozen=True)
class QueryRowStart:
    """Where the figure's controls start; the reader then moves them in the browser.

    n: positions of the example (MIN_N..MAX_N); heads: ALiBi heads offered (slopes
    alibi_slopes(heads)); head: the head shown, 1-based (its blocks are drawn as global head index
    head - 1); samples: R, a power of two in 1..2^MAX_LOG2_SAMPLES; window: w in 1..n; query: the
    row i in 0..n-1; score_scale: s in [0, MAX_SCORE_SCALE] (0: positional weights alone); seed:
    the blocks' seed (0..2^63 - 1); causal: keys after the query hidden.
    """

    n: int = 96
    heads: int = 8
    head: int = 4
    samples: int = 8
    window: int = 16
    query: int = 48
    score_scale: float = 1.0
    seed: int = 0
    causal: bool = False


def checked_start(start: QueryRowStart) -> QueryRowStart:
    """The start checked against the figure's ranges; ValueError names the argument and the range."""
    n = check_int("n", start.n, minimum=MIN_N, maximum=MAX_N)
    heads = check_int("heads", start.heads, maximum=MAX_HEADS)
    head = check_int("head", start.head, maximum=heads)
    samples = check_int("samples", start.samples, maximum=2**MAX_LOG2_SAMPLES)
    if samples & (samples - 1):
        raise ValueError(f"samples must be a power of two (the R slider's steps), got {samples}")
    window = check_int("window", start.window, maximum=n)
    query = check_int("query", start.query, minimum=0, maximum=n - 1)
    score_scale = check_number("score_scale", start.score_scale, low=0.0, high=MAX_SCORE_SCALE)
    seed = check_int("seed", start.seed, minimum=0, maximum=MAX_SEED)
    causal = check_flag("causal", start.causal)
    return QueryRowStart(n, heads, head, samples, window, query, score_scale, seed, causal)


def component_data(start: QueryRowStart, lecture: bool) -> dict:
    """The JSON the browser receives: where the controls start, the head menu's slopes, the ranges.

    The seed travels as a string (a JavaScript number would round it above 2^53); the slopes are
    the library's float32 values, carried exactly as floats.
    """
    start = checked_start(start)
    data = {
        "n": start.n,
        "head": start.head,
        "slopes": [float(m) for m in alibi_slopes(start.heads)],
        "samples": start.samples,
        "window": start.window,
        "query": start.query,
        "score_scale": start.score_scale,
        "seed": str(start.seed),
        "causal": start.causal,
        "max_log2_samples": MAX_LOG2_SAMPLES,
        "max_score_scale": MAX_SCORE_SCALE,
        "lecture": check_flag("lecture", lecture),
    }
    # The browser starts over from the data only when this changes (not when a rerun resends it).
    data["basis"] = repr(sorted((name, value) for name, value in data.items() if name != "lecture"))
    return data


@cache
def component_source() -> dict[str, str]:
    """The figure's HTML, CSS and JavaScript (blocks.js, estimator.js and query_row.js as one ES
    module, whole-line comments left out)."""
    files = resources.files(__package__)
    return {
        "html": files.joinpath("query_row.html").read_text(encoding="utf-8"),
        "css": files.joinpath("query_row.css").read_text(encoding="utf-8"),
        "js": compact_script("\n".join(files.joinpath(name).read_text(encoding="utf-8") for name in ASSETS)),
    }


@cache
def _mount():
    import streamlit as st

    return st.components.v2.component(COMPONENT_NAME, **component_source(), isolate_styles=False)


def query_row(start: QueryRowStart, *, key: str, lecture: bool = False) -> None:
    """Mount the one-query figure with its controls at ``start`` (see :class:`QueryRowStart`).

    Everything after that happens in the browser; it reports nothing back. ``key`` names this
    instance (unique on the page); ``lecture``: larger text. Raises ValueError naming a setting
    outside the figure's ranges.
    """
    _mount()(key=key, data=component_data(start, lecture))
