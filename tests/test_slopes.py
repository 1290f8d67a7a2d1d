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
