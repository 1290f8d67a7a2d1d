"""``python -m alibi_lsh demo``: a quick numerical tour of the claim.

For a few R it prints (1) the error of the mean of R sampled masks against the ALiBi kernel and
(2) the relative error of approximate ALiBi attention against the exact one, on random q, k, v.
"""

from __future__ import annotations

import argparse

import torch

from .exact import alibi_attention
from .lsh_attention import lsh_alibi_attention
from .masks import mask_running_mean
from .metrics import max_norm_bound, max_norm_error, relative_frobenius_error, spectral_norm_bound, spectral_norm_error
from .samplers import SCHEMES
from .slopes import alibi_kernel, alibi_slopes


def _int_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",") if item]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from error


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="print mask-mean and attention errors for a few R")
    parser.add_argument("--n", type=int, default=512, help="context length (default 512; dense work, at most 4096)")
    parser.add_argument("--slope", type=float, default=1 / 16, help="slope m of the mask demo (default 1/16)")
    parser.add_argument("--samples", type=_int_list, default=[1, 4, 16, 64, 256], help="comma-separated R values")
    parser.add_argument("--scheme", choices=SCHEMES, default="binning")
    parser.add_argument("--heads", type=int, default=8, help="heads of the attention demo (standard ALiBi slopes)")
    parser.add_argument("--dim", type=int, default=64, help="head dimension of the attention demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.n <= 4096:
        raise ValueError(f"--n must be in 1..4096 for the dense mask demo, got {args.n}")
    if not args.samples or min(args.samples) < 1:
        raise ValueError(f"--samples must be integers >= 1, got {args.samples}")
    samples = sorted(set(args.samples))
    print(f"Mean of R masks vs exp(-m|i-j|): n={args.n}, m={args.slope:g}, scheme={args.scheme}, seed={args.seed}")
    means, _ = mask_running_mean(args.n, args.slope, samples[-1], args.scheme, args.seed, checkpoints=samples)
    kernel = alibi_kernel(args.n, [args.slope])[0]
    max_errors = max_norm_error(means, kernel)
    spectral = spectral_norm_error(means, kernel)
    frobenius = relative_frobenius_error(means, kernel)
    print(f"{'R':>6} {'max-norm':>10} {'bound':>8} {'spectral':>10} {'bound':>8} {'rel.Frob':>10}")
    for index, r in enumerate(samples):
        print(
            f"{r:>6} {max_errors[index]:>10.4f} {max_norm_bound(args.n, r):>8.3f} {spectral[index]:>10.3f} "
            f"{spectral_norm_bound(args.n, args.slope, r, scheme=args.scheme):>8.2f} {frobenius[index]:>10.4f}"
        )

    print(f"\nApproximate vs exact ALiBi attention: B=1, H={args.heads}, n={args.n}, d={args.dim}, causal")
    generator = torch.Generator().manual_seed(args.seed)
    q, k, v = (torch.randn(1, args.heads, args.n, args.dim, generator=generator) for _ in range(3))
    slopes = alibi_slopes(args.heads)
    exact = alibi_attention(q, k, v, slopes)
    print(f"{'R':>6} {'rel. output error':>18}")
    for r in samples:
        approx = lsh_alibi_attention(q, k, v, slopes, r, scheme=args.scheme, seed=args.seed)
        print(f"{r:>6} {((approx - exact).norm() / exact.norm()).item():>18.4f}")
    return 0
