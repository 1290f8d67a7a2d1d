"""The random blocks of every head as tensors: widths and shifts (binning, qmc) or cuts."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from ..._checks import as_slopes, check_head_offset, check_int, check_num_samples
from ...kernels import PositionalKernel
from ...partition import Partition
from ...samplers import SCHEMES, CutsSampler, check_head, make_sampler, resolve_seed


def call_seed(seed: int | torch.Generator | None, head_offset: int) -> int:
    """The integer seed of one call (docs/blocks.md, section 4).

    A generator's draw differs from call to call, so a shard (``head_offset`` > 0) could not
    reproduce the full call from it: refused there.
    """
    if isinstance(seed, torch.Generator) and head_offset != 0:
        raise ValueError(
            f"seed must be an integer in [0, 2^63 - 1] when head_offset != 0 (got a torch.Generator and "
            f"head_offset = {head_offset}): only an integer seed reproduces the full call's blocks"
        )
    return resolve_seed(seed)


def sample_head_partitions(
    n: int,
    slopes: torch.Tensor,
    num_samples: int,
    scheme: str,
    seed: int | torch.Generator | None,
    head_offset: int = 0,
) -> list[list[Partition]]:
    """R partitions for each head, each head from its own slope: ``[head][sample]``.

    Head h is global head ``head_offset + h``, ``head_offset`` in [0, 2^32 - H].
    """
    head_offset = check_head_offset(head_offset, 1, len(slopes))
    seed = call_seed(seed, head_offset)
    return [
        make_sampler(scheme, PositionalKernel.alibi(float(slope))).sample(
            n, num_samples, seed, check_head(head_offset + h)
        )
        for h, slope in enumerate(slopes.tolist())
    ]


@dataclass(frozen=True, eq=False)
class HeadDraw:
    """The R partitions of one head, as tensors (CPU) or, for cuts, drawn on demand.

    binning and qmc: ``widths`` and ``shifts`` (R,) int64: block(i) = floor((i + shift) / width).
    cuts: :meth:`cuts_after` hashes the gaps of any range of positions (counter-based, so a
    decoding step draws only the gaps near its query); ``cuts`` is the pattern over ``n`` positions.
    A head with slope 0 has none of them: one block, plain attention.
    """

    slope: float
    num_samples: int
    widths: torch.Tensor | None = None
    shifts: torch.Tensor | None = None
    cut_sampler: CutsSampler | None = None
    seed: int = 0
    head: int = 0
    n: int | None = None
    _last_cuts: dict = field(default_factory=dict, repr=False)  # the last range drawn, reused within it

    @property
    def is_plain(self) -> bool:
        return self.widths is None and self.cut_sampler is None

    @property
    def is_cuts(self) -> bool:
        return self.cut_sampler is not None

    def cuts_after(self, first: int, stop: int) -> torch.Tensor:
        """bool (R, stop - first): True at [r, t] when sample r cuts between first + t and first + t + 1."""
        for (lo, hi), cuts in self._last_cuts.items():
            if lo <= first and stop <= hi:
                return cuts[:, first - lo : stop - lo]
        cuts = self.cut_sampler.cuts_after(first, stop, self.num_samples, self.seed, self.head)
        self._last_cuts.clear()
        self._last_cuts[first, stop] = cuts
        return cuts

    def for_call(self) -> HeadDraw:
        """This head's draws with an empty cut memo of their own (cached draws: the same tensors)."""
        return self if self.cut_sampler is None else replace(self, _last_cuts={})

    @property
    def cuts(self) -> torch.Tensor | None:
        """The cut pattern over the ``n`` positions of :func:`draw_head_blocks`: bool (R, n - 1)."""
        return None if self.cut_sampler is None else self.cuts_after(0, self.n - 1)


