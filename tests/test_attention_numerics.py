"""No silent result: values a result does not depend on cannot change it, and finite inputs give
finite outputs wherever SDPA's do."""

from __future__ import annotations

import math

import pytest
import torch

from alibi_lsh import (
    SCHEMES,
    AttentionOptions,
    alibi_attention,
    lsh_alibi_attention,
    lsh_alibi_attention_reference,
    window_alibi_attention,
)
from alibi_lsh.attention.lsh.draws import sample_head_partitions

from .naive_attention import alibi_weight, naive_attention
from .test_attention import qkv

PATHS = [AttentionOptions(lsh_path="union"), AttentionOptions(lsh_path="per-sample")]
BAD = {"nan": math.nan, "inf": math.inf, "overflowing q.k": 3e38}


def _unused_keys(slopes, num_samples, scheme, seed, n_q, n_k):
    """Keys in no block of any query, from the sampled partitions themselves: before the earliest
    block start of the first query (later queries' blocks start no earlier)."""
    partitions = sample_head_partitions(n_k, torch.tensor(slopes, dtype=torch.float64), num_samples, scheme, seed)
    p0 = n_k - n_q
    first = min(int((p.block_ids() == p.block_ids()[p0]).nonzero().min()) for head in partitions for p in head)
    return slice(0, first)


def test_a_key_outside_the_query_block_cannot_turn_the_output_into_nan():
    # q (1,1,1,4), keys 0..99, slope 0.5, R = 1, seed 3: the query's block is keys 98-99. A tile read
    # a span rounded up to its width class, with key 90 in it at bias -inf: 0 x NaN gave NaN.
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, n, 4, generator=generator) for n in (1, 100, 100))
    assert _unused_keys([0.5], 1, "binning", 3, 1, 100) == slice(0, 98)
    for options in PATHS:
        clean = lsh_alibi_attention(q, k, v, [0.5], 1, seed=3, options=options)
        for name, bad in BAD.items():
            k2, v2 = k.clone(), v.clone()
            k2[..., 90, :] = bad
            v2[..., 90, :] = bad if name != "overflowing q.k" else 0.0
            out = lsh_alibi_attention(q, k2, v2, [0.5], 1, seed=3, options=options)
            assert torch.equal(out, clean), (options.lsh_path, name)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("n_q", [1, 7, 40])  # a decoding step, chunked prefills
def test_keys_in_no_block_do_not_change_the_output(n_q, scheme, causal):
    n_k, slopes, samples, seed = 120, [0.5, 0.2, 0.08], 4, 11
    q, k, v = qkv(2, 3, 3, n_q, n_k, 4, seed=n_q, dtype=torch.float32)
    unused = _unused_keys(slopes, samples, scheme, seed, n_q, n_k)
    assert unused.stop > 16  # enough unused keys that a rounded span reaches into them
    for options in PATHS:
        call = lambda k, v, o=options: lsh_alibi_attention(  # noqa: E731
            q, k, v, slopes, samples, causal, scheme, seed, options=o
        )
        clean = call(k, v)
        for bad in BAD.values():
            k2, v2 = k.clone(), v.clone()
            k2[:, :, unused], v2[:, :, unused] = bad, bad
            assert torch.equal(call(k2, v2), clean), (options.lsh_path, bad)
    inside = k.clone()
    inside[:, :, unused.stop] = math.nan  # a key some query's block holds: refused, never silent
    with pytest.raises(ValueError, match="k contains NaN"):
        lsh_alibi_attention(q, inside, v, slopes, samples, causal, scheme, seed)


def _methods():
    yield "exact", lambda q, k, v, **kw: alibi_attention(q, k, v, [0.3, 0.0], **kw)
    yield "window", lambda q, k, v, **kw: window_alibi_attention(q, k, v, [0.3, 0.0], [7, 300], **kw)
    for options in PATHS:
        yield (
            f"lsh {options.lsh_path}",
            lambda q, k, v, o=options, **kw: lsh_alibi_attention(q, k, v, [0.3, 0.0], 4, seed=0, options=o, **kw),
        )


@pytest.mark.parametrize(("dtype", "value"), [(torch.float32, 3e37), (torch.bfloat16, 3e37), (torch.float64, 1e307)])
@pytest.mark.parametrize(("name", "method"), list(_methods()))
def test_huge_finite_values_give_finite_outputs_as_sdpa_does(name, method, dtype, value):
    # q = k = 0 and equal values: every weight is 1/n and the output is v (SDPA's math path returns
    # it). The fused kernels sum n unnormalised values first (200 x 3e37 > 3.4e38) and gave inf.
    q = torch.zeros(1, 2, 200, 4, dtype=dtype)
    v = torch.full((1, 2, 200, 4), value, dtype=dtype)
    for causal in (True, False):
        out = method(q, q, v, causal=causal)
        assert torch.isfinite(out).all(), name
        torch.testing.assert_close(out, v, rtol=1e-5 if dtype != torch.bfloat16 else 1e-2, atol=0)


@pytest.mark.parametrize(("name", "method"), list(_methods()))
def test_huge_values_match_a_float64_reference_and_have_finite_gradients(name, method):
    q, k, v = qkv(1, 2, 2, 50, 50, 4, seed=2, dtype=torch.float32)
    v = v * 1e37
    if name.startswith("lsh"):
        expected = lsh_alibi_attention_reference(q, k, v, [0.3, 0.0], 4, seed=0)
    else:
        expected = naive_attention(q, k, v, alibi_weight([0.3, 0.0], None if name == "exact" else [7, 300]), True)
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out = method(*leaves)
    torch.testing.assert_close(out.double(), expected.double(), rtol=1e-5, atol=1e-5 * 1e37)  # float32 rounding
    out.backward(torch.ones_like(out) * 1e-37)
    assert all(torch.isfinite(t.grad).all() for t in leaves)
