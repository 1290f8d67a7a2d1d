"""The JavaScript block function of the live figures, run in headless Chromium, against the library.

The component's module (blocks.js + live_masks.js, exactly as Streamlit serves it) is imported
into a blank page. Its Philox must give the published known answers, its widths, shifts and cuts
must equal alibi_lsh.samplers bit for bit, its mask counts must equal mask_running_mean's, and its
mask means must sit within 5 sigma of exp(-m d).

Mandatory in CI (env CI set); locally skipped only when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from alibi_lsh import PositionalKernel, mask_running_mean, sample_partitions
from alibi_lsh.app.live.component import component_source
from alibi_lsh.samplers import BinningSampler, CutsSampler, QMCSampler

from . import blocks_by_hand as ref
from .browser_support import launch_chromium, require_chromium
from .test_block_function import KNOWN_ANSWERS, random_triples

require_chromium()

from playwright import sync_api as playwright  # noqa: E402  (after the skip: only needed with a browser)

LOAD_MODULE = """async (source) => {
    const url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));
    window.live = await import(url);
}"""


@pytest.fixture(scope="module")
def js():
    """A blank page with the component's module loaded as ``window.live``; call js(expression, arg)."""
    with playwright.sync_playwright() as driver:
        browser = launch_chromium(driver)
        page = browser.new_page()
        page.set_content("<!doctype html><title>live masks module</title>")
        page.evaluate(LOAD_MODULE, component_source()["js"])
        yield page.evaluate
        browser.close()


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_gives_the_published_known_answers(js, counter, key, expected):
    words = js("([c, k]) => Array.from(live.philox4x32(...c, ...k))", [counter, key])
    assert tuple(words) == expected


def test_philox_and_the_high_word_of_products_on_random_and_extreme_words(js):
    rng = random.Random(7)
    extremes = [0, 1, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]
    pairs = [(a, b) for a in extremes for b in extremes]
    pairs += [(rng.getrandbits(32), rng.getrandbits(32)) for _ in range(500)]
    highs = js("pairs => pairs.map(([a, b]) => live.mulhi32(a, b))", pairs)
    assert highs == [a * b >> 32 for a, b in pairs]
    cases = [([rng.getrandbits(32) for _ in range(4)], [rng.getrandbits(32) for _ in range(2)]) for _ in range(200)]
    words = js("cases => cases.map(([c, k]) => Array.from(live.philox4x32(...c, ...k)))", cases)
    assert [tuple(w) for w in words] == [ref.philox(tuple(c), tuple(k)) for c, k in cases]


def test_seeds_split_into_key_words_beyond_two_to_the_53(js):
    seeds = [0, 1, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1]
    assert js("seeds => seeds.map(s => live.seedKey(s))", [str(s) for s in seeds]) == [
        [s & 0xFFFFFFFF, s >> 32] for s in seeds
    ]
    for bad in ["-1", str(2**63)]:
        message = js("s => { try { live.seedKey(s); return ''; } catch (e) { return e.message; } }", bad)
        assert "seed must be an integer in 0 .. 2^63 - 1" in message


DRAWS_IN_JS = """rows => rows.map(([seed, head, sample, slope, first]) => {
    const key = live.seedKey(seed);
    const thresholds = live.cutThresholds(slope);
    const cuts = [];
    for (let t = 0; t < 9; t++) cuts.push(live.cutAfter(key, head, sample, first + t, thresholds));
    return {
        binning: live.widthAndShift(slope, ...live.binningPoint(key, head, sample)),
        qmc: live.widthAndShift(slope, ...live.qmcPoint(key, head, sample)),
        cuts,
        thresholds,
    };
})"""


def test_100_triples_draw_the_widths_shifts_and_cuts_of_the_library(js):
    """(seed, head, sample) over the documented ranges: seeds up to 2^63 - 1, heads up to 2^32 - 1,
    cut positions up to 2^32 - 56; six slopes from 1 to 2.5e-4."""
    rng = random.Random(11)
    triples = random_triples(100, seed=12)
    rows = [(str(seed), head, sample, slope, rng.randrange(2**32 - 64)) for seed, head, sample, slope in triples]
    drawn = js(DRAWS_IN_JS, rows)
    for (seed, head, sample, slope, first), got in zip(rows, drawn):
        seed, kernel = int(seed), PositionalKernel.alibi(slope)
        for name, sampler in (("binning", BinningSampler(kernel)), ("qmc", QMCSampler(kernel))):
            widths, shifts = sampler.draw(sample + 1, seed, head)
            assert got[name] == [int(widths[sample]), int(shifts[sample])], (name, seed, head, sample, slope)
        cuts = CutsSampler(kernel)
        assert got["thresholds"] == [cuts.threshold_high, cuts.threshold_low], slope
        assert got["cuts"] == cuts.cuts_after(first, first + 9, sample + 1, seed, head)[sample].tolist()


