"""Cached numbers of the Language model page (and the tour's last step): the shipped model, its
stored evaluation, and its losses and attention maps on a visitor's text.

The model is loaded once per process (``st.cache_resource``, read-only: inference only); every
result derived from it is cached per input with a bounded number of entries.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st
import torch

from ...attention.spec import AttentionSpec
from ...lm import load_model
from ...lm.data import encode, eval_windows, load_split
from ...lm.evaluate import RESULTS_DIR, attention_maps, mean_loss, token_losses
from ...lm.figures import attention_error_chart, attention_heatmaps, perplexity_chart, token_loss_chart
from .. import server
from ..figures import style

ON_DEMAND_TOKENS = 1024  # held-out bytes per length for the on-demand perplexity run


@dataclass(frozen=True, eq=False)
class StoredEvaluation:
    """The tables written by ``python -m alibi_lsh.lm eval``: perplexity per variant and length
    (``summary``) and the per-layer error of the attention output (``errors``)."""

    summary: pd.DataFrame
    errors: pd.DataFrame


@st.cache_resource(show_spinner="Loading the language model...")
def model():
    """(model, info) of the shipped weights; FileNotFoundError or ValueError if they are missing."""
    return load_model()


@st.cache_data(max_entries=4, show_spinner=False)
def stored_evaluation() -> StoredEvaluation | None:
    """The evaluation shipped with the model, or None if its tables are missing."""
    try:
        return StoredEvaluation(
            summary=pd.read_csv(RESULTS_DIR / "perplexity.csv"),
            errors=pd.read_csv(RESULTS_DIR / "attention_error.csv"),
        )
    except FileNotFoundError:
        return None


@st.cache_data(max_entries=256, show_spinner=False)
@server.limit_concurrency
def held_out_loss(length: int, kind: str, scheme: str, samples: int, seed: int) -> float:
    """Mean held-out loss (nats/byte) of one attention variant on the on-demand windows."""
    lm, _ = model()
    x, y = eval_windows(load_split("val"), length, max(1, ON_DEMAND_TOKENS // length))
    spec = AttentionSpec(kind) if kind == "exact" else AttentionSpec(kind, scheme, samples, seed)  # exact has no R
    return mean_loss(lm, x, y, spec)


@st.cache_data(max_entries=32, show_spinner=False)
@server.limit_concurrency
def text_losses(text: str, scheme: str, samples: int, seed: int) -> tuple[list[float], list[float]]:
    """Per-byte losses of ``text`` under exact and LSH attention (nats)."""
    lm, _ = model()
    ids = encode(text)
    spec = AttentionSpec("lsh", scheme, samples, seed)
    return token_losses(lm, ids).tolist(), token_losses(lm, ids, spec).tolist()


@st.cache_resource(max_entries=2, show_spinner=False)  # ~8 MB each for the sample text
@server.limit_concurrency
def text_attention(text: str, layer: int, scheme: str, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact and LSH attention weights of one layer (0-based) on ``text``: two (H, n, n) arrays,
    shared read-only (``st.cache_data`` unpickled ~8 MB of them on every rerun)."""
    lm, _ = model()
    exact, approx = attention_maps(lm, encode(text), layer, AttentionSpec("lsh", scheme, samples, seed))
    return exact.numpy(), approx.numpy()


@st.cache_resource(max_entries=4, show_spinner=False)
def _stored_perplexity_spec(font: int) -> dict | None:
    evaluation = stored_evaluation()
    if evaluation is None:
        return None
    return style(perplexity_chart(evaluation.summary), font).to_dict()


def stored_perplexity_spec(font: int) -> dict | None:
    """The Vega-Lite dict of the stored perplexity chart (built once per font: altair takes ~0.1 s),
    a private copy for each caller; None if the evaluation tables are missing."""
    spec = _stored_perplexity_spec(font)
    return None if spec is None else copy.deepcopy(spec)


@st.cache_resource(max_entries=16, show_spinner=False)
def attention_figure(text: str, layer: int, head: int, scheme: str, samples: int, seed: int, font: int):
    """The attention heatmaps of one head (1-based) of one layer (1-based), built once per input
    (plotly's subplots and validation take tens of ms); shared read-only."""
    exact, approx = text_attention(text, layer - 1, scheme, samples, seed)
    return attention_heatmaps(
        torch.from_numpy(exact[head - 1]),
        torch.from_numpy(approx[head - 1]),
        f"LSH {scheme} R={samples}",
        title=f"Layer {layer}, head {head}: attention weights on the exact model's q and k",
        font_size=font,
    )


@st.cache_data(max_entries=16, show_spinner=False)
def token_loss_spec(text: str, scheme: str, samples: int, seed: int, font: int) -> dict:
    """The Vega-Lite dict of the per-byte loss chart of ``text`` (altair builds and validates a chart
    in tens of ms; a cached dict is copied in well under one)."""
    exact, approx = text_losses(text, scheme, samples, seed)
    predicted = [chr(b) if 32 <= b < 127 else repr(bytes([b]))[2:-1] for b in text.encode("utf-8")[1:]]
    chart = token_loss_chart(predicted, torch.tensor(exact), torch.tensor(approx), f"LSH {scheme} R={samples}")
    return style(chart, font).to_dict()


@st.cache_data(max_entries=4, show_spinner=False)
def attention_error_spec(font: int) -> dict | None:
    """The Vega-Lite dict of the stored per-layer attention-error chart, per font."""
    evaluation = stored_evaluation()
    return None if evaluation is None else style(attention_error_chart(evaluation.errors), font).to_dict()


@st.cache_data(max_entries=1, show_spinner=False)
def stored_gap_table() -> pd.DataFrame | None:
    """Perplexity gap to exact attention (percent) of the stored evaluation: one row per variant,
    one column per context length; None if the evaluation tables are missing."""
    evaluation = stored_evaluation()
    if evaluation is None:
        return None
    summary = evaluation.summary
    gap = summary[summary.method != "exact"]
    gap = gap.assign(
        variant=gap.apply(lambda r: f"{r.scheme} R={r.R}" if r.method == "lsh" else f"window {r.window}", axis=1)
    )
    return gap.pivot_table(index="variant", columns="length", values="gap_pct", sort=False).round(2)


def drop_array_caches() -> None:
    """Empty the caches of attention maps and figures of pasted text (the model stays)."""
    for cached in (text_attention, attention_figure):
        cached.clear()


server.on_idle(drop_array_caches)
