"""``python -m alibi_lsh.hf``: the loss of a text under a local checkpoint, its own attention against
exact mode and LSH at several R."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from alibi_lsh.attention.spec import AttentionSpec
from alibi_lsh.cli_args import bounded_int, existing_file, run_command, seed
from alibi_lsh.samplers import SCHEMES

from .load import load_alibi_model, mean_loss, unpatched_length_note
from .patch import patch_attention

# Both the unpatched model (the reference) and exact mode build dense (H, n, n) scores per layer.
MAX_TOKENS = 8192
DESCRIPTION = "Score a text with a local BLOOM, MPT or ALiBi Falcon checkpoint: its own attention, exact ALiBi, LSH."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alibi_lsh.hf", description=DESCRIPTION)
    parser.add_argument(
        "--model", type=Path, required=True, help="local directory of a BLOOM, MPT or Falcon (alibi=True) checkpoint"
    )
    parser.add_argument("--text", type=existing_file, required=True, help="UTF-8 text file to score")
    parser.add_argument(
        "--max-tokens",
        type=bounded_int(2, MAX_TOKENS),
        default=1024,
        help=f"score at most this many tokens, 2..{MAX_TOKENS} (default 1024)",
    )
    parser.add_argument(
        "--samples",
        type=bounded_int(1, 4096),
        nargs="+",
        default=[1, 4, 16, 64],
        help="values of R, each 1..4096 (default 1 4 16 64)",
    )
    parser.add_argument("--scheme", default="binning", choices=SCHEMES)
    parser.add_argument("--seed", type=seed, default=0, help="seed of the LSH partitions, 0..2^63 - 1 (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv, score_text)


def score_text(args: argparse.Namespace) -> None:
    """Print the loss of the text under the original model, exact mode and LSH at each R."""
    try:  # before the model: a bad file costs no loading
        text = args.text.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"--text must be a UTF-8 text file, {str(args.text)!r} is not ({error.reason})") from error
    model, tokenizer = load_alibi_model(args.model)
    ids = tokenizer(text, return_tensors="pt").input_ids[:, : args.max_tokens]
    if ids.shape[1] < 2:
        raise ValueError(f"--text must hold at least 2 tokens, got {ids.shape[1]} from {str(args.text)!r}")
    note = unpatched_length_note(model, ids.shape[1])
    if note:
        print(f"note: {note}")
    base = mean_loss(model, ids)
    print(f"{ids.shape[1]} tokens; original model: loss {base:.4f} nats/token, perplexity {math.exp(base):.3f}")
    specs = [AttentionSpec("exact")] + [AttentionSpec("lsh", args.scheme, r, args.seed) for r in args.samples]
    for spec in specs:
        loss = mean_loss(patch_attention(model, spec), ids)
        print(f"{spec.label():>22}: loss {loss:.4f}, perplexity {math.exp(loss):.3f} ({loss - base:+.4f})")
