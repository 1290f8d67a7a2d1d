"""Held-out perplexity and attention error of the trained model under each attention variant.

``python -m alibi_lsh.lm eval`` scores the same held-out windows with exact ALiBi, with
``lsh_alibi_attention`` for every scheme, R and seed, and with window truncation, at the training
length and at 4x and 8x that length; it writes ``perplexity_runs.csv`` (one row per run),
``perplexity.csv`` (mean and spread over seeds), ``attention_error.csv`` (per-layer error of the
attention output on real q, k, v) and a chart.

Units: loss in nats per byte; perplexity = exp(loss) per byte. Every variant sees exactly the
same bytes, so differences between variants are paired and much less noisy than the
perplexities themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from alibi_lsh import alibi_attention, lsh_alibi_attention
from alibi_lsh._checks import check_int
from alibi_lsh.samplers import SCHEMES

from ..attention.spec import EXACT, AttentionSpec
from .data import eval_windows, load_split
from .model import ALiBiGPT, QKVCapture, layer_head_offset

RESULTS_DIR = Path(__file__).resolve().parent / "results"  # the shipped evaluation, read by the app
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class EvalConfig:
    """What ``eval`` measures. Sized to finish in about 10 minutes on a 2-core CPU.

    Raises ValueError for an empty list (only ``windows`` may be empty), a count below 1, a
    negative seed or an unknown scheme.
    """

    multiples: tuple[int, ...] = (1, 4, 8)  # context lengths as multiples of the training length
    samples: tuple[int, ...] = (1, 2, 4, 8, 16, 64)  # R
    schemes: tuple[str, ...] = ("binning", "cuts", "qmc")
    seeds: tuple[int, ...] = (0, 1, 2)
    windows: tuple[int, ...] = (16, 64)  # window-truncation baselines, |i-j| < w
    tokens: int = 4096  # held-out bytes windows per length: tokens // length windows
    error_layers_length_multiples: tuple[int, ...] = (1, 4)  # lengths for the attention-error table

    def __post_init__(self) -> None:
        # An empty tuple would silently drop every LSH row (no seeds, no R, no scheme) or every
        # length; only the window baselines are optional.
        for name in ("multiples", "samples", "seeds", "schemes", "error_layers_length_multiples"):
            if not getattr(self, name):
                raise ValueError(f"EvalConfig.{name} must not be empty, got {getattr(self, name)!r}")
        for name in ("multiples", "samples", "windows", "error_layers_length_multiples"):
            for value in getattr(self, name):
                check_int(f"EvalConfig.{name}", value, minimum=1)
        for value in self.seeds:
            check_int("EvalConfig.seeds", value, minimum=0)
        unknown = [scheme for scheme in self.schemes if scheme not in SCHEMES]
        if unknown:
            raise ValueError(f"EvalConfig.schemes must be drawn from {SCHEMES}, got {unknown[0]!r}")
        check_int("EvalConfig.tokens", self.tokens, minimum=1)


def specs(cfg: EvalConfig) -> list[AttentionSpec]:
    """Every attention variant of one length, exact first."""
    out = [EXACT]
    out += [AttentionSpec("window", sliding_window=w) for w in cfg.windows]
    out += [
        AttentionSpec("lsh", scheme=scheme, num_samples=r, seed=seed)
        for scheme in cfg.schemes
        for r in cfg.samples
        for seed in cfg.seeds
    ]
    return out


@torch.no_grad()
def mean_loss(model: ALiBiGPT, x: torch.Tensor, y: torch.Tensor, spec: AttentionSpec) -> float:
    """Mean cross-entropy (nats per byte) over every position of (N, n) windows x, targets y."""
    _, loss = model(x, y, attention=spec)
    return loss.item()


@torch.no_grad()
def token_losses(model: ALiBiGPT, ids: torch.Tensor, spec: AttentionSpec = EXACT) -> torch.Tensor:
    """Loss of each next byte of one (n,) sequence: (n - 1,) nats; entry t scores byte t + 1."""
    logits, _ = model(ids[None, :-1], attention=spec)
    return F.cross_entropy(logits[0], ids[1:], reduction="none")


@torch.no_grad()
def capture_qkv(model: ALiBiGPT, x: torch.Tensor) -> QKVCapture:
    """Run the exact model on (B, n) ids and return every layer's (q, k, v), each (B, H, n, d)."""
    capture: QKVCapture = {}
    model(x, capture=capture)
    return capture


