"""Inputs whose last dimension is not unit-stride (a slice ``x[..., ::2]``, an ``expand`` along d, a
transpose) give the same outputs and gradients as their contiguous copies, on every path.

torch's CPU flash kernels read the last dimension as if its stride were 1; the adapter must copy
such inputs first, so these tests fail if any path hands one through unchanged.
"""

from __future__ import annotations

import pytest
import torch

from alibi_lsh import (
    alibi_attention,
    alibi_bias,
    lsh_alibi_attention,
    lsh_alibi_attention_reference,
    window_alibi_attention,
)
from alibi_lsh.attention import fused
from alibi_lsh.attention.options import AttentionOptions

from .naive_attention import alibi_weight, naive_attention

SLOPES = [0.0, 0.3]  # a slope-0 head (plain attention) beside a sampled one


def _strided(shape: tuple[int, ...], layout: str, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """A tensor of ``shape`` whose last dimension has stride != 1."""
    *lead, d = shape
    if layout == "slice":  # every other column of a wider tensor: stride 2
        return torch.randn(*lead, 2 * d, generator=generator, dtype=torch.float64).to(dtype)[..., ::2]
    if layout == "expand":  # one column repeated along d: stride 0
        return torch.randn(*lead, 1, generator=generator, dtype=torch.float64).to(dtype).expand(shape)
    return torch.randn(*lead[:-1], d, lead[-1], generator=generator, dtype=torch.float64).to(dtype).transpose(-1, -2)


def _inputs(layout: str, dtype: torch.dtype, n_q: int = 7, n_k: int = 11):
    generator = torch.Generator().manual_seed(5)
    q = _strided((2, 2, n_q, 4), layout, generator, dtype)
    k = _strided((2, 2, n_k, 4), layout, generator, dtype)
    v = _strided((2, 2, n_k, 3), layout, generator, dtype)
    grad_out = _strided((2, 2, n_q, 3), layout, generator, dtype)
    assert all(t.stride(-1) != 1 for t in (q, k, v, grad_out))
    return q, k, v, grad_out


METHODS = {
    "exact": lambda q, k, v, options: alibi_attention(q, k, v, SLOPES, options=options),
    "window": lambda q, k, v, options: window_alibi_attention(q, k, v, SLOPES, [3, 5], options=options),
    "lsh": lambda q, k, v, options: lsh_alibi_attention(q, k, v, SLOPES, 4, seed=2, options=options),
    "lsh non-causal": lambda q, k, v, options: lsh_alibi_attention(
        q, k, v, SLOPES, 4, causal=False, seed=2, options=options
    ),
}


def _reference(method: str, q, k, v) -> torch.Tensor:
    """The expected output from contiguous float64 copies, by code that never meets the strides."""
    q, k, v = (t.double().contiguous() for t in (q, k, v))
    if method.startswith("lsh"):
        return lsh_alibi_attention_reference(q, k, v, SLOPES, 4, causal=method == "lsh", seed=2)
    return naive_attention(q, k, v, alibi_weight(SLOPES, [3, 5] if method == "window" else None), True)


def _output_and_grads(method: str, options: AttentionOptions, q, k, v, grad_out):
    q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    out = METHODS[method](q, k, v, options)
    return (out, *torch.autograd.grad(out, (q, k, v), grad_out))


PATHS = [("exact", "union"), ("window", "union")] + [
    (method, path) for method in ("lsh", "lsh non-causal") for path in ("union", "per-sample")
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layout", ["slice", "expand", "transpose"])
@pytest.mark.parametrize(("method", "sample_path"), PATHS)
def test_non_unit_last_stride_equals_contiguous_copies(method, sample_path, layout, dtype):
    options = AttentionOptions(lsh_path=sample_path)
    q, k, v, grad_out = _inputs(layout, dtype)
    tolerance = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 2e-5, "atol": 2e-5}

    strided = _output_and_grads(method, options, q, k, v, grad_out)
    torch.testing.assert_close(strided[0].double(), _reference(method, q, k, v), **tolerance)
    contiguous = _output_and_grads(method, options, *(t.contiguous() for t in (q, k, v, grad_out)))
    for name, got, expected in zip(("out", "dq", "dk", "dv"), strided, contiguous):
        torch.testing.assert_close(got, expected, **tolerance, msg=lambda m, name=name: f"{name}: {m}")


def test_exact_on_a_sliced_input_equals_sdpa_with_the_alibi_bias():
    q = torch.randn(1, 1, 6, 8, generator=torch.Generator().manual_seed(0))[..., ::2]
    expected = torch.nn.functional.scaled_dot_product_attention(
        q, q, q, attn_mask=alibi_bias(6, [0.5], causal=True).float()
    )
    torch.testing.assert_close(alibi_attention(q, q, q, [0.5]), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adapter_copies_every_strided_argument_of_forward_and_backward(dtype):
    """out and grad_out reach the backward from callers too: each argument alone may be strided."""
    generator = torch.Generator().manual_seed(9)
    contiguous = [torch.randn(2, 3, 5, 4, generator=generator, dtype=torch.float64).to(dtype) for _ in range(4)]
    q, k, v, grad_out = contiguous
    mask = torch.randn(2, 3, 5, 5, generator=generator, dtype=torch.float64).to(dtype)
    out, lse = fused.attention_forward(q, k, v, 0.5, mask=mask)
    expected = fused.attention_backward(grad_out, q, k, v, out, lse, 0.5, mask=mask)
    tolerance = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}

    def strided(t: torch.Tensor) -> torch.Tensor:
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)

    for index in range(3):
        args = [q, k, v]
        args[index] = strided(args[index])
        torch.testing.assert_close(fused.attention_forward(*args, 0.5, mask=mask), (out, lse), **tolerance)
    backward_args = [grad_out, q, k, v, out]
    for index in range(len(backward_args)):
        args = list(backward_args)
        args[index] = strided(args[index])
        grads = fused.attention_backward(*args, lse, 0.5, mask=mask)
        torch.testing.assert_close(grads, expected, **tolerance)
