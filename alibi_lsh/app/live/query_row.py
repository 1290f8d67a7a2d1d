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

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from ..._checks import check_flag, check_int, check_number
from ...attention.exact import alibi_attention
from ...attention.lsh.reference import lsh_alibi_attention_reference
from ...attention.window import window_alibi_attention
from ...masks import sample_partitions
from ...philox import MAX_SEED, counters, philox4x32, seed_key, uniform53
from ...slopes import alibi_slopes
from .component import bundle, register

COMPONENT_NAME = "alibi_lsh_query_row"
ASSETS = ("blocks.js", "estimator.js", "canvas.js", "query_row.js")
HEAD_DIM = 8  # d = d_v of the example (HEAD_DIM in query_row.js)
EXAMPLE_SEED = 0  # the example's seed and Philox stream (exampleTensors in estimator.js)
EXAMPLE_STREAM = 7
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


def example_tensors(n: int, head_dim: int = HEAD_DIM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The browser's example q, k, v (exampleTensors in estimator.js), float64 (n, head_dim) each.

    Standard normals by Box-Muller from Philox counters (EXAMPLE_STREAM, tensor, pair, 0) under
    EXAMPLE_SEED, in the browser's order of operations (so equal up to the last bit of log, cos
    and sin). Raises ValueError for n or head_dim < 1.
    """
    n = check_int("n", n)
    head_dim = check_int("head_dim", head_dim)
    size = n * head_dim
    pairs = np.arange((size + 1) // 2)
    tensors = []
    for tensor in range(3):
        words = philox4x32(counters(EXAMPLE_STREAM, tensor, pairs, 0), seed_key(EXAMPLE_SEED))
        u1 = 1 - uniform53(words[:, 0], words[:, 1])  # in (0, 1]
        u2 = uniform53(words[:, 2], words[:, 3])
        radius = np.sqrt(-2 * np.log(u1))
        values = np.stack([radius * np.cos(2 * math.pi * u2), radius * np.sin(2 * math.pi * u2)], -1)
        tensors.append(torch.from_numpy(values.reshape(-1)[:size].copy()).reshape(n, head_dim))
    return tensors[0], tensors[1], tensors[2]


@dataclass(frozen=True)
class RowErrors:
    """Keys read and output errors ||o_i - o_exact_i|| / ||o_exact_i|| of one query row."""

    blocks_keys: int
    blocks_error: float
    window: int
    window_keys: int
    window_error: float


def window_keys(n: int, query: int, window: int, causal: bool) -> int:
    """The keys |i - j| < w (j <= i when causal) of query i among n."""
    return min(n if not causal else query + 1, query + window) - max(0, query - window + 1)


def union_keys(start: QueryRowStart) -> int:
    """The keys the blocks read for the start's query: the union of its R blocks (one run of keys,
    since every block holds the query), up to the query when causal."""
    start = checked_start(start)
    slope = float(alibi_slopes(start.heads)[start.head - 1])
    partitions = sample_partitions(start.n, slope, start.samples, SCHEME, start.seed, head=start.head - 1)
    first, last = start.query, start.query + 1
    for partition in partitions:
        starts = partition.starts.tolist() + [start.n]
        block = max(b for b in range(len(starts) - 1) if starts[b] <= start.query)
        first, last = min(first, starts[block]), max(last, starts[block + 1])
    return (start.query + 1 if start.causal else last) - first


def row_errors(start: QueryRowStart, window: int) -> RowErrors:
    """The output errors of the blocks and of a window ``window`` for the start's query row, from
    the library on the browser's example and blocks (what the figure shows for these settings)."""
    start = checked_start(start)
    window = check_int("window", window, maximum=start.n)
    slope = float(alibi_slopes(start.heads)[start.head - 1])
    q, k, v = (x.reshape(1, 1, start.n, HEAD_DIM) for x in example_tensors(start.n))
    scale = start.score_scale / math.sqrt(HEAD_DIM)
    if scale == 0:  # the library takes scale > 0 only: zero queries give the positional weights alone
        q, scale = torch.zeros_like(q), 1.0
    exact = alibi_attention(q, k, v, [slope], start.causal, scale)[0, 0, start.query]
    blocks = lsh_alibi_attention_reference(
        q, k, v, [slope], start.samples, start.causal, SCHEME, start.seed, scale, head_offset=start.head - 1
    )[0, 0, start.query]
    windowed = window_alibi_attention(q, k, v, [slope], window, start.causal, scale=scale)[0, 0, start.query]
    return RowErrors(
        blocks_keys=union_keys(start),
        blocks_error=float((blocks - exact).norm() / exact.norm()),
        window=window,
        window_keys=window_keys(start.n, start.query, window, start.causal),
        window_error=float((windowed - exact).norm() / exact.norm()),
    )


def equal_keys_window(start: QueryRowStart) -> int:
    """The smallest window that reads at least as many keys as the blocks do for the start's query."""
    start = checked_start(start)
    keys = union_keys(start)
    return next(w for w in range(1, start.n + 1) if window_keys(start.n, start.query, w, start.causal) >= keys)


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
    """The figure's HTML, CSS and JavaScript (:data:`ASSETS`, blocks.js to query_row.js, as one ES
    module, whole-line comments left out)."""
    return bundle("query_row", ASSETS)


@cache
def _mount():
    return register(COMPONENT_NAME, component_source())


def query_row(start: QueryRowStart, *, key: str, lecture: bool = False) -> None:
    """Mount the one-query figure with its controls at ``start`` (see :class:`QueryRowStart`).

    Everything after that happens in the browser; it reports nothing back. ``key`` names this
    instance (unique on the page); ``lecture``: larger text. Raises ValueError naming a setting
    outside the figure's ranges.
    """
    _mount()(key=key, data=component_data(start, lecture))