@torch.no_grad()
def attention_maps(
    model: ALiBiGPT, ids: torch.Tensor, layer: int, spec: AttentionSpec
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention weights of one layer, exact and under ``spec``, on the exact model's q and k.

    Returns two (H, n, n) tensors whose row i is the distribution query i puts on keys j <= i.
    The approximate weights come from ``lsh_alibi_attention`` itself: with v = identity the output
    row i is exactly the weight vector of query i (outputs are linear in v), and the partitions
    are the ones the model uses in layer ``layer`` with this seed.
    """
    q, k, _ = capture_qkv(model, ids[None])[layer]
    n = q.shape[-2]
    eye = torch.eye(n).expand(1, q.shape[1], n, n)
    exact = alibi_attention(q, k, eye, model.slopes, causal=True)[0]
    if spec.kind != "lsh":
        raise ValueError("attention_maps compares exact attention with an 'lsh' spec")
    approx = lsh_alibi_attention(
        q,
        k,
        eye,
        model.slopes,
        spec.num_samples,
        causal=True,
        scheme=spec.scheme,
        seed=spec.seed,
        head_offset=layer_head_offset(layer, model.config.n_head),
    )[0]
    return exact, approx


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """||approx - exact||_F / ||exact||_F."""
    return (torch.linalg.vector_norm(approx - exact) / torch.linalg.vector_norm(exact)).item()


def perplexity_runs(
    model: ALiBiGPT, cfg: EvalConfig = EvalConfig(), progress: Progress | None = None, val: torch.Tensor | None = None
) -> pd.DataFrame:
    """One row per (length, variant, seed): columns length, multiple, method, scheme, R, window,
    seed, loss, ppl, and the loss gap to exact attention on the same windows."""
    val = load_split("val") if val is None else val
    length = model.config.context_length
    rows: list[dict] = []
    jobs = [(m, spec) for m in cfg.multiples for spec in specs(cfg)]
    # Cost weights for the progress bar: every length scores the same number of bytes, so the
    # work is about proportional to R (an exact or window run costs about one sample).
    weights = [spec.num_samples if spec.kind == "lsh" else 1 for _, spec in jobs]
    done, total = 0.0, float(sum(weights))
    exact_loss: dict[int, float] = {}
    for (multiple, spec), weight in zip(jobs, weights):
        n = length * multiple
        x, y = eval_windows(val, n, max(1, cfg.tokens // n))
        loss = mean_loss(model, x, y, spec)
        if spec.kind == "exact":
            exact_loss[n] = loss
        rows.append(
            {
                "length": n,
                "multiple": multiple,
                "method": spec.kind,
                "scheme": spec.scheme if spec.kind == "lsh" else "",
                "R": spec.num_samples if spec.kind == "lsh" else 0,
                "window": spec.sliding_window if spec.kind == "window" else 0,
                "seed": spec.seed if spec.kind == "lsh" else 0,
                "loss": loss,
                "ppl": math.exp(loss),
                "loss_gap": loss - exact_loss[n],
            }
        )
        done += weight
        if progress is not None:
            progress(done / total, f"length {n}: {spec.label()}")
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds: one row per (length, method, scheme, R, window) with ppl_mean,
    ppl_std (standard deviation over seeds, 0 for deterministic variants), ppl_min, ppl_max and
    gap_pct = 100 * (ppl_mean / ppl_exact - 1)."""
    keys = ["length", "multiple", "method", "scheme", "R", "window"]
    summary = (
        runs.groupby(keys, sort=False)
        .agg(
            ppl_mean=("ppl", "mean"),
            ppl_std=("ppl", "std"),
            ppl_min=("ppl", "min"),
            ppl_max=("ppl", "max"),
            seeds=("seed", "count"),
        )
        .reset_index()
    )
    summary["ppl_std"] = summary["ppl_std"].fillna(0.0)
    exact = summary[summary.method == "exact"].set_index("length")["ppl_mean"]
    summary["gap_pct"] = 100.0 * (summary["ppl_mean"] / summary["length"].map(exact) - 1.0)
    return summary


@torch.no_grad()
def attention_errors(
    model: ALiBiGPT,
    cfg: EvalConfig = EvalConfig(),
    windows: int = 2,
    val: torch.Tensor | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Per-layer relative error of the attention output on real q, k, v (from the exact model).

    One row per (length, layer, scheme, R): err_mean and err_std over seeds of
    ||lsh - exact||_F / ||exact||_F, where both outputs use the same captured q, k, v.
    """
    val = load_split("val") if val is None else val
    rows = []
    jobs = [
        (m, s, layer)
        for m in cfg.error_layers_length_multiples
        for s in cfg.schemes
        for layer in range(model.config.n_layer)
    ]
    captured: dict[int, QKVCapture] = {}
    for step, (multiple, scheme, layer) in enumerate(jobs):
        n = model.config.context_length * multiple
        if n not in captured:
            captured[n] = capture_qkv(model, eval_windows(val, n, windows)[0])
        q, k, v = captured[n][layer]
        exact = alibi_attention(q, k, v, model.slopes, causal=True)
        head_offset = layer_head_offset(layer, model.config.n_head)  # the blocks the model draws in this layer
        for r in cfg.samples:
            errors = torch.tensor(
                [
                    relative_error(
                        lsh_alibi_attention(
                            q, k, v, model.slopes, r, scheme=scheme, seed=seed, head_offset=head_offset
                        ),
                        exact,
                    )
                    for seed in cfg.seeds
                ]
            )
            rows.append(
                {
                    "length": n,
                    "layer": layer,
                    "scheme": scheme,
                    "R": r,
                    "err_mean": errors.mean().item(),
                    "err_std": errors.std().item() if len(errors) > 1 else 0.0,
                }
            )
        if progress is not None:
            progress((step + 1) / len(jobs), f"attention error, length {n}, {scheme}, layer {layer}")
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame, multiples: Iterable[int] | None = None) -> str:
    """Perplexity table (rows: variant; columns: context length) as GitHub markdown."""
    frame = summary if multiples is None else summary[summary.multiple.isin(list(multiples))]

    def label(row: pd.Series) -> str:
        if row.method == "lsh":
            return f"LSH {row.scheme}, R={row.R}"
        if row.method == "window":
            return f"window w={row.window}"
        return "exact ALiBi"

    def cell(row: pd.Series) -> str:
        text = f"{row.ppl_mean:.3f}"
        if row.method == "lsh" and row.seeds > 1:  # one seed has no spread to show
            text += f" ± {row.ppl_std:.3f}"
        if row.method != "exact":
            text += f" ({row.gap_pct:+.1f}%)"
        return text

    frame = frame.assign(variant=frame.apply(label, axis=1), cell=frame.apply(cell, axis=1))
    table = frame.pivot_table(index="variant", columns="length", values="cell", aggfunc="first", sort=False)
    header = "| variant | " + " | ".join(f"n = {n}" for n in table.columns) + " |"
    lines = [header, "|---|" + "---:|" * len(table.columns)]
    lines += [f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in table.iterrows()]
    return "\n".join(lines)


def run_eval(
    model: ALiBiGPT, cfg: EvalConfig, out_dir: Path, progress: Progress | None = None
) -> dict[str, pd.DataFrame]:
    """Run the whole evaluation and write the CSVs and the charts to ``out_dir`` (created if missing).

    ``out_dir`` has no default: the shipped results (``RESULTS_DIR``) are replaced only when a
    caller names them.
    """
    from .figures import attention_error_chart, perplexity_chart

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Perplexity is about 80% of the work, the attention-error table the rest.
    first = second = None
    if progress is not None:

        def first(f: float, what: str) -> None:
            progress(0.8 * f, what)

        def second(f: float, what: str) -> None:
            progress(0.8 + 0.2 * f, what)

    runs = perplexity_runs(model, cfg, first)
    summary = summarize(runs)
    errors = attention_errors(model, cfg, progress=second)
    runs.to_csv(out_dir / "perplexity_runs.csv", index=False, float_format="%.5f")
    summary.to_csv(out_dir / "perplexity.csv", index=False, float_format="%.5f")
    errors.to_csv(out_dir / "attention_error.csv", index=False, float_format="%.5f")
    # A file has no container to take its width from.
    perplexity_chart(summary, width=640).save(str(out_dir / "perplexity.png"), scale_factor=1.5)
    attention_error_chart(errors).save(str(out_dir / "attention_error.png"), scale_factor=1.5)
    return {"runs": runs, "summary": summary, "errors": errors}


def quick_config(cfg: EvalConfig = EvalConfig()) -> EvalConfig:
    """A small variant for smoke tests and the app's on-demand run (one seed, fewer bytes)."""
    return replace(cfg, seeds=(0,), tokens=1024, samples=(1, 4, 16), windows=(16,))
