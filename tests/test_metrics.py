"""Error metrics against direct computations, and the bounds against both formulas and samples."""

from __future__ import annotations

import math

import pytest
import torch

from alibi_lsh import (
    alibi_kernel,
    block_size_bound,
    mask_running_mean,
    max_norm_bound,
    max_norm_error,
    relative_frobenius_error,
    sample_partitions,
    spectral_norm_bound,
    spectral_norm_error,
)
from alibi_lsh.kernels import PositionalKernel
from alibi_lsh.metrics import entrywise_errors, kernel_operator_norm


@pytest.mark.parametrize("scheme", ["binning", "cuts", "qmc"])
@pytest.mark.parametrize("slope", [0.5, 1 / 32])
def test_lanczos_spectral_norm_matches_full_eigendecomposition(scheme, slope):
    n = 300
    means, _ = mask_running_mean(n, slope, 64, scheme, seed=9, checkpoints=[1, 8, 64])
    kernel = alibi_kernel(n, [slope])[0]
    fast = spectral_norm_error(means, kernel)
    exact = spectral_norm_error(means, kernel, exact=True)
    torch.testing.assert_close(fast, exact, rtol=1e-4, atol=1e-6)


def test_norms_of_a_hand_made_difference():
    target = torch.eye(3, dtype=torch.float64)
    estimate = target.clone()
    estimate[0, 1] = estimate[1, 0] = 0.5  # difference [[0, .5, 0], [.5, 0, 0], [0, 0, 0]]: eigenvalues +-0.5, 0
    assert max_norm_error(estimate, target).item() == 0.5
    assert spectral_norm_error(estimate, target).item() == pytest.approx(0.5, abs=1e-12)
    assert relative_frobenius_error(estimate, target).item() == pytest.approx(math.sqrt(0.5) / math.sqrt(3), abs=1e-12)
    with pytest.raises(ValueError, match="square"):
        max_norm_error(torch.zeros(3, 4), torch.zeros(3, 4))


def test_max_norm_bound_formula():
    assert max_norm_bound(1, 5) == 0.0  # the diagonal is always exact
    assert max_norm_bound(100, 400, delta=0.01) == pytest.approx(math.sqrt(math.log(100 * 99 / 0.01) / 800))
    assert max_norm_bound(100, 1) == 1.0  # capped: entries lie in [0, 1]
    with pytest.raises(ValueError, match="delta"):
        max_norm_bound(10, 4, delta=1.5)


def test_kernel_operator_norm_bounds_the_true_norm():
    for slope in (0.5, 1 / 16):
        n = 200
        true_norm = torch.linalg.eigvalsh(alibi_kernel(n, [slope])[0]).max().item()
        bound = kernel_operator_norm(n, PositionalKernel.alibi(slope))
        q = math.exp(-slope)
        assert true_norm <= bound + 1e-9 <= (1 + q) / (1 - q) + 1e-9


@pytest.mark.parametrize("scheme", ["binning", "cuts"])
def test_sampled_blocks_stay_below_the_block_size_bound(scheme):
    n, slope, samples = 2000, 1 / 8, 200
    bound = block_size_bound(n, slope, samples, delta=0.05, scheme=scheme)
    longest = max(int(p.lengths().max()) for p in sample_partitions(n, slope, samples, scheme, seed=1))
    assert longest <= bound < n


@pytest.mark.parametrize("scheme", ["binning", "cuts"])
def test_measured_errors_sit_below_the_bounds(scheme):
    # Each bound holds with probability >= 95% per run; they are loose, so all 5 seeds must pass.
    n, slope = 256, 1 / 16
    kernel = alibi_kernel(n, [slope])[0]
    for seed in range(5):
        means, checkpoints = mask_running_mean(n, slope, 64, scheme, seed=seed, checkpoints=[4, 64])
        for r, max_error, spectral in zip(
            checkpoints.tolist(), max_norm_error(means, kernel), spectral_norm_error(means, kernel)
        ):
            assert max_error <= max_norm_bound(n, r)
            assert spectral <= spectral_norm_bound(n, slope, r, scheme=scheme)


def test_bounds_fall_with_more_samples_and_vanish_for_slope_zero():
    assert spectral_norm_bound(512, 0.1, 1024) < spectral_norm_bound(512, 0.1, 64) / 3
    assert max_norm_bound(512, 1024) == pytest.approx(max_norm_bound(512, 64) / 4)
    assert spectral_norm_bound(512, 0.0, 8) == 0.0


@pytest.mark.parametrize("n", [16, 100])  # the eigendecomposition path and the Lanczos path
@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("where", ["estimate", "target"])
@pytest.mark.parametrize("exact", [False, True])
def test_spectral_norm_error_refuses_non_finite_matrices(n, bad, where, exact):
    # Before: torch's _LinAlgError from inside the eigenvalue solver.
    matrices = {"estimate": alibi_kernel(n, [0.1])[0], "target": alibi_kernel(n, [0.1])[0]}
    matrices[where][0, 1] = bad
    with pytest.raises(ValueError, match=f"{where} must be finite; it contains NaN or infinite values"):
        spectral_norm_error(matrices["estimate"], matrices["target"], exact=exact)


@pytest.mark.parametrize("error", [max_norm_error, relative_frobenius_error])
@pytest.mark.parametrize("where", ["estimate", "target"])
def test_entrywise_errors_refuse_non_finite_matrices(error, where):
    # Before: NaN came back as the error, and a chart would draw it as a gap or a number.
    matrices = {"estimate": alibi_kernel(8, [0.1])[0], "target": alibi_kernel(8, [0.1])[0]}
    matrices[where][2, 3] = math.nan
    with pytest.raises(ValueError, match=f"{where} must be finite"):
        error(matrices["estimate"], matrices["target"])


def test_entrywise_errors_are_the_two_metrics_from_one_difference():
    kernels = alibi_kernel(40, [0.5, 0.1, 0.02])
    means, _ = mask_running_mean(40, 0.1, 16, "cuts", seed=2, checkpoints=[1, 4, 16])
    max_errors, frobenius = entrywise_errors(means, kernels[1])
    assert torch.equal(max_errors, max_norm_error(means, kernels[1]))
    assert torch.equal(frobenius, relative_frobenius_error(means, kernels[1]))
    # A caller's cached ||target||_F gives the same numbers; per-target batches too.
    norms = torch.linalg.matrix_norm(kernels.to(torch.float64))
    batched = entrywise_errors(means, kernels, target_norm=norms)
    assert torch.equal(batched[1], relative_frobenius_error(means, kernels))
    assert torch.equal(batched[0], max_norm_error(means, kernels))
    with pytest.raises(ValueError, match="estimate must be finite"):
        entrywise_errors(torch.full((4, 4), math.nan), kernels[0, :4, :4])
