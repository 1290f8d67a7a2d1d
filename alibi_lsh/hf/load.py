"""Loading a local ALiBi checkpoint (nothing is downloaded) and scoring a sequence with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .patch import check_alibi_config

# Falcon multiplies power-of-two slopes by positions in bfloat16 (8 significant bits): exact up to here.
FALCON_EXACT_POSITIONS = 256


def load_alibi_model(path: Path | str, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, Any]:
    """Load a BLOOM, MPT or ALiBi Falcon causal LM and its tokenizer from a local directory.

    Returns (model in eval mode, tokenizer). Only local files are read. Raises FileNotFoundError
    when the path is missing and ValueError when it holds no model config, a model without
    ALiBi, or files transformers cannot load.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model path not found: {path}")
    try:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError as err:  # optional dependency
        raise ValueError("this needs the optional `transformers` package: pip install transformers") from err
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ValueError(f"no Hugging Face model config found in {path} ({str(err).splitlines()[0]})") from err
    check_alibi_config(config)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ValueError(f"could not load the model or its tokenizer from {path} ({str(err).splitlines()[0]})") from err
    return model.eval(), tokenizer


@torch.no_grad()
def mean_loss(model: nn.Module, input_ids: torch.Tensor) -> float:
    """Mean next-token cross-entropy (nats per token) of one (1, n) sequence."""
    logits = model(input_ids=input_ids, use_cache=False).logits
    return torch.nn.functional.cross_entropy(logits[0, :-1], input_ids[0, 1:]).item()


def unpatched_length_note(model: nn.Module, n: int) -> str | None:
    """Make the unpatched model accept n tokens where it can, and say what differs from exact ALiBi.

    MPT builds its bias for ``max_seq_len`` positions and refuses longer inputs: the limit is
    raised to n in the config (same weights; ALiBi extrapolates). Falcon rounds its bias to
    bfloat16, exact only up to 256 positions. Returns a note for the user, or None.
    """
    config = model.config
    if config.model_type == "mpt" and n > config.max_seq_len:
        note = f"MPT's max_seq_len raised from {config.max_seq_len} to {n} for these {n} tokens"
        config.max_seq_len = n
        return note
    if config.model_type == "falcon" and n > FALCON_EXACT_POSITIONS:
        return (
            f"Falcon builds its ALiBi bias in bfloat16, exact up to {FALCON_EXACT_POSITIONS} positions: beyond, "
            "the original model's bias is rounded and exact mode's is not"
        )
    return None
