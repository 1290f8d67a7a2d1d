"""Command line: ``python -m alibi_lsh.lm {train,eval,snapshot}``.

Errors the user can fix (bad arguments, missing or corrupt weights, missing data) are printed as
one line and exit with status 2, without a traceback. Nothing shipped is overwritten unless asked
for: ``train`` and ``eval`` write into the working directory unless ``--out`` names another place
(e.g. the package's own ``weights``/``results`` when refreshing them), and ``snapshot`` refuses to
replace existing text files without ``--force``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from alibi_lsh.cli_args import (
    bounded_int,
    existing_dir,
    existing_file,
    make_output_dir,
    output_dir,
    output_file,
    run_command,
)

# Defaults are strings so that argparse checks them like typed values (a directory that cannot be
# written is refused before training, not after).
TRAIN_OUT = "alibi-gpt-stdlib.safetensors"  # in the working directory, never the shipped weights
EVAL_OUT = "lm-results"  # in the working directory, never the shipped results
MAX_STEPS = 100_000
MAX_SEEDS = 100
# Every window of one length goes through the model in one batch, so memory grows with the
# bytes scored: 16384 bytes at the 1024-byte context is 16 windows, 1.6 GB peak (LSH R=64).
MAX_EVAL_TOKENS = 16_384


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


def _load_weights(path: Path | None):
    """The model of ``--weights``, or of the shipped weights when it is None.

    Only the shipped file's errors suggest restoring it (git checkout) or retraining; a file the
    user named that is not a weights file of this model is an error naming ``--weights``.
    """
    from .checkpoint import load_model

    if path is None:
        return load_model()
    try:
        return load_model(path)
    except (FileNotFoundError, ValueError) as error:
        reason = error.__cause__ or "not found"
        raise ValueError(f"--weights: {str(path)!r} is not a readable weights file of this model ({reason})") from None


def cmd_eval(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from tqdm.auto import tqdm

    from .evaluate import EvalConfig, markdown_table, quick_config, run_eval

    threads = _threads(args.threads)
    model, _ = _load_weights(args.weights)
    cfg = quick_config() if args.quick else EvalConfig()
    if args.seeds is not None:
        cfg = replace(cfg, seeds=tuple(range(args.seeds)))
    if args.tokens is not None:
        longest = model.config.context_length * max(cfg.multiples)
        if args.tokens < longest:  # fewer bytes than one window of the longest length
            raise ValueError(
                f"--tokens must be an integer in [{longest}, {MAX_EVAL_TOKENS}] (at least one window of the "
                f"longest context, {longest} bytes), got {args.tokens}"
            )
        cfg = replace(cfg, tokens=args.tokens)
    make_output_dir(args.out, "--out")
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
    from .data import make_snapshot, plan_snapshot

    existing = [args.out / f"{split}.txt" for split in ("train", "val") if (args.out / f"{split}.txt").exists()]
    if existing and not args.force:
        raise ValueError(f"{existing[0]} exists; pass --force to overwrite it, or --out DIR to write elsewhere")
    try:
        plan_snapshot(args.stdlib)  # too few sources is an error before the folder is made
    except ValueError as error:
        raise ValueError(f"--stdlib: {error}") from None
    make_output_dir(args.out, "--out")
    splits = make_snapshot(args.stdlib, args.out)
    print(f"Wrote {args.out}: {len(splits['train'])} train files, {len(splits['val'])} held-out files")


def build_parser() -> argparse.ArgumentParser:
    from .config import ModelConfig
    from .data import DATA_DIR
    from .evaluate import EvalConfig

    longest = ModelConfig().context_length * max(EvalConfig().multiples)  # one window of the longest length
    parser = argparse.ArgumentParser(prog="python -m alibi_lsh.lm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    threads = bounded_int(1, 1024)

    p = sub.add_parser("train", help="train the byte-level ALiBi model on the stdlib snapshot")
    p.add_argument(
        "--steps",
        type=bounded_int(1, MAX_STEPS),
        default=None,
        help=f"optimizer steps, 1..{MAX_STEPS} (default from TrainConfig: 1000)",
    )
    p.add_argument(
        "--out",
        type=output_file,
        default=TRAIN_OUT,
        help=f"weights file to write; its directory must exist (default: ./{TRAIN_OUT})",
    )
    p.add_argument("--threads", type=threads, default=None, help="torch CPU threads, 1..1024 (default: min(4, cores))")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="held-out perplexity: exact vs LSH (R, schemes, seeds) vs window")
    p.add_argument("--weights", type=existing_file, default=None, help="weights file (default: the shipped model)")
    p.add_argument(
        "--out",
        type=output_dir,
        default=EVAL_OUT,
        help=f"directory for the CSVs and charts, created if missing (default: ./{EVAL_OUT})",
    )
    p.add_argument(
        "--seeds",
        type=bounded_int(1, MAX_SEEDS),
        default=None,
        help=f"number of seeds per (scheme, R), 1..{MAX_SEEDS} (default 3; 1 with --quick)",
    )
    p.add_argument(
        "--tokens",
        type=bounded_int(longest, MAX_EVAL_TOKENS),
        default=None,
        help=f"held-out bytes scored per length, {longest}..{MAX_EVAL_TOKENS}: at least one window of "
        f"the longest length (default 4096; {longest} with --quick)",
    )
    p.add_argument("--quick", action="store_true", help="small smoke-test configuration")
    p.add_argument("--threads", type=threads, default=None, help="torch CPU threads, 1..1024 (default: min(4, cores))")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("snapshot", help="rebuild data/python-stdlib from a Python standard library")
    p.add_argument(
        "--stdlib", type=existing_dir, default=None, help="lib/python3.X directory (default: this interpreter's)"
    )
    p.add_argument(
        "--out",
        type=output_dir,
        default=str(DATA_DIR),
        help="directory for train.txt and val.txt (default: the repository's data/python-stdlib)",
    )
    p.add_argument("--force", action="store_true", help="overwrite train.txt and val.txt if they exist")
    p.set_defaults(func=cmd_snapshot)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv, lambda args: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
