"""ALiBi slopes, bias and kernel against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from alibi_lsh import alibi_bias, alibi_kernel, alibi_slopes


@pytest.mark.parametrize(
    ("heads", "exponents"),
    [
        # power of two: 2^(-8k/H)
        (8, [-1, -2, -3, -4, -5, -6, -7, -8]),
        (4, [-2, -4, -6, -8]),
        # 6 = 4 + 2: slopes of 4 heads, then the 8-head sequence at k = 1, 3
        (6, [-2, -4, -6, -8, -1, -3]),
        # 12 = 8 + 4: slopes of 8 heads, then the 16-head sequence at k = 1, 3, 5, 7
        (12, [-1, -2, -3, -4, -5, -6, -7, -8, -0.5, -1.5, -2.5, -3.5]),
        (1, [-8]),
        # 3 = 2 + 1: 2^-4, 2^-8, then 2^-2 from the 4-head sequence
        (3, [-4, -8, -2]),
    ],
)
def test_slopes_match_the_paper_recipe(heads, exponents):
    expected = torch.tensor([2.0**e for e in exponents], dtype=torch.float32)
    torch.testing.assert_close(alibi_slopes(heads), expected, rtol=0, atol=0)


def test_bias_and_kernel_entries():
    slopes = torch.tensor([0.5, 0.125])
    bias = alibi_bias(5, slopes)
    assert bias.shape == (2, 5, 5)
    assert bias[0, 4, 1].item() == -1.5 and bias[1, 0, 4].item() == -0.5
    causal = alibi_bias(5, slopes, causal=True)
    assert causal[0, 1, 3].item() == -math.inf and causal[0, 3, 1].item() == -1.0
    kernel = alibi_kernel(5, slopes)
    torch.testing.assert_close(kernel, torch.exp(bias.double()))
    assert torch.equal(kernel.diagonal(dim1=-2, dim2=-1), torch.ones(2, 5, dtype=torch.float64))


@pytest.mark.parametrize("bad", [0, -3, 2.5, "8", True])
def test_slopes_reject_bad_head_counts(bad):
    with pytest.raises(ValueError, match="num_heads"):
        alibi_slopes(bad)


def test_bias_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        alibi_bias(0, [0.5])
    with pytest.raises(ValueError, match=r"slopes must be finite and >= 0; slopes\[1\]"):
        alibi_kernel(4, [0.5, -1.0])
    with pytest.raises(ValueError, match="slopes"):
        alibi_kernel(4, [float("nan")])
    with pytest.raises(ValueError, match="MAX_DENSE_ELEMENTS"):
        alibi_kernel(20_000, [0.5])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: alibi_slopes(10**8), r"num_heads must be an integer >= 1 and <= 65536, got 100000000"),
        (lambda: alibi_slopes(2**40), "num_heads must be an integer >= 1 and <= 65536"),  # never returned
        (lambda: alibi_slopes(8.0), "num_heads must be an integer"),
        (lambda: alibi_bias(4, [0.5], dtype=torch.int64), "dtype must be a floating torch.dtype"),  # wrote INT64_MIN
        (lambda: alibi_bias(4, [0.5], dtype=torch.bool), "dtype must be a floating torch.dtype"),
        (lambda: alibi_bias(4, [0.5], dtype="float32"), "dtype must be a floating torch.dtype"),
        (lambda: alibi_kernel(4, [0.5], dtype=torch.int32), "dtype must be a floating torch.dtype"),
        (lambda: alibi_bias(4, [0.5], causal="False"), "causal must be True or False, got 'False'"),
        (lambda: alibi_bias(4, [0.5], causal=None), "causal must be True or False, got None"),
        (lambda: alibi_bias(4, [0.5j]), "slopes must be numbers, one slope per head"),  # the imaginary part was dropped
        (lambda: alibi_bias(4, [True]), "slopes must be numbers, one slope per head"),
        (lambda: alibi_kernel(4, "0.5"), "slopes must be numbers, one slope per head"),
        (lambda: alibi_kernel(4, torch.ones(1, device="meta")), "meta-device"),
        (lambda: alibi_kernel(2**14, [0.1]), "MAX_DENSE_ELEMENTS"),
    ],
)
def test_slopes_bias_and_kernel_refuse_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_head_cap_itself_is_allowed_and_matches_the_power_of_two_rule():
    slopes = alibi_slopes(2**16)
    assert slopes.shape == (2**16,)
    k = torch.tensor([1, 2**15, 2**16], dtype=torch.float64)
    torch.testing.assert_close(slopes[[0, 2**15 - 1, 2**16 - 1]].double(), 2.0 ** (-8 * k / 2**16), rtol=1e-7, atol=0)
