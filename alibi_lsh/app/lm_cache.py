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

from ..lm import AttentionSpec, load_model
from ..lm.data import encode, eval_windows, load_split
from ..lm.evaluate import RESULTS_DIR, attention_maps, mean_loss, token_losses
from ..lm.figures import perplexity_chart
from .figures import style

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
def held_out_loss(length: int, kind: str, scheme: str, samples: int, seed: int) -> float:
    """Mean held-out loss (nats/byte) of one attention variant on the on-demand windows."""
    lm, _ = model()
    x, y = eval_windows(load_split("val"), length, max(1, ON_DEMAND_TOKENS // length))
    return mean_loss(lm, x, y, AttentionSpec(kind, scheme, samples, seed))


@st.cache_data(max_entries=32, show_spinner=False)
def text_losses(text: str, scheme: str, samples: int, seed: int) -> tuple[list[float], list[float]]:
    """Per-byte losses of ``text`` under exact and LSH attention (nats)."""
    lm, _ = model()
    ids = encode(text)
    spec = AttentionSpec("lsh", scheme, samples, seed)
    return token_losses(lm, ids).tolist(), token_losses(lm, ids, spec).tolist()


@st.cache_data(max_entries=16, show_spinner=False)
def text_attention(text: str, layer: int, scheme: str, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact and LSH attention weights of one layer (0-based) on ``text``: two (H, n, n) arrays."""
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