STARTS_IN_JS = """([n, slope, samples, scheme, seed, head]) =>
    Array.from({length: samples}, (_, r) => live.sampleStarts(n, slope, scheme, seed, head, r))"""


@pytest.mark.parametrize(
    ("n", "slope", "samples", "scheme", "seed", "head"),
    [
        (97, 0.1, 12, "binning", 2**53 + 1, 5),
        (64, 1.0, 8, "qmc", 0, 0),
        (130, 0.02, 6, "cuts", 2**63 - 1, 2**32 - 1),
        (5, 8.0, 4, "cuts", 3, 1),
        (40, 0.0, 2, "binning", 3, 1),  # slope 0: one block, nothing drawn
    ],
)
def test_partitions_equal_sample_partitions(js, n, slope, samples, scheme, seed, head):
    starts = js(STARTS_IN_JS, [n, slope, samples, scheme, str(seed), head])
    expected = sample_partitions(n, slope, samples, scheme, seed=seed, head=head)
    assert starts == [p.starts.tolist() for p in expected]


COUNTS_IN_JS = """([n, slope, scheme, seed, head, up, down]) => {
    // Add `up` masks one by one, then remove masks down to `down`, as dragging R does.
    const draws = new live.SampleDraws(n, scheme, seed, head);
    draws.ensure(up);
    const thresholds = live.cutThresholds(slope);
    const blocks = Array.from({length: up}, (_, r) => draws.blocks(r, slope, thresholds).starts);
    const counts = new live.MaskCounts(n);
    for (let r = 0; r < up; r++) counts.apply(blocks[r], +1);
    for (let r = up - 1; r >= down; r--) counts.apply(blocks[r], -1);
    return Array.from(counts.update());
}"""


@pytest.mark.parametrize(("scheme", "slope"), [("binning", 0.05), ("qmc", 0.3), ("cuts", 0.1)])
def test_counts_after_adding_and_removing_masks_equal_the_library_mean(js, scheme, slope):
    n, seed, head, up, down = 70, 2**40 + 3, 9, 40, 17
    counts = np.array(js(COUNTS_IN_JS, [n, slope, scheme, str(seed), head, up, down])).reshape(n, n)
    means, _ = mask_running_mean(n, slope, down, scheme, seed=seed, head=head, checkpoints=[down])
    assert np.array_equal(counts, torch.round(means[0].double() * down).numpy().astype(int))


@pytest.mark.parametrize(("scheme", "seed"), [("binning", 1), ("qmc", 2), ("cuts", 3)])
def test_mask_means_are_within_5_sigma_of_the_kernel(js, scheme, seed):
    """n = 64, m = 1/16, R = 1024 masks of one head, every pair i < j (all have R k (1 - k) >= 19,
    so the normal approximation holds). Binning and cuts masks are independent: the mean of entry
    (i, j) has variance k (1 - k) / R with k = exp(-m |i - j|). The first 2^10 qmc points form a
    scrambled (0, 10, 2)-net in base 2, whose variance is at most (b / (b - 1))^(s - 1) = 2 times
    that (Owen 1997, "Monte Carlo variance of scrambled net quadrature", for t = 0 and b >= s).
    With 2016 pairs, P(some |z| > 5) <= 2016 * 5.7e-7 = 1.2e-3 under the union bound."""
    n, slope, samples = 64, 1 / 16, 1024
    counts = np.array(js(COUNTS_IN_JS, [n, slope, scheme, str(seed), 0, samples, samples])).reshape(n, n)
    mean = counts / samples
    distance = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    kernel = np.exp(-slope * distance)
    assert np.all(np.diag(counts) == samples)  # a position always shares its own block
    upper = np.triu_indices(n, 1)
    variance_factor = 2.0 if scheme == "qmc" else 1.0
    sigma = np.sqrt(variance_factor * kernel * (1 - kernel) / samples)[upper]
    assert (samples * kernel * (1 - kernel))[upper].min() >= 19
    z = (mean - kernel)[upper] / sigma
    assert np.abs(z).max() < 5, f"largest |z| = {np.abs(z).max():.2f} at distance {distance[upper][np.abs(z).argmax()]}"
    # Not a vacuous band: independent masks scatter about the kernel by about one sigma (rms z
    # near 1); the qmc points, spread evenly, scatter less than the bound allows.
    spread = math.sqrt(np.mean(z**2))
    print(f"{scheme}: max |z| = {np.abs(z).max():.2f}, rms z = {spread:.2f} over {z.size} pairs")
    assert (spread < 1.5) if scheme == "qmc" else (0.5 < spread < 1.5), spread
