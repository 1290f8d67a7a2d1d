"""The numbers behind the Attention page: random q, k, v and ALiBi attention three ways.

Exact ALiBi weighs key j of query i by exp(score) exp(-m|i-j|); the approximation replaces the
kernel by the mean of R block masks (what ``lsh_alibi_attention`` computes in blocks), the window
baseline drops keys w or more positions away. No Streamlit here; shapes follow torch SDPA
(1, H, n, d).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ... import alibi_attention, lsh_alibi_attention, window_alibi_attention
from ...attention.lsh.draws import DrawsCache
from ...attention.lsh.reference import attention_with_mask_mean
from ...attention.options import AttentionOptions
from ...slopes import alibi_slopes
from .mask_data import mean_of_masks

HEAD_DIM = 64
# The page's block draws are kept in a cache of their own. A model reuses a few entries at every
# step; a class asks for a new seed or R at nearly every rerun, so the library's default budget
# would only fill with entries nobody asks for again. 8 MiB holds a session's recent settings.
PAGE_OPTIONS = AttentionOptions(draws_cache=DrawsCache(budget_bytes=8 * 2**20))


def random_qkv(n: int, heads: int, seed: int, score_scale: float, dim: int = HEAD_DIM):
    """Seeded q, k, v (1, H, n, d) with N(0, 1) entries; q is multiplied by ``score_scale``.

    With the default softmax scale 1/sqrt(d) the logits q.k/sqrt(d) have standard deviation
    ``score_scale``: 0 gives uniform attention (pure ALiBi kernel), larger values peakier rows.
    """
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, heads, n, dim, generator=generator, dtype=torch.float64) for _ in range(3))
    return q.mul_(score_scale), k, v


def head_mask_means(
    n: int, slopes: list[float], samples: int, scheme: str, seed: int, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """M_hat for every head, (H, n, n) of ``dtype`` (float64 by default), from the very partitions
    ``lsh_alibi_attention`` draws.

    Head h of an attention call draws the blocks of global head h (docs/blocks.md), which is what
    ``mask_running_mean(..., head=h)`` draws with the same seed (``mask_data.mean_of_masks``).
    """
    return torch.stack(
        [
            mean_of_masks(n, float(m), samples, scheme, seed, h).to(dtype)
            for h, m in enumerate(torch.as_tensor(slopes, dtype=torch.float64).tolist())
        ]
    )


def _weights(scores: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """normalize(exp(scores) * kernel) over the last dim, stably (scores may hold -inf)."""
    weights = (scores - scores.amax(dim=-1, keepdim=True)).exp_().mul_(kernel)
    return weights.div_(weights.sum(dim=-1, keepdim=True))


@functools.lru_cache(maxsize=4)  # n^2 bools each
def _future(n: int) -> torch.Tensor:
    """True above the diagonal (key j > query i): what a causal row cannot see. Shared, read-only."""
    return torch.ones(n, n, dtype=torch.bool).triu(1)


@dataclass(frozen=True, eq=False)
class AttentionSetup:
    """Inputs ``q, k, v`` (1, H, n, d) float64, ALiBi ``slopes`` (H floats), ``scores`` q.k/sqrt(d)
    (H, n, n) float32 (-inf above the diagonal if ``causal``) and the mask means M_hat (H, n, n) float32."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    slopes: list[float]
    scores: torch.Tensor
    means: torch.Tensor
    causal: bool


def attention_setup(
    n: int, heads: int, samples: int, scheme: str, seed: int, score_scale: float, causal: bool
) -> AttentionSetup:
    """Scores and mask means for the attention page, float32 to keep the H n^2 storage small."""
    q, k, v = random_qkv(n, heads, seed, score_scale)
    slopes = alibi_slopes(heads).tolist()
    scores = (q[0] @ k[0].transpose(-1, -2)).div_(math.sqrt(q.shape[-1]))
    scores = scores.float()
    if causal:
        scores.masked_fill_(_future(n), -math.inf)
    # float32 means straight from the cached ones (the float64 stack was rounded back to them).
    means = head_mask_means(n, slopes, samples, scheme, seed, dtype=torch.float32)
    return AttentionSetup(q=q, k=k, v=v, slopes=slopes, scores=scores, means=means, causal=causal)


def attention_row(setup: AttentionSetup, head: int, query: int, window: int) -> pd.DataFrame:
    """Weights of one query row of one head (0-based) against key position, three ways.

    Columns ``key``, ``exact`` (ALiBi), ``approximate`` (mean of R masks: the weights the LSH
    attention uses), ``window`` (ALiBi truncated to |i-j| < window). Causal rows stop at the query.
    """
    scores = setup.scores[head, query].double()
    n = scores.shape[-1]
    distance = (torch.arange(n, dtype=torch.float64) - query).abs()
    kernel = torch.exp(-setup.slopes[head] * distance)
    exact = _weights(scores, kernel)
    approx = _weights(scores, setup.means[head, query].double())
    windowed = _weights(scores, kernel * (distance < window))
    keys = int(torch.isfinite(scores).sum())  # causal rows: keys 0..query
    return pd.DataFrame(
        {
            "key": np.arange(keys),
            "exact": exact[:keys].numpy(),
            "approximate": approx[:keys].numpy(),
            "window": windowed[:keys].numpy(),
        }
    )


def dense_lsh_output(setup: AttentionSetup) -> torch.Tensor:
    """softmax(q.k/sqrt(d) + log M_hat) V, (1, H, n, d) float64: the library's dense reference
    estimator on the page's own mask means."""
    scale = 1 / math.sqrt(setup.q.shape[-1])
    return attention_with_mask_mean(setup.q, setup.k, setup.v, setup.means, scale, setup.causal)


