"""The documented block function (docs/blocks.md): Philox, and the blocks as a function of
(seed, head, sample, position) only, checked against an independent scalar reading of the spec."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest
import torch

from alibi_lsh import PositionalKernel, sample_partitions
from alibi_lsh.attention.lsh.draws import draw_head_blocks
from alibi_lsh.philox import philox4x32
from alibi_lsh.samplers import BinningSampler, CutsSampler, QMCSampler

from . import blocks_by_hand as ref

# Random123's known-answer vectors for Philox4x32-10: counter, key, expected output.
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_matches_the_published_known_answers(counter, key, expected):
    assert philox4x32(np.array(counter), key).tolist() == list(expected)
    assert ref.philox(counter, key) == expected  # the scalar reference too, so it can judge the rest


def random_triples(count: int, seed: int) -> list[tuple[int, int, int, float]]:
    """(seed, head, sample, slope) spread over the whole documented ranges."""
    rng = random.Random(seed)
    slopes = [1.0, 1 / 2, 1 / 16, 1 / 256, 0.003, 2.5e-4]
    return [
        (
            rng.choice([0, 1, 2**32 - 1, 2**32, 2**63 - 1, rng.randrange(2**63)]),
            rng.randrange(2**32),
            rng.randrange(40),
            rng.choice(slopes),
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize(
    ("sampler_class", "reference"), [(BinningSampler, ref.binning_draw), (QMCSampler, ref.qmc_draw)]
)
def test_widths_and_shifts_equal_the_scalar_reference(sampler_class, reference):
    for seed, head, sample, slope in random_triples(100, seed=1):
        widths, shifts = sampler_class(PositionalKernel.alibi(slope)).draw(sample + 1, seed, head)
        assert (int(widths[sample]), int(shifts[sample])) == reference(seed, head, sample, slope)


def test_cuts_equal_the_scalar_reference():
    rng = random.Random(2)
    for seed, head, sample, slope in random_triples(100, seed=3):
        first = rng.randrange(2**32 - 64)
        cuts = CutsSampler(PositionalKernel.alibi(slope)).cuts_after(first, first + 9, sample + 1, seed, head)[sample]
        assert cuts.tolist() == [ref.cut_after(seed, head, sample, first + t, slope) for t in range(9)]


@pytest.mark.parametrize("scheme", ["binning", "qmc", "cuts"])
def test_blocks_depend_on_seed_head_and_sample_only(scheme):
    slopes = torch.tensor([1 / 2, 1 / 8, 1 / 32, 1 / 128])
    full = draw_head_blocks(300, slopes, 16, scheme, seed=9)
    shard = draw_head_blocks(300, slopes[2:], 16, scheme, seed=9, head_offset=2)  # heads 2, 3 alone
    fewer = draw_head_blocks(200, slopes, 5, scheme, seed=9)  # smaller n and R: a prefix of the same draws
    for h in range(4):
        pieces = ("cuts",) if scheme == "cuts" else ("widths", "shifts")
        for name in pieces:
            everything = getattr(full[h], name)
            if h >= 2:
                assert torch.equal(getattr(shard[h - 2], name), everything)
            expected = everything[:5, :199] if scheme == "cuts" else everything[:5]
            assert torch.equal(getattr(fewer[h], name), expected)
    other_seed = draw_head_blocks(300, slopes, 16, scheme, seed=10)
    name = "cuts" if scheme == "cuts" else "widths"
    assert not torch.equal(getattr(other_seed[3], name), getattr(full[3], name))


def test_partitions_of_a_head_are_those_attention_draws():
    draws = draw_head_blocks(120, torch.tensor([0.5, 0.05]), 6, "binning", seed=4, head_offset=7)
    partitions = sample_partitions(120, 0.05, 6, "binning", seed=4, head=8)
    assert [p.width for p in partitions] == draws[1].widths.tolist()
    assert [p.shift for p in partitions] == draws[1].shifts.tolist()


@pytest.mark.parametrize(("seed", "head"), [(0, 0), (5, 3), (2**63 - 1, 2**32 - 1)])
def test_first_power_of_two_qmc_points_form_a_net(seed, head):
    # For R = 2^m the points form a (0, m, 2)-net: every box [a/2^k, (a+1)/2^k) x [b/2^l, (b+1)/2^l)
    # with k + l = m holds exactly one point. Owen scrambling keeps this exactly.
    m = 7
    u = QMCSampler(PositionalKernel.alibi(0.1)).uniforms(2**m, seed, head)
    for k in range(m + 1):
        column, row = np.floor(u[:, 0] * 2**k).astype(int), np.floor(u[:, 1] * 2 ** (m - k)).astype(int)
        boxes = column * 2 ** (m - k) + row
        assert sorted(boxes.tolist()) == list(range(2**m)), k


def test_qmc_points_are_uniform_over_seeds():
    # Each scrambled point is uniform on [0, 1)^2. Point 1 over 4000 seeds: mean 1/2 with
    # sigma = sqrt(1/12 / 4000) = 0.0046; a 5-sigma band.
    points = np.stack([QMCSampler(PositionalKernel.alibi(0.1)).uniforms(2, seed, 0)[1] for seed in range(4000)])
    assert np.all(np.abs(points.mean(axis=0) - 0.5) < 5 * math.sqrt(1 / 12 / 4000))


@pytest.mark.parametrize("slope", [1e-15, 1e-3, 1 / 16, 0.7, 40.0])
def test_cut_threshold_is_the_floor_of_p_times_two_to_the_64(slope):
    sampler = CutsSampler(PositionalKernel.alibi(slope))
    p = -math.expm1(-slope)
    assert sampler.threshold_high * 2**32 + sampler.threshold_low == math.floor(Fraction(p) * 2**64)


def test_tied_words_are_settled_by_the_next_32_bits():
    sampler = CutsSampler(PositionalKernel.alibi(0.2))
    word = int(philox4x32(np.array([2, 3, 0, 0]), (11, 0))[2])  # sample 0, position 2 of head 3, seed 11
    sampler.threshold_high = word
    tie_break = int(philox4x32(np.array([5, 3, 0, 2]), (11, 0))[0])
    sampler.threshold_low = tie_break  # the tie-break word is not below itself: no cut
    assert not bool(sampler.cuts_after(2, 3, 1, 11, 3)[0, 0])
    sampler.threshold_low = tie_break + 1
    assert bool(sampler.cuts_after(2, 3, 1, 11, 3)[0, 0])


def test_a_slope_whose_cut_probability_rounds_to_one_cuts_everywhere():
    assert CutsSampler(PositionalKernel.alibi(1000.0)).draw(50, 3, seed=0).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be an integer >= 0 and <= 9223372036854775807, got -1"),
        ({"seed": 2**63}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"head": 2**32}, "head must be an integer >= 0 and <= 4294967295"),
    ],
)
def test_seed_and_head_ranges(kwargs, message):
    arguments = {"seed": 0, "head": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        sample_partitions(10, 0.1, 2, **arguments)
    sample_partitions(10, 0.1, 2, seed=2**63 - 1, head=2**32 - 1)  # the top of both ranges works


def test_a_generator_is_refused_for_a_shard():
    with pytest.raises(ValueError, match="head_offset"):
        draw_head_blocks(10, torch.tensor([0.1]), 2, "binning", seed=torch.Generator(), head_offset=1)
