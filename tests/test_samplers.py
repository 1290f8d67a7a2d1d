"""Sampled partitions and masks: structure, determinism, and Monte-Carlo agreement with the kernel."""

from __future__ import annotations

import math

import pytest
import torch

from alibi_lsh import (
    SCHEMES,
    Partition,
    alibi_kernel,
    mask_running_mean,
    max_norm_error,
    sample_masks,
    sample_partitions,
    spectral_norm_error,
)
from alibi_lsh._checks import MAX_SAMPLES
from alibi_lsh.kernels import PositionalKernel
from alibi_lsh.samplers import check_draw_size, make_sampler


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("slope", [1.0, 1 / 8, 1 / 64])
def test_masks_are_binary_symmetric_contiguous_blocks(scheme, slope):
    n = 97
    masks = sample_masks(n, slope, 6, scheme, seed=3)
    assert masks.dtype == torch.bool and masks.shape == (6, n, n)
    assert torch.equal(masks, masks.transpose(1, 2))
    assert masks.diagonal(dim1=1, dim2=2).all()
    for mask in masks:
        for row in mask:
            ones = row.nonzero().reshape(-1)
            assert torch.equal(ones, torch.arange(ones[0], ones[-1] + 1))  # one contiguous run


def test_binning_partition_layout():
    partition = Partition.from_binning(10, 4, 1)  # block(i) = floor((i + 1) / 4)
    assert partition.starts.tolist() == [0, 3, 7]
    assert partition.lengths().tolist() == [3, 4, 3]
    assert partition.block_ids().tolist() == [(i + 1) // 4 for i in range(10)]
    assert Partition.from_binning(10, 64, 5).starts.tolist() == [0]
    assert Partition.from_binning(8, 4, 0).starts.tolist() == [0, 4]
    with pytest.raises(ValueError, match="shift"):
        Partition.from_binning(10, 4, 4)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_same_seed_same_partitions(scheme):
    first = sample_partitions(200, 0.1, 8, scheme, seed=11)
    again = sample_partitions(200, 0.1, 8, scheme, seed=11)
    other = sample_partitions(200, 0.1, 8, scheme, seed=12)
    assert all(torch.equal(a.starts, b.starts) for a, b in zip(first, again))
    assert not all(torch.equal(a.starts, b.starts) for a, b in zip(first, other))
    # A generator stands for the one integer seed drawn from it.
    drawn = int(torch.randint(0, 2**63 - 1, (1,), generator=torch.Generator().manual_seed(11)))
    from_generator = sample_partitions(200, 0.1, 8, scheme, seed=torch.Generator().manual_seed(11))
    expected = sample_partitions(200, 0.1, 8, scheme, seed=drawn)
    assert all(torch.equal(a.starts, b.starts) for a, b in zip(expected, from_generator))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("slope", [0.3, 1 / 32])
def test_monte_carlo_mean_matches_the_kernel_within_five_sigma(scheme, slope):
    # Each entry of the mean of R masks has standard deviation sqrt(K (1 - K) / R) for independent
    # samples. Pairs at distance d share one K, so we average the R x (n - d) indicators per d
    # (positively correlated along a diagonal, which only shrinks the effective count: we use R as
    # the count, a conservative sigma) and demand every distance within 5 sigma.
    n, samples = 64, 4000
    masks = sample_masks(n, slope, samples, scheme, seed=2024).double()
    d = torch.arange(n)
    per_distance = torch.stack([masks.diagonal(offset=int(k), dim1=1, dim2=2).mean() for k in d])
    kernel = torch.exp(-slope * d.double())
    sigma = torch.sqrt(kernel * (1 - kernel) / samples).clamp_min(1e-12)
    assert ((per_distance - kernel).abs() <= 5 * sigma + 1e-12).all()


def test_running_mean_matches_cumulative_mean_of_masks():
    masks = sample_masks(50, 0.2, 20, "cuts", seed=5).float()
    means, checkpoints = mask_running_mean(50, 0.2, 20, "cuts", seed=5, checkpoints=[20, 1, 7, 7])
    assert checkpoints.tolist() == [1, 7, 20]
    expected = masks.cumsum(0)[checkpoints - 1] / checkpoints[:, None, None]
    torch.testing.assert_close(means, expected, rtol=0, atol=1e-6)
    everything, all_r = mask_running_mean(50, 0.2, 20, "cuts", seed=5)
    assert all_r.tolist() == list(range(1, 21)) and everything.shape == (20, 50, 50)


def test_slope_zero_is_one_block():
    masks = sample_masks(30, 0.0, 3, "binning", seed=0)
    assert masks.all()


@pytest.mark.parametrize("scheme", ["binning", "cuts"])
def test_error_falls_like_one_over_sqrt_r(scheme):
    # Max-norm and spectral errors at R = 256 should be about sqrt(256/4) = 8 times below those at
    # R = 4. Averaged over 4 seeds the measured ratio lies in [4, 16] (2x either way).
    n, slope = 256, 1 / 16
    kernel = alibi_kernel(n, [slope])[0]
    ratios_max, ratios_spectral = [], []
    for seed in range(4):
        means, _ = mask_running_mean(n, slope, 256, scheme, seed=seed, checkpoints=[4, 256])
        errors_max = max_norm_error(means, kernel)
        errors_spectral = spectral_norm_error(means, kernel)
        ratios_max.append(errors_max[0] / errors_max[1])
        ratios_spectral.append(errors_spectral[0] / errors_spectral[1])
    for ratios in (ratios_max, ratios_spectral):
        mean_ratio = torch.stack(ratios).mean().item()
        assert 4.0 <= mean_ratio <= 16.0, mean_ratio


def test_qmc_beats_binning_on_spectral_error():
    n, slope, samples = 256, 1 / 16, 64
    kernel = alibi_kernel(n, [slope])[0]
    errors = {}
    for scheme in ("binning", "qmc"):
        values = []
        for seed in range(6):
            means, _ = mask_running_mean(n, slope, samples, scheme, seed=seed, checkpoints=[samples])
            values.append(spectral_norm_error(means, kernel)[0])
        errors[scheme] = torch.stack(values).mean().item()
    assert errors["qmc"] < 0.8 * errors["binning"], errors


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sample_masks(0, 0.1, 2), "n must be"),
        (lambda: sample_masks(10, -0.1, 2), "slope must be a finite number >= 0"),
        (lambda: sample_masks(10, math.inf, 2), "slope must be a finite number >= 0"),
        (lambda: sample_masks(10, 0.1, 0), "num_samples must be"),
        (lambda: sample_masks(10, 0.1, 2, scheme="lsh"), "scheme must be one of"),
        (lambda: sample_masks(4096, 0.1, 16), "MAX_DENSE_ELEMENTS"),
        (lambda: mask_running_mean(10, 0.1, 4, checkpoints=[5]), "checkpoints"),
        (lambda: sample_masks(10, 0.1, 2, seed=-1), "seed"),
    ],
)
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


