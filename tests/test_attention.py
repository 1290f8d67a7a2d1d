"""Exact and window ALiBi attention against the naive loop; shapes, padding, GQA, numerics, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from alibi_lsh import (
    SCHEMES,
    AttentionOptions,
    AttentionSpec,
    alibi_attention,
    alibi_slopes,
    lsh_alibi_attention,
    lsh_alibi_attention_reference,
    window_alibi_attention,
)
from alibi_lsh.attention.options import TileRows
from alibi_lsh.attention.spec import attend

from .conftest import random_qkv
from .naive_attention import alibi_weight, naive_attention


def qkv(batch, heads, kv_heads, n_q, n_k, dim, value_dim=None, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, n_q, dim, generator=generator, dtype=torch.float64)
    k = torch.randn(batch, kv_heads, n_k, dim, generator=generator, dtype=torch.float64)
    v = torch.randn(batch, kv_heads, n_k, value_dim or dim, generator=generator, dtype=torch.float64)
    return q.to(dtype), k.to(dtype), v.to(dtype)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(("n_q", "n_k"), [(23, 23), (5, 23), (1, 23)])
def test_exact_and_window_match_the_naive_loop(causal, n_q, n_k):
    q, k, v = qkv(2, 3, 3, n_q, n_k, 5, value_dim=3, seed=n_q)
    slopes = torch.tensor([0.7, 0.1, 0.0])
    expected = naive_attention(q, k, v, alibi_weight(slopes), causal)
    torch.testing.assert_close(alibi_attention(q, k, v, slopes, causal=causal), expected, rtol=1e-10, atol=1e-10)
    windows = [3, 7, 40]  # the last one is wider than n: plain exact ALiBi
    expected = naive_attention(q, k, v, alibi_weight(slopes, windows), causal)
    actual = window_alibi_attention(q, k, v, slopes, windows, causal=causal)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


def test_grouped_query_heads_equal_repeated_kv_heads():
    q, k, v = qkv(2, 6, 2, 9, 14, 4, seed=3)
    slopes = alibi_slopes(6)
    repeated = k.repeat_interleave(3, dim=1), v.repeat_interleave(3, dim=1)
    for method in (
        lambda k, v, **kw: alibi_attention(q, k, v, slopes, **kw),
        lambda k, v, **kw: window_alibi_attention(q, k, v, slopes, [2, 3, 5, 8, 13, 21], **kw),
    ):
        torch.testing.assert_close(method(k, v, enable_gqa=True), method(*repeated), rtol=1e-12, atol=1e-12)


def test_left_and_right_padded_rows_equal_the_sequence_alone():
    q, k, v = qkv(3, 2, 2, 12, 12, 4, seed=5)
    slopes = [0.4, 0.05]
    mask = torch.ones(3, 12, dtype=torch.int64)
    mask[0, :3] = 0  # left padding
    mask[1, 9:] = 0  # right padding
    mask[2, :2] = 0
    mask[2, 10:] = 0  # both
    for method in (
        lambda q, k, v, **kw: alibi_attention(q, k, v, slopes, **kw),
        lambda q, k, v, **kw: window_alibi_attention(q, k, v, slopes, 4, **kw),
    ):
        padded = method(q, k, v, key_padding_mask=mask)
        for b, (first, end) in enumerate([(3, 12), (0, 9), (2, 10)]):
            alone = method(q[b : b + 1, :, first:end], k[b : b + 1, :, first:end], v[b : b + 1, :, first:end])
            torch.testing.assert_close(padded[b : b + 1, :, first:end], alone, rtol=1e-12, atol=1e-12)
            padded_rows = torch.cat([padded[b, :, :first], padded[b, :, end:]], dim=1)
            assert torch.equal(padded_rows, torch.zeros_like(padded_rows))
        # Changing the padded keys and values changes nothing.
        k2 = torch.where(mask[:, None, :, None].bool(), k, torch.full_like(k, 7.0))
        v2 = torch.where(mask[:, None, :, None].bool(), v, torch.full_like(v, -7.0))
        assert torch.equal(method(q, k2, v2, key_padding_mask=mask.bool()), padded)


def test_padding_matches_the_naive_loop_with_a_cache():
    q, k, v = qkv(2, 2, 1, 4, 10, 3, seed=6)
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    slopes = [0.3, 0.9]
    expected = naive_attention(q, k, v, alibi_weight(slopes), True, key_padding_mask=mask)
    actual = alibi_attention(q, k, v, slopes, key_padding_mask=mask, enable_gqa=True)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


def test_a_row_without_real_keys_is_zero():
    q, k, v = qkv(2, 1, 1, 6, 6, 3)
    mask = torch.tensor([[0] * 6, [1] * 6])
    for method in (alibi_attention, lambda *a, **kw: lsh_alibi_attention(*a, 4, seed=0, **kw)):
        out = method(q, k, v, [0.5], key_padding_mask=mask)
        assert torch.equal(out[0], torch.zeros_like(out[0])) and torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_huge_finite_slope_gives_v_exactly(dtype):
    # exp(-m) underflows to 0: only the diagonal survives, for every method (no inf * 0 = NaN).
    q, k, v = qkv(1, 1, 1, 16, 16, 4, dtype=dtype)
    slope = [1e39] if dtype == torch.float32 else [1e308]
    for causal in (True, False):
        for out in (
            alibi_attention(q, k, v, slope, causal=causal),
            window_alibi_attention(q, k, v, slope, 5, causal=causal),
            lsh_alibi_attention(q, k, v, slope, 4, causal=causal, seed=0),
        ):
            assert torch.equal(out, v)


def test_scores_that_would_overflow_are_refused():
    q, k, v = qkv(1, 1, 1, 4, 4, 2)
    big = q.float() * 1e19
    for method in (
        lambda: alibi_attention(big, big, v.float(), [0.1]),
        lambda: window_alibi_attention(big, big, v.float(), [0.1], 2),
        lambda: lsh_alibi_attention(big, big, v.float(), [0.1], 2, seed=0),
    ):
        with pytest.raises(ValueError, match="q and k are too large"):
            method()


def test_float64_is_computed_in_float64():
    # A float32 computation would be off by ~1e-7; float64 matches the loop to ~1e-15.
    q, k, v = qkv(1, 2, 2, 20, 20, 4, seed=9)
    slopes = [0.3, 0.02]
    expected = naive_attention(q, k, v, alibi_weight(slopes), True)
    for out in (alibi_attention(q, k, v, slopes), window_alibi_attention(q, k, v, slopes, 20)):
        assert out.dtype == torch.float64
        assert (out - expected).abs().max() < 1e-13


@pytest.mark.parametrize("causal", [True, False])
def test_exact_reference_chunks_rows_without_changing_the_result(causal):
    q, k, v = qkv(1, 2, 2, 40, 40, 4, seed=8)
    slopes = [0.3, 0.05]
    whole = alibi_attention(q, k, v, slopes, causal=causal)
    three_rows = AttentionOptions(exact_bias_elements=2 * 40 * 3)  # 3 query rows per chunk
    chunked = alibi_attention(q, k, v, slopes, causal=causal, options=three_rows)
    torch.testing.assert_close(chunked, whole, rtol=1e-12, atol=1e-12)
    tiny_tiles = AttentionOptions(window_tile_rows=TileRows(2, 2))  # tiny tiles, many edge tiles
    windowed = window_alibi_attention(q, k, v, slopes, 5, causal=causal, options=tiny_tiles)
    expected = naive_attention(q, k, v, alibi_weight(slopes, [5, 5]), causal)
    torch.testing.assert_close(windowed, expected, rtol=1e-10, atol=1e-10)


def test_causality_later_keys_never_change_earlier_outputs():
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


@pytest.mark.parametrize("scheme", SCHEMES)
def test_causality_with_a_cache_keys_after_a_query_never_change_it(scheme):
    # Queries are the last 30 of 70 positions: query t sits at 40 + t and sees keys 0 .. 40 + t.
    q, k, v = qkv(2, 4, 4, 30, 70, 8, seed=14, dtype=torch.float32)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 52:], v2[:, :, 52:] = torch.randn_like(k2[:, :, 52:]), torch.randn_like(v2[:, :, 52:])
    slopes = alibi_slopes(4)
    for method in (
        lambda kk, vv: lsh_alibi_attention(q, kk, vv, slopes, 8, scheme=scheme, seed=1),
        lambda kk, vv: alibi_attention(q, kk, vv, slopes),
        lambda kk, vv: window_alibi_attention(q, kk, vv, slopes, 16),
    ):
        before, after = method(k, v), method(k2, v2)
        assert torch.equal(before[:, :, :12], after[:, :, :12])  # positions 40..51
        assert not torch.equal(before[:, :, 12:], after[:, :, 12:])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_stay_close_to_float32(dtype):
    q, k, v = random_qkv(1, 4, 64, 16, seed=3)
    slopes = alibi_slopes(4)
    for method in (
        lambda q, k, v: lsh_alibi_attention(q, k, v, slopes, 8, seed=2),
        lambda q, k, v: alibi_attention(q, k, v, slopes),
        lambda q, k, v: window_alibi_attention(q, k, v, slopes, 9),
    ):
        reference = method(q, k, v)
        half = method(q.to(dtype), k.to(dtype), v.to(dtype))
        assert half.dtype == dtype and torch.isfinite(half).all()
        assert ((half.float() - reference).norm() / reference.norm()).item() < 2e-2


def test_large_finite_half_inputs_pass_the_finiteness_check():
    # Their sum overflows float16, which must not be mistaken for a non-finite entry.
    q = torch.full((1, 1, 6, 2), 6.0e4, dtype=torch.float16)
    out = lsh_alibi_attention(q, q, q, [0.5], 2, seed=0)
    assert torch.isfinite(out).all()


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
    inf_k = k.clone()
    inf_k[0, 1, 3, 2] = math.inf
    yield (q, k[:, :, :6], v[:, :, :6], slopes, 2), {}, "q may not be longer than k"
    yield (q, k[..., :3], v, slopes, 2), {}, "k must have shape"
    yield (q, k, v[:, :1], slopes, 2), {}, "v must have shape"
    yield (q, k[:, :1], v[:, :1], slopes, 2), {}, "enable_gqa=True"
    yield (
        (q, k[:, :1].expand(1, 3, 8, 4)[:, :3], v[:, :1].expand(1, 3, 8, 4), slopes, 2),
        {"enable_gqa": True},
        "multiple of H_kv",
    )
    yield (q, k.double(), v, slopes, 2), {}, "one dtype"
    yield (q.long(), k.long(), v.long(), slopes, 2), {}, "floating point"
    yield (q[0], k[0], v[0], slopes, 2), {}, "4 dimensions"
    yield (nan_q, k, v, slopes, 2), {}, "q contains NaN"
    yield (q, inf_k, v, slopes, 2), {}, "k contains NaN"
    yield (q, k, v, [0.5], 2), {}, "one entry per head"
    yield (q, k, v, [0.5, -1.0], 2), {}, "slopes must be finite and >= 0"
    yield (q, k, v, [0.5, math.inf], 2), {}, "slopes must be finite and >= 0"
    yield ("q", k, v, slopes, 2), {}, "q must be a torch.Tensor"
    yield (q, k, v, slopes, 2), {"key_padding_mask": torch.ones(1, 7)}, r"key_padding_mask must have shape \(B, n_k\)"
    yield (q, k, v, slopes, 2), {"key_padding_mask": torch.ones(1, 8)}, "bool or integer"
    yield (q, k, v, slopes, 2), {"key_padding_mask": torch.full((1, 8), 2)}, "only 0 and 1"
    holes = torch.tensor([[1, 1, 0, 1, 1, 1, 1, 1]])
    yield (q, k, v, slopes, 2), {"key_padding_mask": holes}, "row 0 has padding between real tokens"


@pytest.mark.parametrize(("args", "kwargs", "message"), list(_bad_inputs()))
def test_bad_inputs_raise_value_error(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        lsh_alibi_attention(*args, **kwargs)
    with pytest.raises(ValueError, match=message):
        alibi_attention(*args[:4], **kwargs)
    with pytest.raises(ValueError, match=message):
        window_alibi_attention(*args[:4], 3, **kwargs)


def test_other_bad_inputs_raise_value_error():
    q, k, v = random_qkv(1, 2, 8, 4)
    for samples in (0, 2.5, 2**16 + 1, 10**9):
        for attention in (lsh_alibi_attention, lsh_alibi_attention_reference):
            with pytest.raises(ValueError, match=r"num_samples must be an integer >= 1 and <= 65536, got"):
                attention(q, k, v, [0.1, 0.2], samples)
    with pytest.raises(ValueError, match="scheme must be one of"):
        lsh_alibi_attention(q, k, v, [0.1, 0.2], 2, scheme="random")
    with pytest.raises(ValueError, match="scale must be"):
        lsh_alibi_attention(q, k, v, [0.1, 0.2], 2, scale=-1.0)
    with pytest.raises(ValueError, match="window must be"):
        window_alibi_attention(q, k, v, [0.1, 0.2], 0)
    with pytest.raises(ValueError, match="one per head"):
        window_alibi_attention(q, k, v, [0.1, 0.2], [3, 4, 5])


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(("n_q", "n_k"), [(300, 300), (170, 300)])
def test_window_tiles_on_long_inputs_equal_dense_masked_attention(causal, n_q, n_k):
    # Interior tiles share one bias, edge tiles mask the keys outside; windows from 1 to wider than n.
    q, k, v = qkv(2, 5, 5, n_q, n_k, 4, value_dim=3, seed=n_q)
    slopes, windows = [0.9, 0.2, 0.03, 0.01, 0.0], [1, 7, 90, 257, 400]
    position = torch.arange(n_k)
    u = (n_k - n_q + torch.arange(n_q))[:, None] - position[None, :]
    expected = []
    for h, (m, w) in enumerate(zip(slopes, windows)):
        visible = (u.abs() < w) & ((u >= 0) | (not causal))
        scores = (q[:, h] @ k[:, h].transpose(-1, -2)) / 2 + torch.where(visible, -m * u.abs().double(), -math.inf)
        expected.append(torch.softmax(scores, dim=-1) @ v[:, h])
    actual = window_alibi_attention(q, k, v, slopes, windows, causal=causal)
    torch.testing.assert_close(actual, torch.stack(expected, dim=1), rtol=1e-10, atol=1e-10)


def _spec_cases():
    yield {"kind": "lsh", "num_samples": 0}, lambda a: lsh_alibi_attention(*a, 0)
    yield {"kind": "lsh", "num_samples": 2**16 + 1}, lambda a: lsh_alibi_attention(*a, 2**16 + 1)
    yield {"kind": "lsh", "seed": -1}, lambda a: lsh_alibi_attention(*a, 2, seed=-1)
    yield {"kind": "lsh", "seed": 2**63}, lambda a: lsh_alibi_attention(*a, 2, seed=2**63)
    yield {"kind": "lsh", "scheme": "x"}, lambda a: lsh_alibi_attention(*a, 2, scheme="x")
    yield {"kind": "window", "sliding_window": 0}, lambda a: window_alibi_attention(*a, 0)
    yield {"kind": "window", "sliding_window": [3, 0]}, lambda a: window_alibi_attention(*a, [3, 0])
    yield {"kind": "window", "sliding_window": 2.5}, lambda a: window_alibi_attention(*a, 2.5)
    yield {"kind": "window", "sliding_window": "abc"}, lambda a: window_alibi_attention(*a, "abc")


@pytest.mark.parametrize(("fields", "call"), list(_spec_cases()))
def test_attention_spec_refuses_at_construction_what_its_forward_would(fields, call):
    q, k, v = random_qkv(1, 2, 8, 4)
    with pytest.raises(ValueError) as forward:
        call((q, k, v, [0.5, 0.25]))
    with pytest.raises(ValueError) as construction:
        AttentionSpec(**fields)
    assert str(construction.value) == str(forward.value)
    # The message names the field (a window is checked under window_alibi_attention's argument name).
    assert str(construction.value).split()[0] in fields


def test_attention_spec_accepts_the_limits():
    assert AttentionSpec("lsh", num_samples=2**16, seed=2**63 - 1).num_samples == 2**16
    assert AttentionSpec("lsh", seed=None).seed is None
    assert AttentionSpec("window", sliding_window=[1, 4]).sliding_window == [1, 4]


ENTRY_POINTS = {
    "alibi_attention": lambda q, s: alibi_attention(q, q, q, s),
    "window_alibi_attention": lambda q, s: window_alibi_attention(q, q, q, s, 3),
    "lsh_alibi_attention": lambda q, s: lsh_alibi_attention(q, q, q, s, 2, seed=0),
    "lsh_alibi_attention_reference": lambda q, s: lsh_alibi_attention_reference(q, q, q, s, 2, seed=0),
    "attend exact": lambda q, s: attend(q, q, q, s),
    "attend lsh": lambda q, s: attend(q, q, q, s, AttentionSpec("lsh")),
    "attend window": lambda q, s: attend(q, q, q, s, AttentionSpec("window", sliding_window=3)),
}
BAD_SLOPES = {
    "requires grad": (
        torch.tensor([0.3, 0.1, 0.2, 0.05], requires_grad=True),
        r"gradients with respect to slopes are not supported; pass slopes\.detach\(\)",
    ),
    "2-D": (torch.tensor([[0.5, 0.1], [0.1, 0.2]]), r"slopes must be 1-D, one slope per head, got shape \(2, 2\)"),
    "a string": ("abc", "slopes must be numbers, one slope per head"),
}


@pytest.mark.parametrize("bad", list(BAD_SLOPES))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_slopes_that_need_grad_or_are_not_one_number_per_head_are_refused(entry, bad):
    # Before: the gradient of slopes was silently None, (2, 2) slopes were flattened into 4 heads.
    q = random_qkv(1, 4, 6, 4)[0]
    slopes, message = BAD_SLOPES[bad]
    with pytest.raises(ValueError, match=message):
        ENTRY_POINTS[entry](q, slopes)


def test_slopes_that_require_grad_are_fine_without_autograd():
    q = random_qkv(1, 2, 6, 4)[0]
    slopes = torch.tensor([0.3, 0.1], requires_grad=True)
    with torch.no_grad():  # no gradient is asked for, so none can go missing
        torch.testing.assert_close(alibi_attention(q, q, q, slopes), alibi_attention(q, q, q, slopes.detach()))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lsh_path": "blocks"}, r"lsh_path must be one of \('union', 'per-sample'\), got 'blocks'"),
        ({"fused": 1}, "fused must be True or False, got 1"),
        ({"exact_bias_elements": 0}, "exact_bias_elements must be an integer >= 1, got 0"),
        ({"union_backward_split": 2.5}, "union_backward_split must be an integer >= 1, got 2.5"),
        ({"union_tile_rows": TileRows(8, 4)}, r"union_tile_rows must be TileRows\(smallest, largest\)"),
        ({"draws_cache": {}}, "draws_cache must be a DrawsCache, got dict"),
    ],
)
def test_attention_options_refuse_what_no_path_can_run(fields, message):
    with pytest.raises(ValueError, match=message):
        AttentionOptions(**fields)


def test_tile_rows_are_a_power_of_two_near_a_quarter_of_the_reach():
    rows = TileRows(32, 256)
    assert [rows.for_reach(reach) for reach in (0, 1, 100, 128, 500, 10**6)] == [32, 32, 32, 32, 128, 256]


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("w", [1, 2, 5])
def test_sliding_window_keeps_distance_w_minus_1_and_drops_distance_w(w, causal):
    # sliding_window = w is FlashAttention's window_size = (w - 1, w - 1), causal (w - 1, 0):
    # with equal scores and slope 0, each kept key gets the same weight and a dropped one none.
    n_q, n_k = 6, 12
    q, k = torch.zeros(1, 1, n_q, 4, dtype=torch.float64), torch.zeros(1, 1, n_k, 4, dtype=torch.float64)
    v = torch.eye(n_k, dtype=torch.float64)[None, None]  # output row = the weights over the keys
    out = window_alibi_attention(q, k, v, [0.0], w, causal)[0, 0]
    i, j = torch.arange(n_k - n_q, n_k)[:, None], torch.arange(n_k)[None, :]
    left, right = w - 1, 0 if causal else w - 1  # FlashAttention's window_size
    kept = (j >= i - left) & (j <= i + right)
    assert kept[i - j == w - 1].all() and not kept[(i - j).abs() == w].any()  # the boundary itself
    assert w == 1 or bool(kept[j - i == w - 1].any()) != causal  # ahead: kept unless causal
    assert torch.equal(out > 0, kept)
    torch.testing.assert_close(out, kept.double() / kept.sum(dim=1, keepdim=True), rtol=1e-15, atol=0)
    q, k, v = qkv(1, 1, 1, n_q, n_k, 4, seed=w)
    expected = naive_attention(q, k, v, alibi_weight([0.3], [w]), causal)
    torch.testing.assert_close(window_alibi_attention(q, k, v, [0.3], w, causal), expected, rtol=1e-12, atol=1e-12)


def test_sliding_window_refuses_a_2d_window():
    # Before: [[4, 4]] was flattened into two per-head windows.
    q, k, v = qkv(1, 2, 2, 4, 4, 2)
    with pytest.raises(ValueError, match=r"sliding_window must be one integer >= 1 or one per head \(1-D\), got shape"):
        window_alibi_attention(q, k, v, [0.1, 0.2], [[4, 4]])


def test_attend_passes_its_options_to_the_attention_function():
    # The per-sample path computes the union path's estimator; attend must run the path asked for.
    q = torch.randn(1, 2, 24, 8, dtype=torch.float64)
    spec = AttentionSpec("lsh", num_samples=4, seed=3)
    union = attend(q, q, q, [0.5, 0.25], spec, options=AttentionOptions(lsh_path="union"))
    per_sample = attend(q, q, q, [0.5, 0.25], spec, options=AttentionOptions(lsh_path="per-sample", fused=False))
    torch.testing.assert_close(union, per_sample, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="options"):
        attend(q, q, q, [0.5, 0.25], spec, options="per-sample")
