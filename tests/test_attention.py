"""Exact, window and LSH ALiBi attention against independent dense reference implementations."""

from __future__ import annotations

import math

import pytest
import torch

from alibi_lsh import SCHEMES, alibi_attention, alibi_slopes, lsh_alibi_attention, window_alibi_attention
from alibi_lsh.attention.blocks import padded_width
from alibi_lsh.attention.draws import sample_head_partitions

from .conftest import random_qkv


def naive_alibi_attention(q, k, v, slopes, causal, scale=None, window=None):
    """Loop-over-queries float64 ALiBi attention, written from the definition (no shared code)."""
    batch, heads, n, dim = q.shape
    scale = 1 / math.sqrt(dim) if scale is None else scale
    out = torch.zeros(batch, heads, n, v.shape[-1], dtype=torch.float64)
    for b in range(batch):
        for h in range(heads):
            for i in range(n):
                keys = range(0, i + 1) if causal else range(n)
                if window is not None:
                    keys = [j for j in keys if abs(i - j) < window[h]]
                keys = list(keys)
                logits = torch.tensor(
                    [scale * float(q[b, h, i].double() @ k[b, h, j].double()) - float(slopes[h]) * abs(i - j)
                     for j in keys],
                    dtype=torch.float64,
                )
                weights = torch.softmax(logits, dim=0)
                out[b, h, i] = weights @ v[b, h, keys].double()
    return out


def dense_masked_attention(q, k, v, masks, causal, scale):
    """softmax weighted by a given kernel estimate: out_i = sum_j e^{s_ij} M_ij v_j / sum_j e^{s_ij} M_ij.

    q, k, v (B, H, n, d) float64; masks (H, n, n) float64, the mean of each head's sampled masks.
    """
    scores = scale * q @ k.transpose(-1, -2)
    weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True)) * masks
    if causal:
        weights = weights.tril()
    return (weights / weights.sum(dim=-1, keepdim=True)) @ v


@pytest.mark.parametrize("causal", [True, False])
def test_exact_reference_matches_naive_loop(causal):
    q, k, v = random_qkv(2, 3, 23, 5, seed=4)
    slopes = torch.tensor([0.7, 0.1, 0.0])
    expected = naive_alibi_attention(q, k, v, slopes, causal)
    torch.testing.assert_close(alibi_attention(q, k, v, slopes, causal=causal).double(), expected, rtol=1e-5, atol=1e-5)


