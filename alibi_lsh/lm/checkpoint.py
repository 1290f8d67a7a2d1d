"""Save and load the model's weights as a safetensors file with its config in the metadata.

Weights are stored in float16 to keep the committed file small (about 3.6 MB for 1.8M
parameters) and are loaded back as float32; the rounding changes the held-out loss by far less
than the effects measured in the evaluation, and every variant is scored with the same weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .config import ModelConfig
from .model import ALiBiGPT

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "alibi-gpt-stdlib.safetensors"
RETRAIN_HINT = "Restore it from the repository (git checkout) or retrain with `python -m alibi_lsh.lm train`."


def save_weights(model: ALiBiGPT, path: Path, info: dict | None = None) -> None:
    """Write the model's parameters (float16) plus its ``ModelConfig`` and ``info`` as metadata."""
    state = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":  # tied to wte.weight; safetensors refuses shared storage
            continue
        state[name] = tensor.detach().to(torch.float16).contiguous()
    metadata = {"config": json.dumps(model.config.to_dict()), "info": json.dumps(info or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)


def read_metadata(path: Path) -> tuple[ModelConfig, dict]:
    """The ``ModelConfig`` and training info stored in a weights file."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise ValueError("no model config in its metadata")
    return ModelConfig(**json.loads(meta["config"])), json.loads(meta.get("info", "{}"))


def load_model(path: Path | str | None = None) -> tuple[ALiBiGPT, dict]:
    """Load the trained model (default: the weights shipped in the package), in eval mode.

    Returns the model and the training info saved with it (steps, validation loss, ...).
    Raises FileNotFoundError if the file is missing and ValueError if it is not a valid weights
    file for this model, both with a message that says what to do.
    """
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"Model weights not found: {path}. {RETRAIN_HINT}")
    try:
        config, info = read_metadata(path)
        state = load_file(str(path))
        model = ALiBiGPT(config)
        state = {name: t.float() for name, t in state.items()}
        state["lm_head.weight"] = state["wte.weight"]
        model.load_state_dict(state)
    except (SafetensorError, OSError, ValueError, TypeError, KeyError, RuntimeError, json.JSONDecodeError) as err:
        message = f"Model weights file is corrupt or not for this model: {path} ({err}). {RETRAIN_HINT}"
        raise ValueError(message) from err
    model.eval()
    return model, info
