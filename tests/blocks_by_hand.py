"""The block function of docs/blocks.md written again, one draw at a time, with Python integers.

An independent reading of the spec (no code shared with ``alibi_lsh.philox`` or
``alibi_lsh.samplers``): the vectorised library must agree with it bit for bit, and so must the
JavaScript port in the app.
"""

from __future__ import annotations

import math

MASK32 = 0xFFFFFFFF


def philox(counter: tuple[int, int, int, int], key: tuple[int, int], rounds: int = 10) -> tuple[int, ...]:
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r > 0:
            k0, k1 = (k0 + 0x9E3779B9) & MASK32, (k1 + 0xBB67AE85) & MASK32
        product0, product1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (
            (product1 >> 32) ^ c1 ^ k0,
            product1 & MASK32,
            (product0 >> 32) ^ c3 ^ k1,
            product0 & MASK32,
        )
    return c0, c1, c2, c3


def key_of(seed: int) -> tuple[int, int]:
    return seed & MASK32, seed >> 32


def u53(a: int, b: int) -> float:
    return ((a >> 5) * 2**26 + (b >> 6)) / 2**53


def alibi_tail(slope: float, w: int) -> float:
    return math.exp(-slope * w) * (1 - w * math.expm1(-slope))


def width_from(slope: float, u: float) -> int:
    """Smallest w >= 1 with tail(w) <= 1 - u, by a plain upward walk (no bisection)."""
    target, w = 1 - u, 1
    while alibi_tail(slope, w) > target:
        w += 1
    return w


def binning_draw(seed: int, head: int, sample: int, slope: float) -> tuple[int, int]:
    w = philox((1, head, sample, 0), key_of(seed))
    width = width_from(slope, u53(w[0], w[1]))
    return width, min(math.floor(u53(w[2], w[3]) * width), width - 1)


def sobol(index: int) -> tuple[int, int]:
    first = int(f"{index:032b}"[::-1], 2)
    second, direction = 0, 1 << 31
    for bit in range(32):
        if index >> bit & 1:
            second ^= direction
        direction ^= direction >> 1
    return first, second


def owen(x: int, dim: int, seed: int, head: int) -> int:
    y = x
    for level in range(32):
        prefix = x >> (32 - level) if level else 0
        if philox((3, head, 32 * dim + level, prefix), key_of(seed))[0] & 1:
            y ^= 1 << (31 - level)
    return y


def qmc_draw(seed: int, head: int, sample: int, slope: float) -> tuple[int, int]:
    jitter = philox((4, head, sample, 0), key_of(seed))
    u = [(owen(x, dim, seed, head) * 2**21 + (jitter[dim] >> 11)) / 2**53 for dim, x in enumerate(sobol(sample))]
    width = width_from(slope, u[0])
    return width, min(math.floor(u[1] * width), width - 1)


def cut_after(seed: int, head: int, sample: int, position: int, slope: float) -> bool:
    scaled = -math.expm1(-slope) * 2**32
    high = math.floor(scaled)
    low = math.floor((scaled - high) * 2**32)
    word = philox((2, head, sample, position // 4), key_of(seed))[position % 4]
    if word != high:
        return word < high
    return philox((5, head, sample, position), key_of(seed))[0] < low
