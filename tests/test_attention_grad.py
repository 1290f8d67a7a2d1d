"""Gradients of every attention path: torch.autograd.gradcheck in float64, and equality with the
gradient of the dense reference estimator (whose mask mean is a constant of the draws)."""

from __future__ import annotations

import pytest
import torch

from alibi_lsh import (
    SCHEMES,
    alibi_attention,
    lsh_alibi_attention,
    lsh_alibi_attention_reference,
    window_alibi_attention,
)
from alibi_lsh.attention.options import AttentionOptions

from .test_attention import qkv


def _leaves(*tensors):
    return tuple(t.detach().clone().requires_grad_(True) for t in tensors)


CASES = {
    # name: (B, H, H_kv, n_q, n_k, d, d_v, causal, padding)
    "square causal": (1, 2, 2, 12, 12, 3, 3, True, False),
    "bidirectional, d_v != d": (1, 2, 2, 12, 12, 3, 2, False, False),
    "cache, GQA": (2, 4, 2, 5, 13, 3, 3, True, False),
    "padding": (2, 2, 1, 10, 10, 2, 3, True, True),
}


def _case(name, seed=0):
    batch, heads, kv_heads, n_q, n_k, dim, value_dim, causal, padding = CASES[name]
    q, k, v = qkv(batch, heads, kv_heads, n_q, n_k, dim, value_dim, seed=seed)
    mask = None
    if padding:
        mask = torch.ones(batch, n_k, dtype=torch.bool)
        mask[0, :3] = False
        mask[-1, n_k - 2 :] = False
    kwargs = {"causal": causal, "key_padding_mask": mask, "enable_gqa": heads != kv_heads}
    return (q, k, v), kwargs


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_exact_and_window(name):
    (q, k, v), kwargs = _case(name)
    slopes = [0.4, 0.05, 0.0, 1.3][: q.shape[1]]
    for method in (
        lambda q, k, v: alibi_attention(q, k, v, slopes, **kwargs),
        lambda q, k, v: window_alibi_attention(q, k, v, slopes, 4, **kwargs),
    ):
        assert torch.autograd.gradcheck(method, _leaves(q, k, v), fast_mode=True)