def test_exact_reference_chunks_rows_without_changing_the_result(monkeypatch):
    q, k, v = random_qkv(1, 2, 40, 4, seed=8, dtype=torch.float64)
    slopes = [0.3, 0.05]
    whole = alibi_attention(q, k, v, slopes)
    monkeypatch.setattr("alibi_lsh.attention.exact.CHUNK_ELEMENTS", 2 * 40 * 3)  # 3 query rows per chunk
    torch.testing.assert_close(alibi_attention(q, k, v, slopes), whole, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("causal", [True, False])
def test_window_attention_matches_naive_truncated_loop(causal):
    q, k, v = random_qkv(1, 3, 29, 4, seed=6)
    slopes = torch.tensor([0.5, 0.2, 0.05])
    windows = [3, 7, 40]  # the last one is wider than n: plain exact ALiBi
    expected = naive_alibi_attention(q, k, v, slopes, causal, window=windows)
    actual = window_alibi_attention(q, k, v, slopes, windows, causal=causal)
    torch.testing.assert_close(actual.double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("batch", "heads"), [(1, 1), (2, 3), (3, 8)])
def test_lsh_equals_dense_attention_with_the_same_sampled_masks(causal, scheme, batch, heads):
    # The log-sum-exp combination must reproduce, to float32 rounding, the dense formula with the
    # very masks that were sampled: it is exact algebra, not a further approximation.
    n, dim, samples, seed = 61, 8, 5, 17
    q, k, v = random_qkv(batch, heads, n, dim, seed=heads, score_scale=2.0)
    slopes = alibi_slopes(heads) * 4  # steeper slopes: many short blocks at this small n
    partitions = sample_head_partitions(n, slopes.double(), samples, scheme, seed)
    masks = torch.stack([torch.stack([p.mask() for p in head]).double().mean(0) for head in partitions])
    expected = dense_masked_attention(q.double(), k.double(), v.double(), masks, causal, 1 / math.sqrt(dim))
    actual = lsh_alibi_attention(q, k, v, slopes, samples, causal=causal, scheme=scheme, seed=seed)
    assert actual.dtype == q.dtype and actual.shape == q.shape
    torch.testing.assert_close(actual.double(), expected, rtol=1e-5, atol=1e-5)


def test_lsh_sample_chunks_and_tile_splits_do_not_change_the_result(monkeypatch):
    q, k, v = random_qkv(2, 4, 90, 8, seed=2)
    slopes = alibi_slopes(4)
    whole = lsh_alibi_attention(q, k, v, slopes, 12, seed=3)
    monkeypatch.setattr("alibi_lsh.attention.lsh.CHUNK_ELEMENTS", 2 * 4 * 90 * 8 * 5)  # 5 samples a chunk
    monkeypatch.setattr("alibi_lsh.attention.blocks.TILE_ELEMENTS", 1)  # one block per matmul
    torch.testing.assert_close(lsh_alibi_attention(q, k, v, slopes, 12, seed=3), whole, rtol=1e-5, atol=1e-6)


def test_slope_zero_is_plain_attention():
    q, k, v = random_qkv(1, 2, 33, 8, seed=9)
    plain = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    approx = lsh_alibi_attention(q, k, v, [0.0, 0.0], 3, seed=0)
    torch.testing.assert_close(approx, plain, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("causal", [True, False])
def test_causality_later_keys_never_change_earlier_outputs(causal):
    n, cut = 80, 50
    q, k, v = random_qkv(1, 4, n, 8, seed=12)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, cut:] = torch.randn_like(k2[:, :, cut:])
    v2[:, :, cut:] = torch.randn_like(v2[:, :, cut:])
    slopes = alibi_slopes(4)
    for method in (
        lambda kk, vv: lsh_alibi_attention(q, kk, vv, slopes, 8, causal=True, seed=1),
        lambda kk, vv: alibi_attention(q, kk, vv, slopes, causal=True),
        lambda kk, vv: window_alibi_attention(q, kk, vv, slopes, 16, causal=True),
    ):
        before, after = method(k, v), method(k2, v2)
        assert torch.equal(before[:, :, :cut], after[:, :, :cut])
        assert not torch.equal(before[:, :, cut:], after[:, :, cut:])


def test_lsh_error_against_exact_falls_with_more_samples():
    q, k, v = random_qkv(1, 8, 256, 16, seed=21)
    slopes = alibi_slopes(8)
    exact = alibi_attention(q, k, v, slopes)

    def relative_error(samples: int) -> float:
        errors = [
            ((lsh_alibi_attention(q, k, v, slopes, samples, seed=s) - exact).norm() / exact.norm()).item()
            for s in range(3)
        ]
        return sum(errors) / len(errors)

    few, many = relative_error(4), relative_error(256)
    # 1/sqrt(R) predicts a factor 8; allow 2x either way.
    assert 4.0 <= few / many <= 16.0, (few, many)


def test_same_seed_same_output_and_generator_accepted():
    q, k, v = random_qkv(1, 2, 40, 4, seed=0)
    first = lsh_alibi_attention(q, k, v, [0.3, 0.1], 4, seed=5)
    assert torch.equal(first, lsh_alibi_attention(q, k, v, [0.3, 0.1], 4, seed=5))
    # A generator gives one integer seed per call, drawn from it.
    drawn = int(torch.randint(0, 2**63 - 1, (1,), generator=torch.Generator().manual_seed(5)))
    from_generator = lsh_alibi_attention(q, k, v, [0.3, 0.1], 4, seed=torch.Generator().manual_seed(5))
    assert torch.equal(from_generator, lsh_alibi_attention(q, k, v, [0.3, 0.1], 4, seed=drawn))
    assert not torch.equal(first, lsh_alibi_attention(q, k, v, [0.3, 0.1], 4, seed=6))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_stay_close_to_float32(dtype):
    q, k, v = random_qkv(1, 4, 64, 16, seed=3)
    slopes = alibi_slopes(4)
    reference = lsh_alibi_attention(q, k, v, slopes, 8, seed=2)
    half = lsh_alibi_attention(q.to(dtype), k.to(dtype), v.to(dtype), slopes, 8, seed=2)
    assert half.dtype == dtype and torch.isfinite(half).all()
    assert ((half.float() - reference).norm() / reference.norm()).item() < 2e-2
    exact = alibi_attention(q.to(dtype), k.to(dtype), v.to(dtype), slopes)
    assert exact.dtype == dtype and torch.isfinite(exact).all()


def test_padded_width_classes():
    lengths = torch.tensor([1, 8, 9, 12, 13, 16, 17, 24, 25, 100, 1000])
    assert padded_width(lengths).tolist() == [8, 8, 12, 12, 16, 16, 24, 24, 32, 128, 1024]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    q, k, v = random_qkv(2, 4, 128, 16, seed=1)
    slopes = alibi_slopes(4)
    cpu = lsh_alibi_attention(q, k, v, slopes, 8, seed=4)
    gpu = lsh_alibi_attention(q.cuda(), k.cuda(), v.cuda(), slopes, 8, seed=4)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)
    exact_gpu = alibi_attention(q.cuda(), k.cuda(), v.cuda(), slopes).cpu()
    torch.testing.assert_close(exact_gpu, alibi_attention(q, k, v, slopes), rtol=1e-4, atol=1e-5)


