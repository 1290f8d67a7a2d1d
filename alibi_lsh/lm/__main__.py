"""Command line: ``python -m alibi_lsh.lm {train,eval,snapshot}``.

Errors the user can fix (missing or corrupt weights, missing data) are printed as one line and
exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from alibi_lsh._checks import exit_status


def _threads(value: int | None) -> int:
    # Default: every core up to 4; beyond that a model this small gains little from more threads.
    threads = value or min(4, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    return threads


def cmd_train(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from .config import ModelConfig, TrainConfig
    from .train import train

    threads = _threads(args.threads)
    train_cfg = TrainConfig()
    if args.steps is not None:
        train_cfg = replace(train_cfg, steps=args.steps)
    model_cfg = ModelConfig()
    print(f"Training {model_cfg} for {train_cfg.steps} steps on {threads} threads, seed {train_cfg.seed}")
    _, summary = train(model_cfg, train_cfg, out=args.out)
    print(
        f"Done in {summary['seconds']:.0f} s: {summary['num_params']:,} parameters, "
        f"validation loss {summary['val_loss']:.4f} nats/byte (perplexity {summary['val_ppl']:.3f}). "
        f"Weights written to {args.out}"
    )


def cmd_eval(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from tqdm.auto import tqdm

    from .checkpoint import load_model
    from .evaluate import EvalConfig, markdown_table, quick_config, run_eval

    threads = _threads(args.threads)
    model, _ = load_model(args.weights)
    cfg = quick_config() if args.quick else EvalConfig()
    if args.seeds is not None:
        cfg = replace(cfg, seeds=tuple(range(args.seeds)))
    if args.tokens is not None:
        cfg = replace(cfg, tokens=args.tokens)
    print(f"Evaluating on {threads} threads: {cfg}")
    with tqdm(total=1000, desc="eval", unit="‰") as bar:

        def progress(fraction: float, what: str) -> None:
            bar.update(round(1000 * fraction) - bar.n)
            bar.set_postfix_str(what)

        results = run_eval(model, cfg, args.out, progress)
    print()
    print(markdown_table(results["summary"]))
    errors = results["errors"]
    table = errors.pivot_table(index=["length", "scheme", "R"], columns="layer", values="err_mean")
    print("\nRelative error of the attention output per layer (mean over seeds):")
    print(table.round(4).to_string())
    print(f"\nWrote perplexity.csv, perplexity_runs.csv, attention_error.csv and charts to {args.out}")


def cmd_snapshot(args: argparse.Namespace) -> None:
    from .data import DATA_DIR, make_snapshot

    splits = make_snapshot(args.stdlib, DATA_DIR)
    print(f"Wrote {DATA_DIR}: {len(splits['train'])} train files, {len(splits['val'])} held-out files")


def build_parser() -> argparse.ArgumentParser:
    from .checkpoint import DEFAULT_WEIGHTS

    parser = argparse.ArgumentParser(prog="python -m alibi_lsh.lm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train the byte-level ALiBi model on the stdlib snapshot")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default from TrainConfig)")
    p.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="where to write the weights")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: min(4, cores))")
    p.set_defaults(func=cmd_train)

    from .evaluate import RESULTS_DIR

    p = sub.add_parser("eval", help="held-out perplexity: exact vs LSH (R, schemes, seeds) vs window")
    p.add_argument("--weights", type=Path, default=None, help="weights file (default: the shipped model)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for the CSVs and charts")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds per (scheme, R) (default 3)")
    p.add_argument("--tokens", type=int, default=None, help="held-out bytes scored per length (default 4096)")
    p.add_argument("--quick", action="store_true", help="small smoke-test configuration")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: min(4, cores))")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("snapshot", help="rebuild data/python-stdlib from a Python standard library")
    p.add_argument("--stdlib", type=Path, default=None, help="lib/python3.X directory (default: this interpreter's)")
    p.set_defaults(func=cmd_snapshot)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return exit_status(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