@pytest.mark.parametrize("path", ["union", "per-sample"])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", list(CASES))
def test_lsh_gradient_is_the_gradient_of_the_estimator(name, scheme, path):
    (q, k, v), kwargs = _case(name, seed=len(name))
    slopes = [0.5, 0.0, 0.15, 1.1][: q.shape[1]]  # head 1 is plain attention
    kwargs |= {"scheme": scheme, "seed": 3}

    def fast(q, k, v):
        return lsh_alibi_attention(q, k, v, slopes, 4, **kwargs, options=AttentionOptions(lsh_path=path))

    assert torch.autograd.gradcheck(fast, _leaves(q, k, v), fast_mode=True)
    weights = torch.randn(fast(q, k, v).shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    inputs = _leaves(q, k, v)
    grads = torch.autograd.grad((fast(*inputs) * weights).sum(), inputs)
    expected = torch.autograd.grad(
        (lsh_alibi_attention_reference(*inputs, slopes, 4, **kwargs) * weights).sum(), inputs
    )
    for grad, reference in zip(grads, expected):
        torch.testing.assert_close(grad, reference, rtol=1e-9, atol=1e-10)


def test_per_sample_gradient_matches_finite_differences():
    # The case where treating the log-sum-exp weights as constants made dq, dk 4-8 % wrong.
    q, k, v = qkv(1, 1, 1, 64, 64, 8, seed=1)
    direction = qkv(1, 1, 1, 64, 64, 8, seed=2)
    weights = torch.randn(1, 1, 64, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def loss(q, k, v):
        return (lsh_alibi_attention(q, k, v, [1 / 64], 8, seed=1) * weights).sum()

    inputs = _leaves(q, k, v)
    grads = torch.autograd.grad(loss(*inputs), inputs)
    eps = 1e-6
    for index in range(3):
        plus, minus = [q, k, v], [q, k, v]
        plus[index] = plus[index] + eps * direction[index]
        minus[index] = minus[index] - eps * direction[index]
        numeric = (loss(*plus) - loss(*minus)).item() / (2 * eps)
        analytic = (grads[index] * direction[index]).sum().item()
        assert abs(analytic - numeric) <= 1e-6 * abs(numeric), (index, analytic, numeric)


def test_half_precision_gradients_are_finite_and_close():
    q, k, v = qkv(1, 2, 2, 40, 40, 8, seed=4)
    slopes = [0.2, 0.02]
    for method in (
        lambda q, k, v: lsh_alibi_attention(q, k, v, slopes, 4, seed=0),
        lambda q, k, v: alibi_attention(q, k, v, slopes),
        lambda q, k, v: window_alibi_attention(q, k, v, slopes, 7),
    ):
        full = torch.autograd.grad(method(*(inputs := _leaves(q, k, v))).square().sum(), inputs)
        half_inputs = _leaves(q.bfloat16(), k.bfloat16(), v.bfloat16())
        half = torch.autograd.grad(method(*half_inputs).float().square().sum(), half_inputs)
        for g, h in zip(full, half):
            assert h.dtype == torch.bfloat16 and torch.isfinite(h).all()
            assert ((h.double() - g).norm() / g.norm()).item() < 5e-2


def test_small_backward_calls_give_the_same_gradients():
    # The backward passes cut their calls smaller than the forward's: same gradients, any cut.
    (q, k, v), kwargs = _case("cache, GQA", seed=2)
    slopes = [0.5, 0.08, 0.2, 0.03]
    methods = {
        "window": lambda q, k, v, **o: window_alibi_attention(q, k, v, slopes, [2, 5, 9, 13], **kwargs, **o),
        "lsh": lambda q, k, v, **o: lsh_alibi_attention(q, k, v, slopes, 5, seed=4, **kwargs, **o),
    }
    # One tile per backward call on both paths.
    small = AttentionOptions(window_backward_elements=1, union_backward_split=10**9)
    weights = torch.randn(q.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    for name, method in methods.items():
        inputs = _leaves(q, k, v)
        whole = torch.autograd.grad((method(*inputs) * weights).sum(), inputs)
        inputs = _leaves(q, k, v)
        cut = torch.autograd.grad((method(*inputs, options=small) * weights).sum(), inputs)
        for a, b in zip(cut, whole):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=name)


def _dense_window(q, k, v, slopes, windows, causal):
    """Independent reference: softmax(q k^T / sqrt(d) - m |i - j|) v over |i - j| < w (and j <= i if causal)."""
    n_q, n_k = q.shape[2], k.shape[2]
    i = torch.arange(n_k - n_q, n_k, dtype=torch.float64)[:, None]
    j = torch.arange(n_k, dtype=torch.float64)[None, :]
    outputs = []
    for h, (slope, window) in enumerate(zip(slopes, windows)):
        hidden = ((i - j).abs() >= window) | ((j > i) & causal)
        scores = q[:, h] @ k[:, h].transpose(-1, -2) / q.shape[-1] ** 0.5 - slope * (i - j).abs()
        outputs.append(torch.softmax(scores.masked_fill(hidden, -torch.inf), dim=-1) @ v[:, h])
    return torch.stack(outputs, dim=1)


@pytest.mark.parametrize("causal", [True, False])
def test_window_gradients_on_tiles_past_the_last_query(causal):
    # n_q = 70 in tiles of 32 (the last tile holds rows past the last query), windows wider than a
    # tile (edge tiles at the front and the back), queries after a cache of 20 keys; one tile per
    # backward call, then the default calls.
    q, k, v = qkv(2, 2, 2, 70, 90, 4, seed=6)
    slopes, windows = [0.3, 0.02], [5, 45]
    weights = torch.randn(2, 2, 70, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    inputs = _leaves(q, k, v)
    expected = torch.autograd.grad((_dense_window(*inputs, slopes, windows, causal) * weights).sum(), inputs)
    for options in (AttentionOptions(window_backward_elements=1), AttentionOptions()):
        inputs = _leaves(q, k, v)
        out = window_alibi_attention(*inputs, slopes, windows, causal, options=options)
        grads = torch.autograd.grad((out * weights).sum(), inputs)
        for grad, reference in zip(grads, expected):
            torch.testing.assert_close(grad, reference, rtol=1e-10, atol=1e-12)