def _bad_inputs():
    q, k, v = random_qkv(1, 2, 8, 4)
    slopes = [0.5, 0.25]
    nan_q = q.clone()
    nan_q[0, 0, 0, 0] = math.nan
    yield (q, k[:, :, :6], v, slopes, 2), "k must have the shape of q"
    yield (q, k, v[:, :1], slopes, 2), "v must have shape"
    yield (q, k.double(), v, slopes, 2), "one dtype"
    yield (q.long(), k.long(), v.long(), slopes, 2), "floating point"
    yield (q[0], k[0], v[0], slopes, 2), "4 dimensions"
    yield (nan_q, k, v, slopes, 2), "q contains NaN"
    yield (q, k, v, [0.5], 2), "one entry per head"
    yield (q, k, v, [0.5, -1.0], 2), "slopes must be finite and >= 0"
    yield (q, k, v, [0.5, math.inf], 2), "slopes must be finite and >= 0"
    yield (q, k, v, slopes, 0), "num_samples must be"
    yield (q, k, v, slopes, 2.5), "num_samples must be"
    yield ("q", k, v, slopes, 2), "q must be a torch.Tensor"


@pytest.mark.parametrize(("args", "message"), list(_bad_inputs()))
def test_lsh_bad_inputs_raise_value_error(args, message):
    with pytest.raises(ValueError, match=message):
        lsh_alibi_attention(*args)


def test_other_bad_inputs_raise_value_error():
    q, k, v = random_qkv(1, 2, 8, 4)
    with pytest.raises(ValueError, match="scheme must be one of"):
        lsh_alibi_attention(q, k, v, [0.1, 0.2], 2, scheme="random")
    with pytest.raises(ValueError, match="scale must be"):
        lsh_alibi_attention(q, k, v, [0.1, 0.2], 2, scale=-1.0)
    with pytest.raises(ValueError, match="window must be"):
        window_alibi_attention(q, k, v, [0.1, 0.2], 0)
    with pytest.raises(ValueError, match="one per head"):
        window_alibi_attention(q, k, v, [0.1, 0.2], [3, 4, 5])
    with pytest.raises(ValueError, match="k must have the shape"):
        alibi_attention(q, k[:, :1], v, [0.1, 0.2])


def test_large_finite_half_inputs_pass_the_finiteness_check():
    # Their sum overflows float16, which must not be mistaken for a non-finite entry.
    q = torch.full((1, 1, 6, 2), 6.0e4, dtype=torch.float16)
    out = lsh_alibi_attention(q, q, q, [0.5], 2, seed=0)
    assert torch.isfinite(out).all()