TOO_MANY = "num_samples must be an integer >= 1 and <= 65536, got 65537"


@pytest.mark.parametrize(
    "call",
    [
        lambda r: sample_partitions(8, 0.1, r),
        lambda r: sample_masks(8, 0.1, r, scheme="cuts"),
        lambda r: mask_running_mean(8, 0.1, r, checkpoints=[1]),
        lambda r: make_sampler("qmc", PositionalKernel.alibi(0.1)).block_table(8, r, seed=0),
        lambda r: make_sampler("binning", PositionalKernel.alibi(0.1)).draw(r, seed=0),
        lambda r: make_sampler("cuts", PositionalKernel.alibi(0.1)).cuts_after(0, 7, r, seed=0),
    ],
    ids=["sample_partitions", "sample_masks", "mask_running_mean", "block_table", "binning draw", "cuts_after"],
)
def test_num_samples_is_capped_before_any_work(call):
    assert MAX_SAMPLES == 2**16
    with pytest.raises(ValueError, match=TOO_MANY):
        call(MAX_SAMPLES + 1)
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1 and <= 65536, got 1000000000"):
        call(10**9)  # was a numpy MemoryError, or minutes of work


def test_the_cap_itself_is_allowed():
    widths, shifts = make_sampler("binning", PositionalKernel.alibi(0.1)).draw(MAX_SAMPLES, seed=0)
    assert widths.shape == shifts.shape == (MAX_SAMPLES,)


@pytest.mark.parametrize(
    ("scheme", "kernel", "slope"),
    [
        ("binning", None, 0.3),
        ("qmc", None, 1 / 40),
        ("cuts", None, 0.2),
        ("binning", "power", 1.5),
        ("cuts", None, 0.0),
    ],
)
def test_block_table_lists_the_blocks_of_the_partitions(scheme, kernel, slope):
    from alibi_lsh.kernels import resolve_kernel
    from alibi_lsh.samplers import make_sampler

    partitions = sample_partitions(77, slope, 9, scheme, seed=6, kernel=kernel, head=3)
    sample, start, end = make_sampler(scheme, resolve_kernel(kernel, slope)).block_table(77, 9, seed=6, head=3)
    for r, partition in enumerate(partitions):
        assert start[sample == r].tolist() == partition.starts.tolist()
        assert end[sample == r].tolist() == (partition.starts + partition.lengths()).tolist()


# --- helpers that took anything ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuts", "message"),
    [
        ([3, 1], r"cuts must increase strictly within 1..n-1 = 1..4, got \[3, 1\]"),  # lengths were [3, -2, 4]
        ([2, 2], "cuts must increase strictly"),
        ([0], r"cuts must be integers in 1..4"),
        ([5], r"cuts must be integers in 1..4"),
        ([1.5], r"cuts must be integers in 1..4, got \[1.5\]"),
        (["a"], r"cuts must be integers in 1..4"),
        ([[1, 2]], r"cuts must be 1-D"),
        (torch.tensor([2.0]), "got torch.float32 values"),
        (torch.tensor([True]), "got torch.bool values"),
        (torch.ones(1, dtype=torch.int64, device="meta"), "meta-device"),
    ],
)
def test_from_cuts_refuses_cuts_out_of_order_range_or_type(cuts, message):
    with pytest.raises(ValueError, match=message):
        Partition.from_cuts(5, cuts)


