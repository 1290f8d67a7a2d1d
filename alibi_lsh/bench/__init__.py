"""Benchmark of exact, window and LSH ALiBi attention: time, memory, error, FLOP rate.

``run_benchmark(BenchConfig(...))`` returns a pandas frame; ``fit_loglog_slopes`` fits time
against n; :mod:`alibi_lsh.bench.charts` draws it. ``python -m alibi_lsh bench`` wraps them.
"""

from .ground_truth import exact_reference, output_errors
from .methods import METHODS, Case, window_sizes
from .runner import COLUMNS, BenchConfig, fit_loglog_slopes, machine_description, matmul_gflops, run_benchmark

__all__ = [
    "COLUMNS",
    "METHODS",
    "BenchConfig",
    "Case",
    "exact_reference",
    "fit_loglog_slopes",
    "machine_description",
    "matmul_gflops",
    "output_errors",
    "run_benchmark",
    "window_sizes",
]
