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
        "and the error fades. Each entry of the mean is an average of R coin flips, so it is off by about "
        "1/sqrt(R), as the chart of these very masks shows.",
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
        "Attention: exact, R short attentions, a window",
        "The weights one query puts on each key: exact ALiBi, the mean of R masks (what R ordinary "
        "attentions inside the short blocks compute together) and a window of width w = E[W]. The window "
        "cuts the tail off; the random blocks sometimes reach far.",
        ("head", "samples"),
        "pages/attention.py",
    ),
    Step(
        "scaling",
        "Time and error as n grows",
        "Exact attention with a dense bias takes time like n^2 (slope 2 on log-log axes); the random blocks and "
        "the window take time like n. These are stored timings from a shared 2-core CPU, noisy at small n (where "
        "the window can trail the blocks). The error depends on R, not on n; it is large at small R because the "
        "benchmark's random scores have standard deviation 2, so a few keys dominate each softmax.",
        (),
        "pages/scaling.py",
    ),
    Step(
        "language_model",
        "A trained language model keeps its perplexity",
        "A small byte-level ALiBi model, trained on Python sources, run with exact attention (black) and with "
        "R random block partitions per head. Its perplexity approaches exact ALiBi's as R grows, also at 4x "
        "and 8x the training length.",
        (),
        "pages/language_model.py",
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
