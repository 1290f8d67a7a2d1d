"""The width law pi(W) = W (k(W-1) - 2k(W) + k(W+1)) and the exactness of each scheme, analytically."""

from __future__ import annotations

import math

import pytest
import torch

from alibi_lsh import PositionalKernel, make_sampler, resolve_kernel
from alibi_lsh.kernels import MAX_WIDTH


def binning_same_block_probability(kernel: PositionalKernel, d: torch.Tensor, widths: int) -> torch.Tensor:
    """P[two positions d apart share a block] = sum_W pi(W) (1 - d/W)_+, summed over W <= widths.

    The tail W > widths contributes at most P(W > widths), which the tests make negligible.
    """
    w = torch.arange(1, widths + 1, dtype=torch.float64)
    triangle = (1.0 - d[:, None] / w[None, :]).clamp_min(0.0)
    return (kernel.width_pmf(w)[None, :] * triangle).sum(dim=1)


@pytest.mark.parametrize("slope", [2.0, 0.5, 1 / 16, 1 / 256])
def test_alibi_width_law_sums_to_one_and_matches_the_closed_form(slope):
    kernel = PositionalKernel.alibi(slope)
    widths = int(60 / slope) + 100  # P(W > widths) = q^w (1 + w(1-q)) < 1e-24
    w = torch.arange(1, widths + 1, dtype=torch.float64)
    pmf = kernel.width_pmf(w)
    q = math.exp(-slope)
    torch.testing.assert_close(pmf, w * q ** (w - 1) * (1 - q) ** 2, rtol=1e-9, atol=1e-15)
    assert abs(pmf.sum().item() - 1.0) < 1e-12
    assert abs((w * pmf).sum().item() - (1 + q) / (1 - q)) < 1e-9 * (1 + q) / (1 - q)
    assert kernel.mean_width() == pytest.approx((1 + q) / (1 - q), rel=1e-12)


@pytest.mark.parametrize("slope", [2.0, 0.5, 1 / 16, 1 / 256])
def test_binning_expectation_is_exactly_the_alibi_kernel(slope):
    kernel = PositionalKernel.alibi(slope)
    d = torch.arange(0, 400, dtype=torch.float64)
    expectation = binning_same_block_probability(kernel, d, int(60 / slope) + 100)
    assert (expectation - torch.exp(-slope * d)).abs().max().item() < 1e-12


@pytest.mark.parametrize("slope", [0.5, 1 / 16, 1 / 256])
def test_cuts_expectation_is_exactly_the_alibi_kernel(slope):
    # Two positions d apart share a block iff none of the d gaps between them is cut.
    sampler = make_sampler("cuts", PositionalKernel.alibi(slope))
    d = torch.arange(0, 400, dtype=torch.float64)
    no_cut = (1.0 - sampler.cut_probability) ** d
    assert (no_cut - torch.exp(-slope * d)).abs().max().item() < 1e-12


@pytest.mark.parametrize("exponent", [0.5, 1.0, 2.0])
def test_power_law_kernel_is_reproduced_by_binning(exponent):
    kernel = resolve_kernel("power", exponent)
    widths = 200_000
    w = torch.arange(1, widths + 1, dtype=torch.float64)
    total = kernel.width_pmf(w).sum().item()
    tail = kernel.width_tail(torch.tensor(float(widths))).item()
    assert abs(total + tail - 1.0) < 1e-12  # the law and its closed-form tail account for all mass
    d = torch.arange(0, 50, dtype=torch.float64)
    expectation = binning_same_block_probability(kernel, d, widths)
    # Widths beyond the sum add at most tail * 1 to each entry.
    assert (expectation - (1 + d) ** (-exponent)).abs().max().item() <= tail + 1e-12


def test_width_quantile_inverts_the_cdf():
    kernel = PositionalKernel.alibi(0.1)
    u = torch.linspace(0, 0.999999, 1001, dtype=torch.float64)
    widths = kernel.width_quantile(u)
    cdf = lambda w: 1.0 - kernel.width_tail(w.to(torch.float64))  # noqa: E731
    assert (cdf(widths) >= u - 1e-15).all()  # W reaches u ...
    assert ((widths == 1) | (cdf(widths - 1) < u)).all()  # ... and W - 1 does not: the smallest such W


def test_non_convex_kernel_is_refused_with_the_distance():
    gaussian = lambda d: torch.exp(-((d / 10.0) ** 2))  # noqa: E731  concave near 0
    with pytest.raises(ValueError, match=r"not convex at d = 1"):
        PositionalKernel.from_callable(gaussian, "gaussian")
    # Convex at first, then a concave kink at d = 20.
    kinked = lambda d: torch.where(d < 20, 1 - d / 40, 0.5 * torch.exp(-(d - 20) / 5.0))  # noqa: E731
    with pytest.raises(ValueError, match=r"not convex at d = 20"):
        resolve_kernel(kinked, 0.0)


