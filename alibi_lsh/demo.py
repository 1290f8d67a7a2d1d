"""``python -m alibi_lsh demo``: a quick numerical tour of the claim.

For a few slopes and R it prints (1) the error of the mean of R sampled masks against the ALiBi
kernel, next to the bounds of docs/theory.md, and (2) the relative error of approximate ALiBi
attention against the exact one, on random q, k, v.
"""

from __future__ import annotations

import argparse

import torch

from .attention import alibi_attention, lsh_alibi_attention
from .masks import mask_running_mean
from .metrics import max_norm_bound, max_norm_error, relative_frobenius_error, spectral_norm_bound, spectral_norm_error
from .samplers import SCHEMES
from .slopes import alibi_kernel


def _int_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",") if item]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from error


def _float_list(text: str) -> list[float]:
    try:
        return [float(eval_fraction(item)) for item in text.split(",") if item]
    except (ValueError, ZeroDivisionError) as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.5,1/16, got {text!r}") from error


def eval_fraction(text: str) -> float:
    """'1/16' -> 0.0625, '0.5' -> 0.5 (slopes are usually written as fractions)."""
    numerator, _, denominator = text.partition("/")
    return float(numerator) / float(denominator) if denominator else float(numerator)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="print mask-mean and attention errors for a few slopes and R")
    parser.add_argument("--n", type=int, default=512, help="context length (default 512; dense work, at most 4096)")
    parser.add_argument("--slopes", type=_float_list, default=[1 / 2, 1 / 16, 1 / 256],
                        help="comma-separated slopes m, fractions allowed (default 1/2,1/16,1/256)")
    parser.add_argument("--samples", type=_int_list, default=[1, 4, 16, 64, 256], help="comma-separated R values")
    parser.add_argument("--scheme", choices=SCHEMES, default="binning")
    parser.add_argument("--dim", type=int, default=64, help="head dimension of the attention demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.n <= 4096:
        raise ValueError(f"--n must be in 1..4096 for the dense mask demo, got {args.n}")
    if not args.samples or min(args.samples) < 1:
        raise ValueError(f"--samples must be integers >= 1, got {args.samples}")
    samples = sorted(set(args.samples))
    print(f"Mean of R masks vs exp(-m|i-j|): n={args.n}, scheme={args.scheme}, seed={args.seed}, bounds at delta=0.05")
    print(f"{'m':>9} {'R':>5} {'max-norm':>9} {'bound':>7} {'spectral':>9} {'bound':>8} {'rel.Frob':>9}")
    for slope in args.slopes:
        means, _ = mask_running_mean(args.n, slope, samples[-1], args.scheme, args.seed, checkpoints=samples)
        kernel = alibi_kernel(args.n, [slope])[0]
        max_errors = max_norm_error(means, kernel)
        spectral = spectral_norm_error(means, kernel)
        frobenius = relative_frobenius_error(means, kernel)
        for index, r in enumerate(samples):
            print(
                f"{slope:>9.5g} {r:>5} {max_errors[index]:>9.4f} {max_norm_bound(args.n, r):>7.3f} "
                f"{spectral[index]:>9.3f} {spectral_norm_bound(args.n, slope, r, scheme=args.scheme):>8.2f} "
                f"{frobenius[index]:>9.4f}"
            )

    print(f"\nApproximate vs exact ALiBi attention, one head per slope: B=1, n={args.n}, d={args.dim}, causal,")
    print("random q, k, v ~ N(0, 1); relative output error ||O_hat - O|| / ||O||")
    print(f"{'m':>9} {'R':>5} {'rel. error':>11}")
    generator = torch.Generator().manual_seed(args.seed)
    q, k, v = (torch.randn(1, 1, args.n, args.dim, generator=generator) for _ in range(3))
    for slope in args.slopes:
        exact = alibi_attention(q, k, v, [slope])
        for r in samples:
            approx = lsh_alibi_attention(q, k, v, [slope], r, scheme=args.scheme, seed=args.seed)
            print(f"{slope:>9.5g} {r:>5} {((approx - exact).norm() / exact.norm()).item():>11.4f}")
    return 0
