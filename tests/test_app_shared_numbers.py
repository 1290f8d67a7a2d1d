"""The app's numbers that are computed once and shared (per n, per slope, per setting) are the
library's numbers: the cheaper paths a page open takes give the same values, bit for bit where
the arithmetic is the same and within float64 rounding where it is reordered."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alibi_lsh.app.data import attention_data, mask_data, theory_data
from alibi_lsh.kernels import PositionalKernel
from alibi_lsh.metrics import block_size_bound, max_norm_error, relative_frobenius_error, spectral_norm_bound
from alibi_lsh.slopes import alibi_kernel, alibi_slopes

N, R = 96, 24


@pytest.mark.parametrize("n", [1, 2, 37, 96])
def test_toeplitz_kernels_are_alibi_kernel_bit_for_bit(n):
    slopes = alibi_slopes(8).tolist()
    assert torch.equal(mask_data.toeplitz_kernels(n, slopes), alibi_kernel(n, slopes))


def test_claim_numbers_are_the_library_metrics_and_are_shared():
    mask_data.clear_kernel_cache()
    slope = alibi_slopes(8)[5].item()
    data = mask_data.claim_data(N, slope, R, "cuts", 11, 5)
    mean, kernel = mask_data.mean_of_masks(N, slope, R, "cuts", 11, 5), alibi_kernel(N, [slope])[0]
    # The same float64 difference as the library's metrics: equal up to the order of the sums.
    assert data.max_error == float(max_norm_error(mean, kernel))
    assert data.frobenius_error == pytest.approx(float(relative_frobenius_error(mean, kernel)), rel=1e-12)
    assert data.spectral_bound == spectral_norm_bound(N, slope, R, 0.05, "cuts")
    assert mask_data.claim_data(N, slope, R, "cuts", 11, 5) is data  # one computation per setting
    mask_data.clear_kernel_cache()
    assert mask_data.claim_data(N, slope, R, "cuts", 11, 5) is not data


def test_bounds_table_bounds_are_the_library_bounds_at_any_delta():
    slope = 0.0625
    table = theory_data.bounds_table(N, slope, R, "binning", 2, delta=0.2, head=3)
    assert table["bound (95%)"][2] == block_size_bound(N, slope, R, 0.2, "binning")
    assert table["bound (95%)"][1] == spectral_norm_bound(N, slope, R, 0.2, "binning")
    assert table["measured"][0] == mask_data.claim_data(N, slope, R, "binning", 2, 3).max_error


def test_width_law_moments_per_slope():
    slope = 0.125
    total, mean_width, threshold, tail = theory_data.width_law_moments(slope)
    kernel = PositionalKernel.alibi(slope)
    q = math.exp(-slope)
    assert mean_width == pytest.approx((1 + q) / (1 - q), rel=1e-12) and threshold == math.floor(mean_width)
    assert total == pytest.approx(1.0, abs=1e-12)  # the law's mass beyond 200000 is below 1e-12
    assert tail == float(kernel.width_tail(torch.tensor([float(threshold)]))[0])
    table = theory_data.width_law_check(N, slope, "binning", 4)
    assert table["analytic"].tolist() == [total, mean_width, tail]


def test_kernel_profile_is_shared_and_read_only():
    exact, mixture = theory_data.kernel_profile("alibi", 0.25, N)
    assert theory_data.kernel_profile("alibi", 0.25, N)[0] is exact
    np.testing.assert_allclose(exact, np.exp(-0.25 * np.arange(N)), rtol=1e-15)
    np.testing.assert_allclose(mixture, exact, atol=1e-12)  # the triangle mixture is the kernel
    with pytest.raises(ValueError):
        exact[0] = 2.0


@pytest.mark.parametrize("causal", [False, True])
def test_attention_setup_keeps_its_values(causal):
    """float32 scores masked after rounding and float32 means stacked directly: the same numbers as
    rounding the float64 ones (the way the setup was built before)."""
    setup = attention_data.attention_setup(N, 4, R, "binning", 3, 1.5, causal)
    q, k, _ = attention_data.random_qkv(N, 4, 3, 1.5)
    scores = (q[0] @ k[0].transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(torch.ones(N, N, dtype=torch.bool).triu(1), -math.inf)
    assert torch.equal(setup.scores, scores.float())
    slopes = alibi_slopes(4).tolist()
    assert torch.equal(setup.means, attention_data.head_mask_means(N, slopes, R, "binning", 3).float())


@pytest.mark.parametrize(("n", "size"), [(96, 32), (100, 32), (7, 3)])
def test_downsample_is_the_block_mean(n, size):
    """Tile sums accumulated in place (and no padding copy when n divides): the mean of each
    factor x factor tile, a ragged last tile over the positions it has, float32."""
    matrix = np.random.default_rng(n).random((3, n, n))
    down, factor = mask_data.downsample(matrix, size)
    edges = np.arange(0, n, factor)
    tiles = np.add.reduceat(np.add.reduceat(matrix.astype(np.float32), edges, axis=-1), edges, axis=-2)
    counts = np.diff(np.append(edges, n))
    assert down.dtype == np.float32 and factor == max(1, math.ceil(n / size))
    np.testing.assert_allclose(down, tiles / counts[:, None] / counts[None, :], rtol=1e-6)
    unchanged, one = mask_data.downsample(matrix, n)  # at display size already
    assert unchanged is matrix and one == 1


def test_dense_lsh_output_is_the_library_reference_estimator():
    """The page's dense LSH output is the library's reference estimator on the same blocks; its
    mask means are float32 copies of count / R, so they agree to float32 rounding of M_hat."""
    from alibi_lsh import lsh_alibi_attention_reference

    for causal in (True, False):
        setup = attention_data.attention_setup(N, 3, R, "qmc", 8, 2.0, causal)
        reference = lsh_alibi_attention_reference(setup.q, setup.k, setup.v, setup.slopes, R, causal, "qmc", 8)
        torch.testing.assert_close(attention_data.dense_lsh_output(setup), reference, rtol=1e-6, atol=1e-7)
