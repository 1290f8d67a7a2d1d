"""The JavaScript LSH estimator (estimator.js, on the blocks of blocks.js), run in headless Chromium,
against the library: counts, weights and outputs of lsh_alibi_attention_reference, the outputs of alibi_attention and
window_alibi_attention and their weights (softmax of the ALiBi scores, over the keys each sees), on
the same q, k, v and the same blocks.

Both sides compute in float64; they differ only by the order of sums, so 1e-6 is a loose bound
(the observed difference is ~1e-15). Mandatory in CI (env CI set); locally skipped only when
/usr/bin/chromium is absent.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alibi_lsh import alibi_attention, lsh_alibi_attention_reference, window_alibi_attention
from alibi_lsh.app.live.playground import estimator_source
from alibi_lsh.attention.lsh.reference import block_mask_mean

from .browser_support import launch_chromium, require_chromium

require_chromium()

from playwright import sync_api as playwright  # noqa: E402  (after the skip: only needed with a browser)

LOAD_MODULE = """async (source) => {
    const url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));
    window.live = await import(url);
}"""

RUN_HEADS = """(args) => live.lshAlibiHeads(args).map(head => ({
    out: Array.from(head.lsh.out),
    weights: Array.from(head.lsh.weights),
    counts: Array.from(head.lsh.counts),
    exact: Array.from(head.exact.out),
    exactWeights: Array.from(head.exact.weights),
    window: head.window && Array.from(head.window.out),
    windowWeights: head.window && Array.from(head.window.weights),
}))"""

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def js():
    """A blank page with blocks.js + estimator.js loaded as ``window.live``."""
    with playwright.sync_playwright() as driver:
        browser = launch_chromium(driver)
        page = browser.new_page()
        page.set_content("<!doctype html><title>estimator module</title>")
        page.evaluate(LOAD_MODULE, estimator_source())
        yield page.evaluate
        browser.close()


def random_qkv(heads: int, n: int, d: int, seed: int, score_std: float):
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, heads, n, d, generator=generator, dtype=torch.float64) for _ in range(3))
    if score_std == 0:  # the library takes scale > 0 only: zero queries give the positional weights alone
        return torch.zeros_like(q), k, v, 1.0
    return q, k, v, score_std / d**0.5  # scale: scores scale q.k have standard deviation score_std


CASES = [
    # n, R, slopes, seed, causal, scheme, score std, head offset, window
    (24, 8, [0.25], 0, True, "binning", 1.0, 0, 5),
    (33, 1, [1 / 16], 7, False, "binning", 2.0, 0, 9),
    (40, 64, [0.5, 1 / 32], 2**53 + 1, True, "binning", 1.0, 3, 12),
    (29, 16, [0.1], 5, False, "cuts", 0.0, 1, 4),
    (31, 5, [2.0, 0.03], 11, False, "qmc", 1.5, 0, 31),
    (17, 3, [0.0], 4, True, "binning", 1.0, 0, 6),  # slope 0: one block, exactly plain attention
]


@pytest.mark.parametrize(("n", "samples", "slopes", "seed", "causal", "scheme", "score_std", "offset", "window"), CASES)
def test_estimator_equals_the_library_on_shared_blocks(
    js, n, samples, slopes, seed, causal, scheme, score_std, offset, window
):
    d, dv = 6, 5
    q, k, v, scale = random_qkv(len(slopes), n, d, seed % 1000, score_std)
    v = v[..., :dv].contiguous()
    got = js(
        RUN_HEADS,
        {
            "q": [q[0, h].flatten().tolist() for h in range(len(slopes))],
            "k": [k[0, h].flatten().tolist() for h in range(len(slopes))],
            "v": [v[0, h].flatten().tolist() for h in range(len(slopes))],
            "n": n, "d": d, "dv": dv, "slopes": slopes, "samples": samples, "scheme": scheme,
            "seed": str(seed), "headOffset": offset, "scale": scale, "causal": causal, "window": window,
        },
    )  # fmt: skip
    lsh = lsh_alibi_attention_reference(q, k, v, slopes, samples, causal, scheme, seed, scale, head_offset=offset)
    exact = alibi_attention(q, k, v, slopes, causal, scale)
    windowed = window_alibi_attention(q, k, v, slopes, window, causal, scale=scale)
    mean_mask = block_mask_mean(n, torch.tensor(slopes, dtype=torch.float64), samples, scheme, seed, offset)
    visible = torch.ones(n, n, dtype=torch.bool).tril() if causal else torch.ones(n, n, dtype=torch.bool)
    for h, head in enumerate(got):
        counts = np.array(head["counts"]).reshape(n, n)
        expected_counts = torch.round(mean_mask[h] * samples).masked_fill(~visible, 0).numpy()
        assert np.array_equal(counts, expected_counts), f"head {h}: counts differ"
        # The weights of the estimator, recomputed from the library's mean mask.
        scores = scale * q[0, h] @ k[0, h].T + torch.log(mean_mask[h])
        weights = torch.softmax(scores.masked_fill(~visible, -torch.inf), dim=-1).numpy()
        np.testing.assert_allclose(np.array(head["weights"]).reshape(n, n), weights, rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(np.array(head["out"]).reshape(n, dv), lsh[0, h].numpy(), rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(np.array(head["exact"]).reshape(n, dv), exact[0, h].numpy(), rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(
            np.array(head["window"]).reshape(n, dv), windowed[0, h].numpy(), rtol=0, atol=TOLERANCE
        )
        # Exact and window weights: softmax(scale q k^T - m |i - j|) over the keys each may see.
        distance = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs()
        alibi_scores = (scale * q[0, h] @ k[0, h].T - slopes[h] * distance).masked_fill(~visible, -torch.inf)
        for name, hidden in (("exactWeights", ~visible), ("windowWeights", ~visible | (distance >= window))):
            expected = torch.softmax(alibi_scores.masked_fill(hidden, -torch.inf), dim=-1).numpy()
            np.testing.assert_allclose(np.array(head[name]).reshape(n, n), expected, rtol=0, atol=TOLERANCE)
        if slopes[h] == 0:  # one block in every sample: the estimator is exact attention, bit for bit in the counts
            assert np.all(counts[visible.numpy()] == samples)
            np.testing.assert_allclose(head["out"], head["exact"], rtol=0, atol=1e-12)


def test_estimator_differs_from_exact_alibi_where_the_blocks_do(js):
    """Not vacuous: with few samples the estimate is off exact ALiBi by far more than the tolerance,
    and the relative error the module reports is the one numpy computes."""
    n, slopes = 32, [0.2]
    q, k, v, scale = random_qkv(1, n, 4, 3, 1.0)
    args = {
        "q": [q[0, 0].flatten().tolist()], "k": [k[0, 0].flatten().tolist()], "v": [v[0, 0].flatten().tolist()],
        "n": n, "d": 4, "dv": 4, "slopes": slopes, "samples": 2, "scheme": "binning", "seed": "1",
        "scale": scale, "causal": False, "window": 3,
    }  # fmt: skip
    head = js(RUN_HEADS, args)[0]
    error = js(
        "([a, b]) => live.relativeError(Float64Array.from(a), Float64Array.from(b))", [head["out"], head["exact"]]
    )
    expected = np.linalg.norm(np.subtract(head["out"], head["exact"])) / np.linalg.norm(head["exact"])
    assert error == pytest.approx(expected, rel=1e-12)
    assert error > 100 * TOLERANCE
