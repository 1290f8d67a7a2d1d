"""Train the byte-level ALiBi model on the standard-library snapshot (exact attention).

``python -m alibi_lsh.lm train`` reproduces the shipped weights: fixed seed, AdamW, linear
warm-up then cosine decay, about 10 minutes on a 2-core CPU. It writes them to the working
directory (``--out`` names another file). Bit-for-bit equality across machines is not
guaranteed (CPU kernels differ), the loss curve is.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from alibi_lsh._checks import check_int

from .checkpoint import save_weights
from .config import ModelConfig, TrainConfig
from .data import eval_windows, load_split, random_batch
from .model import ALiBiGPT


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``cfg.lr``, then cosine decay to ``cfg.min_lr`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: ALiBiGPT, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on LayerNorm gains and biases), as nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))


@torch.no_grad()
def validation_loss(model: ALiBiGPT, val: torch.Tensor, num_windows: int, batch_size: int = 32) -> float:
    """Mean held-out cross-entropy (nats per byte) on fixed windows of the training length."""
    was_training = model.training
    model.eval()
    x, y = eval_windows(val, model.config.context_length, num_windows)
    total = 0.0
    for start in range(0, num_windows, batch_size):
        _, loss = model(x[start : start + batch_size], y[start : start + batch_size])
        total += loss.item() * len(x[start : start + batch_size])
    model.train(was_training)
    return total / num_windows


def train(
    model_cfg: ModelConfig | None = None,
    train_cfg: TrainConfig | None = None,
    out: Path | None = None,
    train_data: torch.Tensor | None = None,
    val_data: torch.Tensor | None = None,
    progress: bool = True,
) -> tuple[ALiBiGPT, dict]:
    """Train from scratch (default configs) and, if ``out``, save the weights there.

    ``out`` has no default: the shipped weights (``DEFAULT_WEIGHTS``) are replaced only when a
    caller names them. Raises ValueError if ``train_cfg`` asks for fewer than 1 step (or batch, or
    evaluation window), which would leave no loss to report.

    Returns the model and a summary that holds the losses (nats per byte) at every ``eval_every`` steps, the final
    validation loss and perplexity, and the wall time in seconds.
    """
    model_cfg = model_cfg or ModelConfig()
    train_cfg = train_cfg or TrainConfig()
    for name in ("steps", "batch_size", "eval_every", "eval_windows"):
        check_int(f"TrainConfig.{name}", getattr(train_cfg, name), minimum=1)
    torch.manual_seed(train_cfg.seed)
    train_data = load_split("train") if train_data is None else train_data
    val_data = load_split("val") if val_data is None else val_data
    model = ALiBiGPT(model_cfg)
    model.train()
    optimizer = make_optimizer(model, train_cfg)
    batches = torch.Generator().manual_seed(train_cfg.seed)
    history: list[dict] = []
    start = time.perf_counter()
    bar = tqdm(range(train_cfg.steps), desc="train", disable=not progress, unit="step")
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, train_cfg)
        x, y = random_batch(train_data, train_cfg.batch_size, model_cfg.context_length, batches)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        optimizer.step()
        last = step == train_cfg.steps - 1
        if (step + 1) % train_cfg.eval_every == 0 or last:
            val = validation_loss(model, val_data, train_cfg.eval_windows)
            history.append({"step": step + 1, "train_loss": loss.item(), "val_loss": val})
            bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{val:.3f}")
        elif step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    final = history[-1]["val_loss"]
    summary = {
        "steps": train_cfg.steps,
        "seconds": round(time.perf_counter() - start, 1),
        "threads": torch.get_num_threads(),
        "num_params": model.num_params(),
        "val_loss": round(final, 4),
        "val_ppl": round(math.exp(final), 4),
        "history": history,
        "train_config": asdict(train_cfg),
    }
    if out is not None:
        save_weights(model, out, info=summary)
    return model, summary
