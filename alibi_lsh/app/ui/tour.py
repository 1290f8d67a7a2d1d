"""The guided tour (the Lecture page): the story of the project in steps, as plain data.

Each step has a title, two or three sentences, at most two live controls and one figure (drawn by
:mod:`alibi_lsh.app.ui.tour_steps`, from the same cached builders the pages use). The step is the URL
parameter ``step`` (1..N) next to the shared controls, so a bookmark reopens the exact slide.
"""

from __future__ import annotations

from dataclasses import dataclass

from .controls import clamp_int


@dataclass(frozen=True)
class Step:
    """One slide of the tour. ``controls`` names its live controls (at most two: shared controls, or
    the tour's buttons "seed" (draw another) and "double_samples" (R x 2)); ``page`` is the app page
    that tells the same part of the story at length."""

    key: str
    title: str
    text: str
    controls: tuple[str, ...]
    page: str


STEPS = (
    Step(
        "bias",
        "ALiBi's bias and its kernel",
        "ALiBi adds **-m|i-j|** to the score of query i and key j: the further apart, the larger the penalty, "
        "with one slope m per head. After the softmax, adding -m|i-j| is the same as multiplying the attention "
        "weight by **exp(-m|i-j|)**, the ALiBi kernel on the right.",
        ("head", "n"),
        "pages/overview.py",
    ),
    Step(
        "binning",
        "One random block mask: binning",
        "Cut the positions into blocks of one random width W, shifted by a random s. The mask is 1 where "
        "i and j share a block: dark squares along the diagonal. Two positions far apart rarely share one.",
        ("head", "seed"),
        "pages/masks.py",
    ),
    Step(
        "cuts",
        "One random block mask: cuts",
        "Or cut every gap between neighbours independently, with probability 1 - exp(-m). Positions d apart "
        "share a block only if none of the d gaps between them is cut: probability **exp(-m)^d = exp(-m d)**, "
        "exactly the kernel.",
        ("head", "seed"),
        "pages/masks.py",
    ),
    Step(
        "triangles",
        "Why a random width gives exp(-m d)",
        "With a fixed width W and a uniform shift, positions d apart share a block with probability "
        "(1 - d/W)+, a triangle. Mixing triangles with the width law **pi(W) = W q^(W-1) (1-q)^2**, q = exp(-m), "
        "gives exactly q^d = exp(-m d): the dashed mixture lies on the formula, and the mean of R sampled "
        "masks (dots) scatters around it.",
        ("head", "samples"),
        "pages/theory.py",
    ),
    Step(
        "convergence",
        "The mean of R masks converges to the kernel",
        "Drag **R** in the figure, or press **R × 2**: the mean of the first R masks fills in towards the kernel "
        "and the error fades. Each entry of the mean is an average of R coin flips: how fast does its error fade? "
        "Guess under the figure, then reveal the chart of these very masks.",
        ("double_samples",),  # R itself is the live figure's slider (the shared R): one R control on the slide
        "pages/convergence.py",
    ),
    Step(
        "error",
        "Error against R: the 1/sqrt(R) law",
        "On log-log axes, 'shrinks like 1/sqrt(R)' is a straight line of slope -1/2 (dashed). All three "
        "samplers follow it (lines: mean over 3 seeds, bands: min to max); the dotted line is the bound that "
        "holds with probability 95%.",
        ("samples", "head"),
        "pages/convergence.py",
    ),
    Step(
        "attention",
        "Attention: the kernel, its estimate and a window's cut",
        "With the scores switched off (scale 0), one query's weights are the positional kernel alone: exact ALiBi, "
        "the mean of R block masks (what R ordinary attentions in short blocks compute together) and a window of "
        "w = 32 keys, on a log axis. The window keeps the kernel exactly up to its cut and drops the tail; the "
        "blocks reach further, as far as the query's blocks do, with noise.",
        ("head", "samples"),
        "pages/attention.py",
    ),
    Step(
        "one_query",
        "How the blocks compute one query",
        "Query i's weights are the softmax of its **scores** (top) plus a **bias** (middle): ALiBi's -m|i-j|, or "
        "the blocks' log(c_ij/R), where c_ij counts the R blocks holding i that also hold j; keys outside their "
        "union are not read. Below, the weights of exact ALiBi, the blocks and a window, with each one's output "
        "error. Predict first, then drag w until the window reads as many keys as the blocks.",
        (),
        "pages/attention.py",
    ),
    Step(
        "scaling",
        "Time as n grows: both linear, the window far more accurate",
        "Exact attention with a dense bias takes time like n^2 (slope 2 on log-log axes); the window and the random "
        "blocks take time like n. The sentences with the chart read the stored run's errors and times; where "
        "and on what scores it was measured is under the chart.",
        (),
        "pages/scaling.py",
    ),
    Step(
        "language_model",
        "Perplexity: a window of 64 keeps it, the blocks do not",
        "A small byte-level ALiBi model, trained on Python sources, run with exact attention, with a window and "
        "with R random block partitions per head. The perplexity gaps with the chart are read from its stored "
        "evaluation, at the training length and at 4x and 8x of it.",
        (),
        "pages/language_model.py",
    ),
    Step(
        "verdict",
        "When do random blocks pay off?",
        "Both are cheap, so compare them where it matters: error against time (left) and against the keys each "
        "query reads (right), measured on one CPU with the same inputs; lower and further left is better.",
        (),
        "pages/scaling.py",
    ),
)
NUM_STEPS = len(STEPS)


def parse_step(raw: object) -> tuple[int, str | None]:
    """The step number (1..N) from the URL value ``raw`` (None: step 1), clamped with a message."""
    if raw is None:
        return 1, None
    if isinstance(raw, list):
        raw = raw[-1]
    return clamp_int("step", raw, 1, NUM_STEPS, 1, why="the last step")
