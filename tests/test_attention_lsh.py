"""LSH attention: the fast paths against the dense reference estimator, and its use in models.

The reference (:func:`lsh_alibi_attention_reference`) is itself checked against the naive loop
with the sampled mask mean; the paths (plain, the count-weighted union pass, per-sample views and
gathers) must equal
it to rounding for every shape a model produces: decoding, chunked prefill, GQA, padding.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

import pytest
import torch

from alibi_lsh import (
    SCHEMES,
    AttentionSpec,
    alibi_attention,
    alibi_slopes,
    lsh_alibi_attention,
    lsh_alibi_attention_reference,
    window_alibi_attention,
)
from alibi_lsh.attention.lsh import draws as draws_module
from alibi_lsh.attention.lsh import geometry, union
from alibi_lsh.attention.lsh.draws import DRAWS_CACHE, DrawsCache, draw_head_blocks, draws_bytes, sample_head_partitions
from alibi_lsh.attention.lsh.per_sample import binning_runs, padded_width
from alibi_lsh.attention.options import AttentionOptions
from alibi_lsh.attention.spec import attend
from alibi_lsh.samplers import CutsSampler

from .conftest import random_qkv
from .naive_attention import mask_mean_weight, naive_attention
from .test_attention import qkv


@pytest.fixture(params=["union", "per-sample"])
def path(request) -> AttentionOptions:
    """Options choosing each LSH path in turn."""
    return AttentionOptions(lsh_path=request.param)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_reference_estimator_matches_the_naive_loop_with_the_mask_mean(scheme, causal):
    q, k, v = qkv(1, 2, 2, 6, 15, 3, seed=1)
    slopes = torch.tensor([0.6, 0.15], dtype=torch.float64)
    partitions = sample_head_partitions(15, slopes, 5, scheme, 7)
    expected = naive_attention(q, k, v, mask_mean_weight(partitions), causal)
    actual = lsh_alibi_attention_reference(q, k, v, slopes, 5, causal=causal, scheme=scheme, seed=7)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("n_q", "n_k"), [(61, 61), (17, 61), (1, 61)])
def test_fast_paths_equal_the_reference(scheme, causal, n_q, n_k, path):
    q, k, v = qkv(2, 4, 4, n_q, n_k, 8, value_dim=5, seed=n_q)
    slopes = alibi_slopes(4).double() * 4  # steep: many short blocks at this small n
    slopes[2] = 0.0  # one plain head
    expected = lsh_alibi_attention_reference(q, k, v, slopes, 5, causal=causal, scheme=scheme, seed=17)
    actual = lsh_alibi_attention(q, k, v, slopes, 5, causal=causal, scheme=scheme, seed=17, options=path)
    assert actual.dtype == q.dtype and actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


def test_float32_matches_the_float64_reference():
    q, k, v = random_qkv(3, 8, 61, 8, seed=8, score_scale=2.0)
    slopes = alibi_slopes(8) * 4
    for scheme in SCHEMES:
        expected = lsh_alibi_attention_reference(q.double(), k.double(), v.double(), slopes, 5, scheme=scheme, seed=2)
        actual = lsh_alibi_attention(q, k, v, slopes, 5, scheme=scheme, seed=2)
        torch.testing.assert_close(actual.double(), expected, rtol=1e-5, atol=1e-5)


def test_sample_chunks_and_tile_splits_do_not_change_the_result():
    q, k, v = random_qkv(2, 4, 90, 8, seed=2)
    slopes = alibi_slopes(4)
    small = AttentionOptions(
        per_sample_output_elements=2 * 4 * 90 * 8 * 5,  # 5 samples a chunk
        per_sample_gather_elements=1,  # one block per call
        union_bias_elements=1,  # one tile per call
    )
    for scheme in SCHEMES:
        whole = lsh_alibi_attention(q, k, v, slopes, 12, scheme=scheme, seed=3)
        torch.testing.assert_close(
            lsh_alibi_attention(q, k, v, slopes, 12, scheme=scheme, seed=3, options=small), whole
        )
        per_sample = replace(small, lsh_path="per-sample")
        torch.testing.assert_close(
            lsh_alibi_attention(q, k, v, slopes, 12, scheme=scheme, seed=3, options=per_sample), whole
        )


@pytest.mark.parametrize("scheme", SCHEMES)
def test_decoding_token_by_token_and_chunked_prefill_reproduce_the_full_call(scheme, path):
    # Blocks are a function of (seed, head, sample, position): a query sees the same blocks
    # whatever the length of the cache.
    q, k, v = qkv(2, 3, 3, 40, 40, 4, seed=4)
    slopes = torch.tensor([0.5, 0.1, 0.02])
    methods = {
        "lsh": lambda q, k, v: lsh_alibi_attention(q, k, v, slopes, 6, scheme=scheme, seed=9, options=path),
        "exact": lambda q, k, v: alibi_attention(q, k, v, slopes),
        "window": lambda q, k, v: window_alibi_attention(q, k, v, slopes, [3, 9, 50]),
    }
    for name, method in methods.items():
        full = method(q, k, v)
        for t in (0, 1, 17, 39):  # one decoding step with a cache of t + 1 keys
            step = method(q[:, :, t : t + 1], k[:, :, : t + 1], v[:, :, : t + 1])
            torch.testing.assert_close(step, full[:, :, t : t + 1], rtol=1e-12, atol=1e-12, msg=name)
        for start, stop in ((0, 13), (13, 29), (29, 40)):  # chunked prefill
            chunk = method(q[:, :, start:stop], k[:, :, :stop], v[:, :, :stop])
            torch.testing.assert_close(chunk, full[:, :, start:stop], rtol=1e-12, atol=1e-12, msg=name)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_grouped_query_heads_equal_repeated_kv_heads(scheme, path):
    q, k, v = qkv(2, 6, 2, 9, 30, 4, seed=3)
    slopes = alibi_slopes(6).double() * 8
    grouped = lsh_alibi_attention(q, k, v, slopes, 4, scheme=scheme, seed=5, enable_gqa=True, options=path)
    repeated = lsh_alibi_attention(
        q, k.repeat_interleave(3, dim=1), v.repeat_interleave(3, dim=1), slopes, 4, scheme=scheme, seed=5, options=path
    )
    torch.testing.assert_close(grouped, repeated, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_padded_row_equals_the_sequence_alone_and_ignores_its_padding(scheme, path):
    q, k, v = qkv(3, 2, 2, 30, 30, 4, seed=11)
    slopes = [0.5, 0.08]
    runs = [(7, 30), (0, 21), (3, 26)]  # left, right, both
    mask = torch.zeros(3, 30, dtype=torch.bool)
    for b, (first, end) in enumerate(runs):
        mask[b, first:end] = True
    padded = lsh_alibi_attention(q, k, v, slopes, 5, scheme=scheme, seed=1, key_padding_mask=mask, options=path)
    for b, (first, end) in enumerate(runs):
        alone = lsh_alibi_attention(
            q[b : b + 1, :, first:end], k[b : b + 1, :, first:end], v[b : b + 1, :, first:end], slopes, 5,
            scheme=scheme, seed=1, options=path,
        )  # fmt: skip
        torch.testing.assert_close(padded[b : b + 1, :, first:end], alone, rtol=1e-12, atol=1e-12)
    padding_rows = padded[~mask[:, None, :].expand(3, 2, 30)]
    assert padding_rows.shape == (2 * 23, 4) and torch.equal(padding_rows, torch.zeros_like(padding_rows))
    real = mask[:, None, :, None]
    k2, v2 = torch.where(real, k, 50.0), torch.where(real, v, -50.0)
    changed = lsh_alibi_attention(
        q, k2, v2, slopes, 5, scheme=scheme, seed=1, key_padding_mask=mask.long(), options=path
    )
    assert torch.equal(changed, padded)
    expected = lsh_alibi_attention_reference(q, k, v, slopes, 5, scheme=scheme, seed=1, key_padding_mask=mask)
    torch.testing.assert_close(padded, expected, rtol=1e-10, atol=1e-10)


def test_slope_zero_is_plain_attention():
    q, k, v = random_qkv(1, 2, 33, 8, seed=9)
    plain = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    approx = lsh_alibi_attention(q, k, v, [0.0, 0.0], 3, seed=0)
    torch.testing.assert_close(approx, plain, rtol=1e-5, atol=1e-6)


def test_error_against_exact_falls_with_more_samples():
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


def test_padded_width_classes():
    lengths = torch.tensor([1, 8, 9, 12, 13, 16, 17, 24, 25, 100, 1000])
    assert padded_width(lengths).tolist() == [8, 8, 12, 12, 16, 16, 24, 24, 32, 128, 1024]


def test_binning_runs_cover_the_queries_with_their_blocks():
    for n_k in (1, 5, 64):
        for n_q in {1, n_k // 2 or 1, n_k}:
            for width in (1, 3, 8, 100):
                for shift in range(width):
                    covered = []
                    for run in binning_runs(n_q, n_k, width, shift):
                        length = (run.stop - run.key_start) // run.count
                        for b in range(run.count):
                            start = run.key_start + b * length
                            block = {(i + shift) // width for i in range(start, start + length)}
                            assert len(block) == 1 and (start == 0 or (start - 1 + shift) // width not in block)
                        covered += range(run.query_start, run.stop)
                    assert covered == list(range(n_k - n_q, n_k))


def _random_case(rng: random.Random):
    """A random call: shapes, dtype, strides, mask, flags; sometimes invalid."""
    kv_heads = rng.choice([1, 2, 3])
    heads = kv_heads * rng.choice([1, 2]) if rng.random() < 0.9 else kv_heads + 1
    gqa = heads != kv_heads or rng.random() < 0.3
    n_k = rng.randint(1, 40)
    n_q = rng.randint(1, n_k) if rng.random() < 0.95 else n_k + 1
    batch, dim, value_dim = rng.randint(1, 3), rng.randint(1, 9), rng.randint(1, 9)
    dtype = rng.choice([torch.float32, torch.float64])
    generator = torch.Generator().manual_seed(rng.randint(0, 10**6))

    def tensor(h, n, d):
        if rng.random() < 0.5:  # (B, n, H, d) storage seen through a transpose, as models produce
            return torch.randn(batch, n, h, d, generator=generator, dtype=torch.float64).transpose(1, 2).to(dtype)
        return torch.randn(batch, h, n, d + 2, generator=generator, dtype=torch.float64)[..., 1 : d + 1].to(dtype)

    q, k, v = tensor(heads, n_q, dim), tensor(kv_heads, n_k, dim), tensor(kv_heads, n_k, value_dim)
    mask = None
    if rng.random() < 0.4:
        mask = torch.zeros(batch, n_k, dtype=torch.bool)
        for b in range(batch):
            first = rng.randint(0, n_k)
            mask[b, first : rng.randint(first, n_k)] = True
        if rng.random() < 0.1 and n_k > 2:
            mask[0] = torch.tensor([True, False] * (n_k // 2) + [True] * (n_k % 2))  # holes
    slopes = [rng.choice([0.0, 0.05, 0.3, 1.5, 40.0]) for _ in range(heads)]
    kwargs = {"causal": rng.random() < 0.7, "scheme": rng.choice(SCHEMES), "seed": rng.randint(0, 99)}
    kwargs["head_offset"] = rng.randint(0, 3) * max(1, heads // kv_heads)
    return (q, k, v, slopes, rng.randint(1, 6)), kwargs | {"key_padding_mask": mask, "enable_gqa": gqa}


def test_random_shapes_match_the_reference_or_raise_value_error():
    rng = random.Random(2024)
    checked = refused = 0
    for _ in range(120):
        args, kwargs = _random_case(rng)
        try:
            expected = lsh_alibi_attention_reference(*args, **kwargs)
        except ValueError as error:
            with pytest.raises(ValueError, match=re.escape(str(error)[:40])):
                lsh_alibi_attention(*args, **kwargs)
            refused += 1
            continue
        actual = lsh_alibi_attention(*args, **kwargs)
        tolerance = 1e-10 if args[0].dtype == torch.float64 else 1e-5
        torch.testing.assert_close(actual, expected, rtol=tolerance, atol=tolerance)
        checked += 1
    assert checked >= 80 and refused >= 5, (checked, refused)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_shard_of_heads_reproduces_those_heads_of_the_full_call(scheme):
    q, k, v = qkv(1, 8, 4, 20, 20, 4, seed=13)
    slopes = alibi_slopes(8).double() * 4
    full = lsh_alibi_attention(q, k, v, slopes, 5, scheme=scheme, seed=3, enable_gqa=True)
    for first, stop in ((0, 2), (2, 6), (6, 8)):  # whole groups of 2 query heads
        shard = lsh_alibi_attention(
            q[:, first:stop], k[:, first // 2 : stop // 2], v[:, first // 2 : stop // 2], slopes[first:stop], 5,
            scheme=scheme, seed=3, enable_gqa=True, head_offset=first,
        )  # fmt: skip
        torch.testing.assert_close(shard, full[:, first:stop], rtol=1e-12, atol=1e-12)
    reference = lsh_alibi_attention_reference(q[:, 2:6], k[:, 1:3], v[:, 1:3], slopes[2:6], 5, scheme=scheme, seed=3,
                                              enable_gqa=True, head_offset=2)  # fmt: skip
    torch.testing.assert_close(reference, full[:, 2:6], rtol=1e-10, atol=1e-10)


def test_seed_rules():
    q, k, v = qkv(1, 2, 2, 10, 10, 4)
    with pytest.raises(ValueError, match="head_offset != 0"):
        lsh_alibi_attention(q, k, v, [0.1, 0.2], 2, seed=torch.Generator(), head_offset=2)
    with pytest.raises(ValueError, match="head_offset must be a multiple of H / H_kv = 2"):
        lsh_alibi_attention(q, k[:, :1], v[:, :1], [0.1, 0.2], 2, seed=0, head_offset=3, enable_gqa=True)
    for offset in (-1, 1.5):
        with pytest.raises(ValueError, match="head_offset must be an integer"):
            lsh_alibi_attention(q, k, v, [0.1, 0.2], 2, seed=0, head_offset=offset)
    for seed in (-1, 2**63, 0.5):
        with pytest.raises(ValueError, match="seed must be an integer"):
            lsh_alibi_attention(q, k, v, [0.1, 0.2], 2, seed=seed)
    torch.manual_seed(4)
    first = lsh_alibi_attention(q, k, v, [0.1, 0.2], 2)
    torch.manual_seed(4)
    assert torch.equal(lsh_alibi_attention(q, k, v, [0.1, 0.2], 2), first)  # seed=None follows torch's generator
    assert not torch.equal(lsh_alibi_attention(q, k, v, [0.1, 0.2], 2), first)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_decoding_step_reads_and_draws_only_what_its_blocks_need(scheme, monkeypatch):
    # Keys far behind the query are never read (NaN there is not even looked at) and the cut
    # draws cover only gaps near the query, whatever the length of the cache.
    n_k = 2**18
    q, k, v = qkv(1, 2, 2, 1, n_k, 2, seed=1, dtype=torch.float32)
    k[:, :, : n_k - 4096] = float("nan")
    hashed = []
    original = CutsSampler.cuts_after

    def recording(self, first, stop, *args, **kwargs):
        hashed.append(stop - first)
        return original(self, first, stop, *args, **kwargs)

    monkeypatch.setattr(CutsSampler, "cuts_after", recording)
    out = lsh_alibi_attention(q, k, v, [0.5, 0.05], 8, scheme=scheme, seed=2)
    assert torch.isfinite(out).all()
    assert all(count < 4096 for count in hashed) and (scheme != "cuts" or hashed)
    with pytest.raises(ValueError, match="k contains NaN"):
        alibi_attention(q, k, v, [0.5, 0.05])  # exact attention reads every key
    assert torch.isfinite(window_alibi_attention(q, k, v, [0.5, 0.05], 100)).all()


def test_draws_are_cached_per_integer_seed():
    slopes = alibi_slopes(4).double()
    first = DRAWS_CACHE.get(slopes, 4, "binning", 7, 0)
    assert DRAWS_CACHE.get(slopes, 4, "binning", 7, 0) is first
    assert DRAWS_CACHE.get(slopes, 4, "binning", 7, 4) is not first
    assert DRAWS_CACHE.get(slopes, 4, "binning", None, 0) is not DRAWS_CACHE.get(slopes, 4, "binning", None, 0)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_union_pass_on_long_inputs_with_padding_equals_the_reference(scheme, causal):
    # Wide heads at n = 300: many tiles, several tile sizes and span classes in one call, rows with
    # their own padding, queries the last 250 of 300 keys, GQA; small calls split every class.
    options = AttentionOptions(union_bias_elements=40_000)
    q, k, v = qkv(3, 4, 2, 250, 300, 4, value_dim=3, seed=7)
    slopes = torch.tensor([1 / 2, 1 / 16, 1 / 64, 1 / 128], dtype=torch.float64)
    mask = torch.ones(3, 300, dtype=torch.bool)
    mask[0, :40], mask[2, 260:] = False, False
    kwargs = {"causal": causal, "scheme": scheme, "seed": 5, "enable_gqa": True, "key_padding_mask": mask}
    expected = lsh_alibi_attention_reference(q, k, v, slopes, 6, **kwargs)
    actual = lsh_alibi_attention(q, k, v, slopes, 6, **kwargs, options=options)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)
    plan = union.UnionPlan(
        DRAWS_CACHE.get(slopes, 6, scheme, 5, 0), [0, 1, 2, 3], 2, (3, 4, 250, 300, 2), None, causal, options=options
    )
    assert len(set(plan.table.rows.tolist())) > 1 and len(set(plan.table.span.tolist())) > 3


@pytest.mark.parametrize("scheme", SCHEMES)
def test_block_bounds_are_the_first_and_last_position_of_each_block(scheme):
    slopes = torch.tensor([0.3, 0.02], dtype=torch.float64)
    draws = DRAWS_CACHE.get(slopes, 5, scheme, 9, 0)
    for draw, head in zip(draws, sample_head_partitions(70, slopes, 5, scheme, 9)):
        start, end = geometry.block_bounds(draw, 20, 70, need_end=True)
        for r, partition in enumerate(head):
            ids = partition.block_ids()
            for i in range(20, 70):
                same = (ids == ids[i]).nonzero().reshape(-1)
                assert (start[r, i - 20], end[r, i - 20]) == (same.min(), same.max())


def test_tile_rows_and_span_classes():
    tile_rows = AttentionOptions().union_tile_rows
    assert [tile_rows.for_reach(reach) for reach in (1, 40, 100, 700, 5000)] == [16, 16, 32, 128, 256]
    spans = torch.tensor([1, 16, 17, 100, 128, 129, 1000, 1025])
    assert union.span_class(spans).tolist() == [16, 16, 32, 112, 128, 144, 1024, 1152]


def test_heads_too_large_together_go_in_groups_and_alone_take_the_per_sample_path():
    # The union pass holds R block bounds per query row and head: heads are grouped under a cap,
    # and a head above it alone takes the memory-bounded per-sample path. Same output either way.
    q, k, v = qkv(2, 4, 2, 20, 30, 4, seed=9)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, :6] = False
    kwargs = {"seed": 2, "enable_gqa": True, "key_padding_mask": mask}
    slopes = [0.5, 0.1, 0.0, 0.03]
    whole = lsh_alibi_attention(q, k, v, slopes, 5, **kwargs)
    rows = geometry.query_rows(2, 20, 30, [(0, 30), (6, 30)])
    assert rows == 20 + 20
    for cap, groups in ((5 * rows, [[0], [1], [3]]), (5 * rows - 1, None)):
        assert union.head_groups([0, 1, 3], 5, rows, cap) == groups
        options = AttentionOptions(union_bounds_elements=cap)
        actual = lsh_alibi_attention(q, k, v, slopes, 5, **kwargs, options=options)
        torch.testing.assert_close(actual, whole, rtol=1e-12, atol=1e-12)


def test_head_offset_is_checked_against_the_last_global_head():
    # Before: "head must be an integer >= 0 and <= 4294967295, got 4294967296" (an internal name, a value not typed).
    q, k, v = qkv(1, 4, 4, 3, 3, 2)
    slopes = [0.1, 0.2, 0.3, 0.4]
    message = "head_offset must be an integer >= 0 and <= 4294967292, got 4294967294"
    for call in (lsh_alibi_attention, lsh_alibi_attention_reference):
        with pytest.raises(ValueError, match=message):
            call(q, k, v, slopes, 2, seed=0, head_offset=2**32 - 2)
    with pytest.raises(ValueError, match=message):
        attend(q, k, v, slopes, AttentionSpec("lsh", num_samples=2), head_offset=2**32 - 2)
    with pytest.raises(ValueError, match=message):
        sample_head_partitions(3, torch.tensor(slopes), 2, "binning", 0, head_offset=2**32 - 2)
    last = 2**32 - 4  # heads 2^32 - 4 .. 2^32 - 1: the last four global heads, allowed
    expected = lsh_alibi_attention_reference(q, k, v, slopes, 2, seed=0, head_offset=last)
    torch.testing.assert_close(lsh_alibi_attention(q, k, v, slopes, 2, seed=0, head_offset=last), expected)


def test_a_decoding_model_with_80_layers_draws_each_layer_once(monkeypatch):
    # BLOOM-176B has 70 layers; a cache of 64 entries redrew every layer's blocks at every step.
    drawn = []
    monkeypatch.setattr(draws_module, "draw_head_blocks", lambda *a: drawn.append(a[-1]) or draw_head_blocks(*a))
    DRAWS_CACHE.clear()
    heads, layers = 8, 80
    q, k, v = qkv(1, heads, heads, 1, 12, 4, seed=2)
    slopes = alibi_slopes(heads).double()
    for _step in range(3):
        for layer in range(layers):
            lsh_alibi_attention(q, k, v, slopes, 4, seed=1, head_offset=layer * heads)
    assert sorted(drawn) == [layer * heads for layer in range(layers)]  # once per layer, not per step
    assert len(DRAWS_CACHE) == layers


def test_the_draws_cache_is_bounded_by_bytes():
    slopes = alibi_slopes(4).double()
    entry = draws_bytes(DRAWS_CACHE.get(slopes, 16, "binning", 0, 0))
    assert entry == 4 * (draws_module.HEAD_OVERHEAD_BYTES + 2 * 16 * 8)  # objects + int64 widths and shifts
    cache = DrawsCache(budget_bytes=3 * entry)
    first = [cache.get(slopes, 16, "binning", 0, 4 * layer) for layer in range(5)]
    assert len(cache) == 3 and cache.held_bytes() == 3 * entry  # the two least recently used went
    assert cache.get(slopes, 16, "binning", 0, 16) is first[4]
    assert cache.get(slopes, 16, "binning", 0, 0) is not first[0]  # drawn again, equal
    latest = cache.get(slopes, 16, "binning", 0, 0)
    assert torch.equal(latest[1].widths, first[0][1].widths)
    cache.set_budget(entry)  # keeps the most recently used entry only
    assert cache.budget_bytes == entry and len(cache) == 1 and cache.get(slopes, 16, "binning", 0, 0) is latest
    cache.clear()
    assert len(cache) == 0 and cache.held_bytes() == 0
    for budget in (-1, 1.5, "8"):
        with pytest.raises(ValueError, match="budget_bytes must be an integer >= 0"):
            DrawsCache(budget)


def test_the_draws_cache_counts_every_byte_it_holds():
    # Before: the cut patterns hashed during a call (R bytes a position and head) stayed in the
    # cached entry, uncounted: H = 8, n = 16384, R = 1024 left 128 MiB under a 64 MiB budget.
    slopes = torch.tensor([0.01, 0.002], dtype=torch.float64)
    DRAWS_CACHE.clear()
    q, k, v = qkv(1, 2, 2, 4, 4096, 2, seed=1, dtype=torch.float32)
    lsh_alibi_attention(q, k, v, slopes, 64, scheme="cuts", seed=1)
    stored = [draws for draws, _ in DRAWS_CACHE._entries.values()]
    assert len(stored) == 1 and all(not draw._last_cuts for draw in stored[0])  # no memo kept
    assert DRAWS_CACHE.held_bytes() == draws_bytes(stored[0]) == 2 * draws_module.HEAD_OVERHEAD_BYTES
    DRAWS_CACHE.clear()