def draw_head_blocks(
    n: int | None,
    slopes: torch.Tensor,
    num_samples: int,
    scheme: str,
    seed: int | torch.Generator | None,
    head_offset: int = 0,
) -> list[HeadDraw]:
    """The partitions of :func:`sample_head_partitions` (same seed, same blocks) without Python objects.

    Uses the samplers' own tensor draws for global heads ``head_offset + h``, nothing for a
    slope-0 head. ``n`` only sets the range of :attr:`HeadDraw.cuts` (None: attention's use,
    which draws the cuts of the positions it needs).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    n = None if n is None else check_int("n", n)
    num_samples = check_num_samples(num_samples)
    head_offset = check_head_offset(head_offset, 1, len(slopes))
    seed = call_seed(seed, head_offset)
    draws = []
    for h, slope in enumerate(slopes.tolist()):
        sampler = make_sampler(scheme, PositionalKernel.alibi(float(slope)))
        head = check_head(head_offset + h)
        if sampler.kernel.is_constant:
            draws.append(HeadDraw(float(slope), num_samples))
        elif scheme == "cuts":
            draws.append(HeadDraw(float(slope), num_samples, cut_sampler=sampler, seed=seed, head=head, n=n))
        else:
            widths, shifts = sampler.draw(num_samples, seed, head)
            draws.append(HeadDraw(float(slope), num_samples, widths=widths, shifts=shifts, seed=seed, head=head, n=n))
    return draws


class DrawsCache:
    """The draws of recent attention calls, least recently used first, within ``budget_bytes``.

    Bounded by bytes, not entries: a model calls attention once per layer and step, each layer
    with a head_offset of its own, so decoding stays cached only if every layer's entry fits (sizes
    in BENCHMARKS.md). An entry's size is fixed when it is stored: cut patterns hashed during a call
    live in that call's copy of the draws (:meth:`HeadDraw.for_call`), never in the cache. Safe to
    share between threads (app sessions).
    """

    def __init__(self, budget_bytes: int = 64 * 2**20):
        self._entries: OrderedDict[tuple, tuple[list[HeadDraw], int]] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self._budget = check_int("budget_bytes", budget_bytes, minimum=0)

    @property
    def budget_bytes(self) -> int:
        """The most bytes of draws this cache keeps."""
        return self._budget

    def set_budget(self, budget_bytes: int) -> None:
        """Keep at most ``budget_bytes`` (an integer >= 0) from now on, evicting the oldest entries."""
        budget_bytes = check_int("budget_bytes", budget_bytes, minimum=0)
        with self._lock:
            self._budget = budget_bytes
            self._evict()

    def get(
        self, slopes: torch.Tensor, num_samples: int, scheme: str, seed: int | torch.Generator | None, head_offset: int
    ) -> list[HeadDraw]:
        """The blocks of one attention call, kept per (seed, head_offset, slopes, R, scheme).

        Only an integer seed is kept (None and a generator give a new seed per call), so repeated
        calls with one seed (decoding steps, layers of a model) draw their widths and shifts once.
        """
        if not isinstance(seed, int) or isinstance(seed, bool) or scheme not in SCHEMES:
            return draw_head_blocks(None, slopes, num_samples, scheme, seed, head_offset)
        key = (tuple(slopes.tolist()), num_samples, scheme, seed, head_offset)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return _for_call(self._entries[key][0])
        draws = draw_head_blocks(None, slopes, num_samples, scheme, seed, head_offset)
        size = draws_bytes(draws)
        with self._lock:
            if key not in self._entries:
                self._entries[key] = (draws, size)
                self._bytes += size
                self._evict()
        return _for_call(draws)

    def _evict(self) -> None:
        while self._bytes > self._budget and self._entries:
            self._bytes -= self._entries.popitem(last=False)[1][1]

    def clear(self) -> None:
        """Forget every entry (benchmarks time calls that draw afresh)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        """How many calls' draws are kept."""
        return len(self._entries)

    def held_bytes(self) -> int:
        """Bytes of the draws kept: :func:`draws_bytes` of every entry, as stored."""
        return self._bytes


def _for_call(draws: list[HeadDraw]) -> list[HeadDraw]:
    """Kept draws for one call: cut heads get a memo of their own, others are shared as they are."""
    return [draw.for_call() for draw in draws] if any(draw.is_cuts for draw in draws) else draws


# A head's Python objects, a HeadDraw and its sampler (an upper bound: BENCHMARKS.md).
HEAD_OVERHEAD_BYTES = 1024


def draws_bytes(draws: list[HeadDraw]) -> int:
    """Bytes held by one call's draws: per head, its objects, widths, shifts and memoised cuts."""
    total = 0
    for draw in draws:
        tensors = (draw.widths, draw.shifts, *draw._last_cuts.values())
        total += HEAD_OVERHEAD_BYTES + sum(t.nbytes for t in tensors if t is not None)
    return total


# The cache every attention call uses unless its options name another.
DRAWS_CACHE = DrawsCache()


def binning_pieces(n: int, width: int, shift: int) -> tuple[int, int, int]:
    """Split 0..n-1 for block(i) = floor((i + shift) / width) into (head, full, tail).

    Returns (a, f, t): a first partial block [0, a) (a = 0 if none), f full blocks of ``width``
    from a, and a last partial block of t positions; a + f * width + t = n.
    """
    a = min((width - shift) % width, n)
    full = (n - a) // width
    return a, full, n - a - full * width


def block_lengths(draw: HeadDraw, n: int, sample: int) -> torch.Tensor:
    """Lengths (int64) of the blocks of one sample of one head, in order; they sum to n."""
    if draw.is_plain:
        return torch.tensor([n])
    if draw.is_cuts:
        cuts = draw.cuts_after(0, n - 1)[sample]
        starts = torch.cat([torch.zeros(1, dtype=torch.int64), cuts.nonzero().reshape(-1) + 1])
        return torch.diff(starts, append=torch.tensor([n]))
    width = int(draw.widths[sample])
    a, full, t = binning_pieces(n, width, int(draw.shifts[sample]))
    parts = [a] * (a > 0) + [width] * full + [t] * (t > 0)
    return torch.tensor(parts, dtype=torch.int64)


def lsh_flops(
    n: int,
    head_dim: int,
    slopes: torch.Tensor | Sequence[float],
    num_samples: int,
    causal: bool = True,
    scheme: str = "binning",
    seed: int | torch.Generator | None = None,
    value_dim: int | None = None,
) -> int:
    """Useful floating-point operations of :func:`lsh_alibi_attention` for these draws (B = 1).

    A block of length L costs 2 L^2 d (q k^T) + 2 L^2 d_v (weights v); causal attention counts
    the L (L + 1) / 2 visible pairs only. Padding and softmax are not counted (the convention of
    attention FLOP counts), so a fraction of peak computed from it is the useful fraction.
    """
    value_dim = head_dim if value_dim is None else value_dim
    slopes = as_slopes(slopes)
    pairs_per_block = (lambda length: length * (length + 1) // 2) if causal else (lambda length: length * length)
    total = 0
    for draw in draw_head_blocks(n, slopes, num_samples, scheme, seed):
        if draw.is_plain:
            total += pairs_per_block(n)
            continue
        for sample in range(num_samples):
            lengths = block_lengths(draw, n, sample)
            total += int(pairs_per_block(lengths).sum())
    return 2 * (head_dim + value_dim) * total
