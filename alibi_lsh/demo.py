"""``python -m alibi_lsh demo``: a quick numerical tour of the claim.

For a few slopes and R it prints (1) the error of the mean of R sampled masks against the ALiBi
kernel, next to the bounds of docs/theory.md, and (2) the relative error of approximate ALiBi
attention against the exact one, on random q, k, v.
"""

from __future__ import annotations

import argparse

import torch

from .attention.exact import alibi_attention
from .attention.lsh.entry import lsh_alibi_attention
from .cli_args import MAX_SLOPE, bounded_int, int_list, seed, slope_list
from .masks import mask_running_mean
from .metrics import max_norm_bound, max_norm_error, relative_frobenius_error, spectral_norm_bound, spectral_norm_error
from .samplers import SCHEMES
from .slopes import alibi_kernel


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="print mask-mean and attention errors for a few slopes and R")
    parser.add_argument(
        "--n",
        type=bounded_int(1, 4096),
        default=512,
        help="context length, 1..4096 (default 512; the mask tables are dense n x n)",
    )
    parser.add_argument(
        "--slopes",
        type=slope_list,
        default=(1 / 2, 1 / 16, 1 / 256),
        help=f"comma-separated slopes m, 0 <= m <= {MAX_SLOPE:g}, fractions allowed (default 1/2,1/16,1/256)",
    )
    parser.add_argument(
        "--samples",
        type=int_list(1, 4096),
        default=(1, 4, 16, 64, 256),
        help="comma-separated R values, each 1..4096 (default 1,4,16,64,256)",
    )
    parser.add_argument("--scheme", choices=SCHEMES, default="binning")
    parser.add_argument(
        "--dim",
        type=bounded_int(1, 1024),
        default=64,
        help="head dimension of the attention demo, 1..1024 (default 64)",
    )
    parser.add_argument("--seed", type=seed, default=0, help="random seed, 0..2^63 - 1 (default 0)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
