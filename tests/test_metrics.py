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


# --- metrics outside their assumptions -------------------------------------------------------------


def test_spectral_norm_of_a_non_symmetric_difference_is_its_largest_singular_value():
    # Before: max |eigenvalue| of a causal estimate, triu(ones(4, 4)) against 0, gave 1.0.
    estimate = torch.triu(torch.ones(4, 4))
    expected = float(torch.linalg.matrix_norm(estimate.double(), ord=2))
    assert expected == pytest.approx(2.8794, abs=1e-4)
    for exact in (False, True):
        assert spectral_norm_error(estimate, torch.zeros(4, 4), exact=exact).item() == pytest.approx(
            expected, rel=1e-12
        )
    # Large enough for Lanczos (on [[0, E], [E^T, 0]]): a causal mean against the kernel.
    n = 300
    means, _ = mask_running_mean(n, 0.1, 4, seed=2, checkpoints=[4])
    causal = torch.tril(means[0]).double()
    kernel = alibi_kernel(n, [0.1])[0]
    reference = torch.linalg.matrix_norm(causal - kernel, ord=2).item()
    assert spectral_norm_error(causal, kernel).item() == pytest.approx(reference, rel=1e-6)


def test_lanczos_is_within_its_stated_accuracy_where_the_old_stop_was_off_by_7e_4():
    """The stopping rule is a residual bound: an eigenvalue lies within 1e-6 relative of the
    result, and a Ritz value never exceeds the true norm. Seed 148413 (n = 500, m = 1, R = 2) was
    7e-4 low with the old rule (the largest Ritz value stalled for a step)."""
    cases = [(500, 1.0, 2, "binning", 148413)] + [
        (n, slope, r, scheme, seed)
        for seed, (n, slope, r, scheme) in enumerate(
            [(400, 0.5, 1, "cuts"), (350, 1 / 16, 8, "qmc"), (500, 1 / 256, 64, "binning"), (240, 1.0, 2, "cuts")]
        )
    ]
    for n, slope, r, scheme, seed in cases:
        means, _ = mask_running_mean(n, slope, r, scheme, seed, checkpoints=[r])
        kernel = alibi_kernel(n, [slope])[0]
        fast, exact = spectral_norm_error(means, kernel).item(), spectral_norm_error(means, kernel, exact=True).item()
        assert exact * (1 - 1e-6) <= fast <= exact * (1 + 1e-12), (n, slope, r, scheme, seed, fast, exact)


def test_relative_frobenius_error_of_a_zero_target_is_refused_not_nan():
    for error in (relative_frobenius_error, lambda e, t: entrywise_errors(e, t)[1]):
        with pytest.raises(ValueError, match="target has Frobenius norm 0"):
            error(torch.zeros(2, 2), torch.zeros(2, 2))
        with pytest.raises(ValueError, match="target has Frobenius norm 0"):  # one zero matrix in a batch
            error(torch.ones(2, 3, 3), torch.stack([torch.eye(3), torch.zeros(3, 3)]))


BAD_MATRICES = {
    "a list": ([[1.0, 0.0], [0.0, 1.0]], "estimate must be a real torch.Tensor"),
    "1-D": (torch.ones(3), r"estimate must be square \(\.\.\., n, n\) with n >= 1, got shape \(3,\)"),
    "0 x 0": (torch.ones(0, 0), r"estimate must be square .* got shape \(0, 0\)"),
    "complex": (torch.full((2, 2), 5j), "estimate must be real"),
    "meta": (torch.ones(2, 2, device="meta"), "meta-device"),
    "other n": (torch.ones(3, 3), "of one n"),
    "batch shapes": (torch.ones(3, 2, 2), r"batch shapes of estimate \(3,\) and target \(2,\)"),
}


@pytest.mark.parametrize("metric", [max_norm_error, relative_frobenius_error, spectral_norm_error, entrywise_errors])
@pytest.mark.parametrize("bad", list(BAD_MATRICES))
def test_metrics_refuse_what_is_not_a_batch_of_real_square_matrices(metric, bad):
    # Before: a complex estimate was cast to real (0.0 instead of 5), the others raised TypeError,
    # IndexError or RuntimeError.
    estimate, message = BAD_MATRICES[bad]
    target = torch.eye(2).expand(2, 2, 2) if bad == "batch shapes" else torch.eye(2)
    with pytest.raises(ValueError, match=message):
        metric(estimate, target)
    if bad in ("a list", "complex", "meta"):
        with pytest.raises(ValueError, match=message.replace("estimate", "target")):
            metric(torch.eye(2), estimate)


def test_metrics_broadcast_a_batch_against_one_target():
    means = torch.rand(3, 5, 5, generator=torch.Generator().manual_seed(0))
    target = torch.eye(5)
    one_by_one = torch.stack([max_norm_error(m, target) for m in means])
    torch.testing.assert_close(max_norm_error(means, target), one_by_one)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: max_norm_bound(10**400, 4), r"n must be an integer >= 1 and <= 9007199254740992"),
        (lambda: max_norm_bound(10, 4, delta="0.1"), "delta must be a finite number in"),
        (lambda: max_norm_bound(10, 4, delta=True), "delta must be a finite number in"),
        (lambda: max_norm_bound(10, 4.0), "num_samples must be an integer"),
        (lambda: spectral_norm_bound(10, 0.1, 4, scheme="foo"), r"scheme must be one of \('binning', 'cuts', 'qmc'\)"),
        (lambda: block_size_bound(10, 0.1, 4, scheme=["cuts"]), "scheme must be one of"),
        (lambda: spectral_norm_bound(10, "0.1", 4), "slope must be a finite number >= 0"),
        (lambda: spectral_norm_error(torch.eye(2), torch.eye(2), exact="no"), "exact must be True or False"),
        (lambda: spectral_norm_bound(2**40, 2.0, 4, kernel="power"), "MAX_ALLOCATION_BYTES"),
    ],
)
def test_bounds_and_flags_refuse_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bounds_at_sizes_far_past_any_dense_matrix_are_closed_forms():
    # Before: spectral_norm_bound(10**9, 0.1, 4) built 8 GB of kernel values.
    value = spectral_norm_bound(10**9, 0.1, 4)
    assert 0 < value < 1e4
    assert max_norm_bound(2**53, 4096) == pytest.approx(
        math.sqrt((2 * math.log(2**53) - math.log(0.05)) / 8192), rel=1e-12
    )


@pytest.mark.parametrize(
    "kernel", [PositionalKernel.alibi(0.3), PositionalKernel.alibi(0.0), PositionalKernel.power_law(1.5)]
)
@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_kernel_operator_norm_is_the_largest_row_sum_of_the_dense_kernel(kernel, n):
    d = torch.arange(n, dtype=torch.float64)
    dense = kernel((d[:, None] - d[None, :]).abs())
    assert kernel_operator_norm(n, kernel) == pytest.approx(float(dense.sum(dim=1).max()), rel=1e-12)