def test_from_cuts_and_the_constructor_accept_exactly_the_valid_partitions():
    assert Partition.from_cuts(5, [1, 3]).lengths().tolist() == [1, 2, 2]
    assert Partition.from_cuts(5, torch.tensor([4])).lengths().tolist() == [4, 1]
    assert Partition.from_cuts(1, []).lengths().tolist() == [1]
    assert Partition(5, torch.tensor([0, 2])).lengths().tolist() == [2, 3]
    for starts in (torch.tensor([1, 2]), torch.tensor([0, 3, 1]), torch.tensor([0, 5]), torch.tensor([0.0]), [0]):
        with pytest.raises(ValueError, match="starts must"):
            Partition(5, starts)


@pytest.mark.parametrize(
    ("checkpoints", "message"),
    [
        ([1.5], r"checkpoints must be integers in 1..4, got \[1.5\]"),  # was read as 1
        (["a"], r"checkpoints must be integers in 1..4, got \['a'\]"),  # the message did not name them
        ([True], r"checkpoints must be integers in 1..4"),
        (torch.tensor([2.0]), r"checkpoints must be integers in 1..4, got torch.float32 values"),
        ([[1, 2]], "checkpoints must be 1-D"),
        ([0], r"checkpoints must be integers in 1..4"),
        ([], "checkpoints must be non-empty"),
    ],
)
def test_mask_running_mean_refuses_checkpoints_that_are_not_integers_in_range(checkpoints, message):
    with pytest.raises(ValueError, match=message):
        mask_running_mean(10, 0.1, 4, checkpoints=checkpoints)


@pytest.mark.parametrize(
    "call",
    [
        lambda: sample_partitions(10**10, 1.0, 1),  # was 13 GB of block starts
        lambda: mask_running_mean(
            4096, 1e-3, 65536, checkpoints=[65536]
        ),  # passed the dense cap, then 2 GiB temporaries
        lambda: make_sampler("cuts", PositionalKernel.alibi(0.5)).block_table(2**20, 64, seed=0),
    ],
)
def test_sampled_positions_are_checked_against_the_memory_cap_before_drawing(call):
    with pytest.raises(ValueError, match=r"n \* num_samples asks for .* bytes, above the cap of MAX_ALLOCATION_BYTES"):
        call()


def test_the_largest_draw_of_the_demo_fits_the_cap():
    # python -m alibi_lsh demo allows n = 4096 and R = 4096: 2^24 sampled positions.
    check_draw_size(4096, 4096)
    with pytest.raises(ValueError, match="MAX_ALLOCATION_BYTES"):
        check_draw_size(4096, 8192)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: make_sampler(["binning"], PositionalKernel.alibi(0.1)),
            r"scheme must be one of .*, got \['binning'\]",
        ),
        (lambda: make_sampler("Binning", PositionalKernel.alibi(0.1)), "scheme must be one of"),
        (lambda: make_sampler("binning", 0.1), "kernel must be a PositionalKernel"),
        (lambda: make_sampler("cuts", "alibi"), "kernel must be a PositionalKernel"),
        (lambda: sample_partitions(10, 0.1, 2, scheme=None), "scheme must be one of"),
        (lambda: sample_partitions(10, True, 2), "slope must be a finite number >= 0, got True"),
        (lambda: sample_partitions(10, 0.1, 2, seed=1.0), "seed must be an integer"),
        (lambda: sample_partitions(10, 0.1, 2, seed=True), "seed must be an integer"),
        (lambda: sample_partitions(10, 0.1, 2, head=-1), "head must be an integer"),
        (lambda: sample_partitions(10.0, 0.1, 2), "n must be an integer"),
    ],
)
def test_samplers_refuse_look_alike_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: Partition.from_binning(2**40, 2, 0),  # 4 TB of block starts
        lambda: Partition.from_cuts(2**40, [5]).block_ids(),  # 16 TB of ids
        lambda: PositionalKernel.alibi(0.5).distance_values(2**40),
    ],
    ids=["from_binning", "block_ids", "distance_values"],
)
def test_partition_and_kernel_helpers_check_their_size_before_allocating(call):
    with pytest.raises(ValueError, match=r"n asks for .* bytes, above the cap of MAX_ALLOCATION_BYTES"):
        call()


def test_a_partition_of_2_40_positions_in_wide_blocks_is_small_and_exact():
    partition = Partition.from_binning(2**40, 2**38, 3)
    assert partition.starts.tolist() == [0, 2**38 - 3, 2 * 2**38 - 3, 3 * 2**38 - 3, 4 * 2**38 - 3]
    assert int(partition.lengths().sum()) == 2**40
