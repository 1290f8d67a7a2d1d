"""Philox4x32-10, the counter-based random generator behind every sampled block (docs/blocks.md).

A counter-based generator maps (counter, key) to random bits with no state in between, so a draw
is a pure function of its coordinates: here (stream, head, sample, index) as the counter and the
seed as the key. That is what makes the blocks of a head independent of the other heads, of R, of
n and of call order, and what lets the browser reproduce them in JavaScript.

Reference: J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random numbers: as easy
as 1, 2, 3", SC 2011 (the Random123 library; its known-answer vectors are in the tests).

Words are held in numpy ``uint64`` arrays with values below 2^32: the product of two 32-bit
words fits in 64 bits exactly, so the high and low halves of ``mulhilo`` are a shift and a mask.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_int

# Round multipliers and key increments (Weyl constants) of Philox4x32, from the paper.
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_LOW = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)

ROUNDS = 10
# Counters per pass: numpy temporaries of this size stay in cache, which made the generator about
# 7x faster than one pass over a million counters (measured on a 2-core CPU).
COUNTERS_PER_PASS = 2**16
MAX_SEED = 2**63 - 1
MAX_WORD = 2**32 - 1


def seed_key(seed: int) -> tuple[int, int]:
    """The two key words of a seed in [0, 2^63 - 1]: (seed mod 2^32, seed // 2^32)."""
    seed = check_int("seed", seed, minimum=0, maximum=MAX_SEED)
    return seed & MAX_WORD, seed >> 32


def philox4x32(counter: np.ndarray, key: tuple[int, int], rounds: int = ROUNDS) -> np.ndarray:
    """Philox4x32 of counters (..., 4) under one key; returns (..., 4) uint64 words below 2^32.

    ``counter`` holds 32-bit words in any integer dtype, values in 0 .. 2^32 - 1; ``key`` is two
    such words (:func:`seed_key`); ``rounds`` an integer >= 1. ValueError otherwise: a word out of
    range would silently wrap into another counter's stream.
    """
    words = np.asarray(counter)
    if words.shape[-1:] != (4,):
        raise ValueError(f"counter must have a last dimension of 4 words, got shape {words.shape}")
    if words.dtype.kind not in "iu":
        raise ValueError(f"counter must hold integer words, got dtype {words.dtype}")
    if words.size and (int(words.min()) < 0 or int(words.max()) > MAX_WORD):
        raise ValueError(f"counter words must lie in 0..2^32 - 1, got {int(words.min())}..{int(words.max())}")
    if not (isinstance(key, tuple) and len(key) == 2):
        raise ValueError(f"key must be two 32-bit words (see seed_key), got {key!r}")
    for word in key:
        check_int("key word", word, minimum=0, maximum=MAX_WORD)
    rounds = check_int("rounds", rounds, minimum=1)
    flat = words.reshape(-1, 4)
    out = np.empty(flat.shape, dtype=np.uint64)
    for lo in range(0, flat.shape[0], COUNTERS_PER_PASS):
        out[lo : lo + COUNTERS_PER_PASS] = _philox_pass(flat[lo : lo + COUNTERS_PER_PASS], key, rounds)
    return out.reshape(words.shape)


def _philox_pass(words: np.ndarray, key: tuple[int, int], rounds: int) -> np.ndarray:
    c0, c1, c2, c3 = (words[:, i].astype(np.uint64) for i in range(4))
    k0, k1 = key
    for round_index in range(rounds):
        if round_index:  # the key advances between rounds
            k0, k1 = (k0 + _W0) & MAX_WORD, (k1 + _W1) & MAX_WORD
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c1, c2, c3 = (p1 >> _32) ^ c1 ^ np.uint64(k0), p1 & _LOW, (p0 >> _32) ^ c3 ^ np.uint64(k1), p0 & _LOW
    return np.stack([c0, c1, c2, c3], axis=-1)


def counters(stream: int, head: int, sample: np.ndarray | int, index: np.ndarray | int) -> np.ndarray:
    """Counters (stream, head, sample, index) broadcast over ``sample`` and ``index``: (..., 4)."""
    sample, index = np.broadcast_arrays(np.asarray(sample, dtype=np.uint64), np.asarray(index, dtype=np.uint64))
    return np.stack(
        [np.full(sample.shape, stream, np.uint64), np.full(sample.shape, head, np.uint64), sample, index], -1
    )


def uniform53(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Uniforms in [0, 1) from the top 53 bits of two 32-bit words: exact float64 k / 2^53."""
    top = (high >> np.uint64(5)).astype(np.float64) * 2.0**26 + (low >> np.uint64(6)).astype(np.float64)
    return top / 2.0**53