def test_kernel_checks_reject_other_invalid_kernels():
    with pytest.raises(ValueError, match="k\\(0\\) = 1"):
        PositionalKernel.from_callable(lambda d: 0.5 * torch.exp(-d))
    with pytest.raises(ValueError, match="non-increasing"):
        PositionalKernel.from_callable(lambda d: torch.exp(-d) + (d == 3).double() * 0.5)
    with pytest.raises(ValueError, match="decay to 0"):
        PositionalKernel.from_callable(lambda d: 0.5 + 0.5 * torch.exp(-d))
    with pytest.raises(ValueError, match="kernel must be one of"):
        resolve_kernel("gauss", 1.0)
    with pytest.raises(ValueError, match="exponent"):
        resolve_kernel("power", 0.0)
    with pytest.raises(ValueError, match="scheme 'cuts' reproduces only"):
        make_sampler("cuts", PositionalKernel.power_law(1.0))


def test_power_law_quantile_between_2_53_and_2_62_returns_instead_of_hanging():
    """Before: float64 bisection could not split [lo, hi] once both were above 2^53, so this call
    (and drawing a few hundred power-law partitions) never returned."""
    kernel = PositionalKernel.power_law(0.25)
    u = torch.tensor([0.9999, 0.99999999], dtype=torch.float64)
    widths = kernel.width_quantile(u)
    assert widths[0] > 2**53 and kernel.width_tail(widths[:1].double()).item() <= 1 - u[0].item()
    assert widths[1] == MAX_WIDTH  # P(W > 2^62) = 2e-5 > 1e-8: the cap
    draws = make_sampler("binning", kernel).sample(16, 400, seed=5)  # a few hundred draws finish
    assert len(draws) == 400


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: PositionalKernel.alibi(0.5).width_quantile(torch.tensor([1.5])),
            r"u must be real numbers in \[0, 1\]",
        ),
        (lambda: PositionalKernel.alibi(0.5).width_quantile([-0.1]), r"u must be real numbers in \[0, 1\]"),
        (lambda: PositionalKernel.alibi(0.5).width_quantile(float("nan")), r"u must be real numbers in \[0, 1\]"),
        (lambda: PositionalKernel.alibi(0.5).width_quantile("0.5"), r"u must be real numbers in \[0, 1\]"),
        (lambda: PositionalKernel.alibi(0.5).width_quantile(torch.tensor([0.5j])), "u must be real numbers"),
        (lambda: PositionalKernel.alibi(0.5).width_quantile(torch.ones(1, device="meta")), "meta-device"),
        (lambda: PositionalKernel.power_law(None), "exponent must be a finite number > 0, got None"),
        (lambda: PositionalKernel.power_law("2"), "exponent must be a finite number > 0, got '2'"),
        (lambda: PositionalKernel.power_law(True), "exponent must be a finite number > 0, got True"),
        (lambda: PositionalKernel.alibi(1j), "slope must be a finite number >= 0, got 1j"),
        (lambda: PositionalKernel.from_callable(5), "fn must be a callable k"),
        (lambda: PositionalKernel.from_callable(lambda d: d.foo), "fails on a float64 tensor of distances"),
        (lambda: PositionalKernel.from_callable(lambda d: 3), "must map a float64 tensor"),
        (lambda: PositionalKernel.from_callable(torch.exp, name=3), "name must be a string"),
        (lambda: resolve_kernel(torch.tensor([1.0]), 0.5), "kernel must be one of"),
        (lambda: resolve_kernel(dict, 0.5), "kernel must be one of"),
    ],
)
def test_kernel_constructors_and_the_quantile_refuse_bad_arguments(call, message):
    # Before: width_quantile(1.5) was 2^62, power_law(None) and from_callable(5) raised TypeError.
    with pytest.raises(ValueError, match=message):
        call()


def test_width_quantile_at_the_ends_of_its_range():
    kernel = PositionalKernel.alibi(0.5)
    assert kernel.width_quantile(torch.tensor([0.0])).tolist() == [1]
    top = kernel.width_quantile(1.0)  # the first width whose tail underflows to 0 in float64
    assert kernel.width_tail(top.double()).item() == 0.0 < kernel.width_tail(top.double() - 1).item()
    assert PositionalKernel.power_law(1.0).width_quantile(1.0).item() == MAX_WIDTH  # a tail that stays > 0: the cap
