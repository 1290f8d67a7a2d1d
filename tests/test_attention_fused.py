"""The private-op adapter: the matmul fallback equals the fused kernels, and only "unsupported
input" errors select it."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import pytest
import torch

from alibi_lsh import SCHEMES, alibi_attention, lsh_alibi_attention, window_alibi_attention
from alibi_lsh.attention import fused
from alibi_lsh.attention.options import AttentionOptions

from .test_attention import qkv


@pytest.fixture
def fresh_adapter(monkeypatch):
    monkeypatch.setattr(fused, "_WARNED", set())
    monkeypatch.setattr(fused, "_REFUSED", set())
    return fused


def _both_paths(compute):
    """compute(fused=True), then compute(fused=False): the fused kernels and the matmul fallback."""
    fast = compute(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        slow = compute(False)
    return fast, slow


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["causal", "float mask", "bool mask", "d_v > d", "d_v < d"])
def test_forced_fallback_equals_the_fused_kernel(kind, dtype, fresh_adapter):
    value_dim = {"d_v > d": 7, "d_v < d": 2}.get(kind, 5)
    q, k, v = qkv(2, 3, 3, 6, 9 if "mask" in kind else 6, 5, value_dim, seed=1, dtype=dtype)
    causal = kind == "causal"
    mask = None
    if kind == "float mask":
        mask = torch.randn(3, 6, 9, dtype=dtype)
    elif kind == "bool mask":
        mask = torch.rand(6, 9, generator=torch.Generator().manual_seed(0)) < 0.6
        mask[:, 0] = True
    grad = torch.randn(2, 3, 6, value_dim, dtype=dtype)

    def compute(use_fused):
        out, lse = fused.attention_forward(q, k, v, 0.4, causal, mask, fused=use_fused)
        return (out, lse, *fused.attention_backward(grad, q, k, v, out, lse, 0.4, causal, mask, fused=use_fused))

    tolerance = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    for fast, slow in zip(*_both_paths(compute)):
        torch.testing.assert_close(fast, slow, **tolerance)


def test_a_row_without_keys_has_output_zero_lse_minus_inf_and_zero_gradient(fresh_adapter):
    q, k, v = qkv(1, 2, 2, 4, 5, 3, seed=2)
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[1] = False
    grad = torch.randn(1, 2, 4, 3, dtype=torch.float64)

    def compute(use_fused):
        out, lse = fused.attention_forward(q, k, v, 1.0, False, mask, fused=use_fused)
        return (out, lse, *fused.attention_backward(grad, q, k, v, out, lse, 1.0, False, mask, fused=use_fused))

    for out, lse, dq, dk, dv in _both_paths(compute):
        assert torch.equal(out[:, :, 1], torch.zeros(1, 2, 3, dtype=torch.float64))
        assert (lse[:, :, 1] == -math.inf).all() and torch.isfinite(lse[:, :, [0, 2, 3]]).all()
        assert torch.equal(dq[:, :, 1], torch.zeros(1, 2, 3, dtype=torch.float64))
        assert all(torch.isfinite(t).all() for t in (dq, dk, dv))


def test_whole_attention_functions_equal_on_both_paths():
    q, k, v = qkv(2, 4, 2, 20, 33, 8, seed=3, dtype=torch.float32)
    slopes = [0.6, 0.2, 0.05, 0.0]
    options = {True: AttentionOptions(), False: AttentionOptions(fused=False)}
    calls = [lambda f: alibi_attention(q, k, v, slopes, enable_gqa=True, options=options[f])]
    calls.append(
        lambda f: window_alibi_attention(q, k, v, slopes, 6, causal=False, enable_gqa=True, options=options[f])
    )
    for scheme in SCHEMES:
        for path in ("union", "per-sample"):
            calls.append(
                lambda f, s=scheme, p=path: lsh_alibi_attention(
                    q, k, v, slopes, 6, scheme=s, seed=1, enable_gqa=True, options=replace(options[f], lsh_path=p)
                )
            )
    for call in calls:
        fast, slow = _both_paths(call)
        torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)


def _raising(message):
    def op(*args, **kwargs):
        raise RuntimeError(message)

    return op


def test_other_errors_propagate_and_do_not_switch_the_fused_path_off(fresh_adapter, monkeypatch):
    q, k, v = qkv(1, 1, 1, 4, 4, 2, dtype=torch.float32)
    with monkeypatch.context() as patch:
        patch.setattr(fused, "_op", lambda name: _raising("DefaultCPUAllocator: can't allocate memory"))
        with pytest.raises(RuntimeError, match="allocate memory"):
            fused.attention_forward(q, k, v, 1.0)
    assert not fused._REFUSED
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fused.attention_forward(q, k, v, 1.0)  # fused again, no fallback warning


def test_an_unsupported_input_falls_back_with_one_warning(fresh_adapter, monkeypatch):
    q, k, v = qkv(1, 1, 1, 4, 4, 2, dtype=torch.float32)
    expected = fused.attention_forward(q, k, v, 1.0, True)
    monkeypatch.setattr(fused, "_op", lambda name: _raising("\"flash_attention\" not implemented for 'Float'"))
    with pytest.warns(RuntimeWarning, match="refused torch.float32 on cpu"):
        first = fused.attention_forward(q, k, v, 1.0, True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = fused.attention_forward(q, k, v, 1.0, True)
    for out in (first, second):
        torch.testing.assert_close(out, expected)


@pytest.mark.parametrize(("mask_shape", "keys"), [((1, 3, 6, 9), 9), ((1, 1, 6, 32), 32), ((3, 6, 20), 20)])
def test_cuda_bias_is_the_mask_in_q_dtype_with_aligned_rows(mask_shape, keys):
    # The CUDA kernel's attn_bias: (B, N, L_q, L_k) in q's dtype, rows 16-element aligned in storage,
    # broadcast dimensions left at stride 0. Pure tensor work, so it is checked on the CPU.
    q = torch.zeros(2, 3, 6, 4, dtype=torch.bfloat16)
    k = torch.zeros(2, 3, keys, 4, dtype=torch.bfloat16)
    mask = torch.randn(mask_shape).reshape((1,) * (4 - len(mask_shape)) + mask_shape)
    bias = fused._cuda_bias(mask, q, k)
    assert bias.shape == (2, 3, 6, keys) and bias.dtype == torch.bfloat16
    assert bias.stride(-1) == 1 and bias.stride(-2) % 16 == 0 and bias.stride(0) == 0
    torch.testing.assert_close(bias, mask.to(torch.bfloat16).expand(2, 3, 6, keys), rtol=0, atol=0)