def _relative_error(estimate: torch.Tensor, exact: torch.Tensor) -> list[float]:
    """||estimate - exact||_F / ||exact||_F per head for (1, H, n, d) outputs."""
    diff = torch.linalg.vector_norm((estimate - exact).double(), dim=(-2, -1))[0]
    return (diff / torch.linalg.vector_norm(exact.double(), dim=(-2, -1))[0]).tolist()


def window_label(window: int | Sequence[int]) -> str:
    """The legend name of a window baseline: one width, or one width per head."""
    if isinstance(window, int):
        return f"window w={window}"
    return f"window per head (w={min(window)}-{max(window)})"


def head_output_errors(setup: AttentionSetup, window: int | Sequence[int], causal: bool) -> pd.DataFrame:
    """Relative output error per head of the approximation and of the window baseline.

    ``window`` is one width for every head or a sequence of H widths (one per head). The
    approximation is computed densely from M_hat (out = normalize(exp(S) * M_hat) V), which is
    the same algebra as the block algorithm; :func:`block_algorithm_check` confirms it.
    Columns ``head``, ``slope``, ``method`` ("LSH, R samples" / "window ..."), ``relative error``.
    """
    v = setup.v
    exact = alibi_attention(setup.q, setup.k, v, setup.slopes, causal=causal)
    dense = dense_lsh_output(setup)
    window_out = window_alibi_attention(
        setup.q, setup.k, v, setup.slopes, window if isinstance(window, int) else list(window), causal=causal
    )
    heads = len(setup.slopes)
    return pd.DataFrame(
        {
            "head": list(range(1, heads + 1)) * 2,
            "slope": setup.slopes * 2,
            "method": ["LSH (mean of R masks)"] * heads + [window_label(window)] * heads,
            "relative error": _relative_error(dense, exact) + _relative_error(window_out, exact),
        }
    )


def window_verdict(errors: pd.DataFrame) -> str:
    """Which of the two has the lower output error on which heads, from ``head_output_errors``'s table."""
    window = errors[errors["method"].str.startswith("window")].set_index("head")["relative error"]
    blocks = errors[~errors["method"].str.startswith("window")].set_index("head")["relative error"]
    wins = [int(h) for h in window.index if window[h] <= blocks[h]]
    losses = [int(h) for h in window.index if window[h] > blocks[h]]
    name = errors[errors["method"].str.startswith("window")]["method"].iloc[0]
    heads = len(window)
    text = f"Here the {name} has the lower error on **{len(wins)} of {heads} heads**"
    if losses:
        text += f"; the random blocks on head{'s' if len(losses) > 1 else ''} {', '.join(map(str, losses))}"
        text += (
            " (flat heads whose kernel reaches past the window's cut)" if not wins or min(losses) > max(wins) else ""
        )
    return text + "."


def block_algorithm_check(setup: AttentionSetup, samples: int, scheme: str, seed: int, causal: bool) -> float:
    """max |block algorithm - dense M_hat attention| over all outputs (float64 inputs)."""
    block = lsh_alibi_attention(
        setup.q, setup.k, setup.v, setup.slopes, samples, causal, scheme, seed, options=PAGE_OPTIONS
    )
    return float((block.double() - dense_lsh_output(setup)).abs().max())


def query_mechanism(setup: AttentionSetup, head: int, query: int, window: int, samples: int) -> pd.DataFrame:
    """How the blocks compute one query's attention, key by key, next to exact ALiBi and a window.

    For query ``query`` of head ``head`` (0-based), with R = ``samples`` masks drawn:
    ``score`` s_ij = q.k/sqrt(d); ``count`` c_ij, the number of the R masks in which i and j share a
    block; ``log_count`` log c_ij (-inf where c_ij = 0: the key is never read); ``alibi_bias``
    -m|i-j|; the weights ``exact`` softmax(s - m|i-j|), ``blocks`` softmax(s + log c_ij) (what one
    attention over the union of the query's R blocks computes; log R cancels in the softmax) and
    ``window`` (ALiBi truncated to |i-j| < window). Causal rows stop at the query.
    """
    scores = setup.scores[head, query].double()
    keys = int(torch.isfinite(scores).sum())
    scores = scores[:keys]
    distance = (torch.arange(keys, dtype=torch.float64) - query).abs()
    slope = setup.slopes[head]
    counts = torch.round(setup.means[head, query, :keys].double() * samples)
    log_counts = torch.log(counts)  # log 0 = -inf: a key outside every block gets weight 0

    def softmax(logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)

    windowed = torch.where(distance < window, -slope * distance, torch.tensor(-math.inf, dtype=torch.float64))
    return pd.DataFrame(
        {
            "key": np.arange(keys),
            "score": scores.numpy(),
            "count": counts.numpy().astype(int),
            "log_count": log_counts.numpy(),
            "alibi_bias": (-slope * distance).numpy(),
            "exact": softmax(scores - slope * distance).numpy(),
            "blocks": softmax(scores + log_counts).numpy(),
            "window": softmax(scores + windowed).numpy(),
        }
    )


def row_output_errors(setup: AttentionSetup, mechanism: pd.DataFrame, head: int) -> dict[str, float]:
    """||o - o_exact|| / ||o_exact|| of the query's output o = sum_j w_j v_j for the blocks and the window."""
    values = setup.v[0, head, : len(mechanism)]
    outputs = {name: torch.tensor(mechanism[name].to_numpy()) @ values for name in ("exact", "blocks", "window")}
    exact = outputs.pop("exact")
    return {name: float((out - exact).norm() / exact.norm()) for name, out in outputs.items()}
