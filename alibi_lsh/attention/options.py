"""How the attention functions run: kernels, path, caches and per-call budgets, in one frozen object.

None of these change the result beyond rounding; they trade speed for memory. Every public
attention function takes ``options=AttentionOptions(...)``; tests shrink a budget to force many
small calls, or switch the fused kernels off, through it. Measurements behind the defaults are in
BENCHMARKS.md ("Tile sizes and call budgets").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Literal

from .lsh.draws import DRAWS_CACHE, DrawsCache

LshPath = Literal["union", "per-sample"]
LSH_PATHS = ("union", "per-sample")


@dataclass(frozen=True)
class TileRows:
    """Query rows per tile: a power of two near a quarter of the keys a query reaches, within bounds."""

    smallest: int
    largest: int

    def for_reach(self, reach: float) -> int:
        return int(min(self.largest, max(self.smallest, 2 ** round(math.log2(max(reach, 1.0) / 4)))))


@dataclass(frozen=True)
class AttentionOptions:
    """Kernels and budgets of :func:`alibi_attention`, :func:`window_alibi_attention` and
    :func:`lsh_alibi_attention`. Budgets count elements of one fused call (float32: 4 bytes each).

    Raises ValueError for a path not in LSH_PATHS or a budget that is not an integer >= 1.
    """

    # torch's private fused kernels where they exist; False: the plain matmul softmax everywhere.
    fused: bool = True
    # LSH: "union" (one count-weighted pass over the union of each query's blocks) or "per-sample"
    # (R block attentions merged by log-sum-exp); heads whose block bounds exceed
    # union_bounds_elements take the per-sample path either way.
    lsh_path: LshPath = "union"
    # LSH: where the draws of integer seeds are kept between calls.
    draws_cache: DrawsCache = field(default=DRAWS_CACHE, compare=False)

    # Exact: bias elements (B H rows n_k) of one chunk of query rows.
    exact_bias_elements: int = 2**25
    # Window: query rows per tile, and key elements (B tiles S d) of one backward call.
    window_tile_rows: TileRows = TileRows(32, 256)
    window_backward_elements: int = 2**18
    # Union pass: query rows per tile; bias elements (N T S) and gathered key or value elements
    # (B N S (d + d_v)) of one fused call; block bounds (R per query row and head) of one plan.
    union_tile_rows: TileRows = TileRows(16, 256)
    union_bias_elements: int = 2**22
    union_gather_elements: int = 2**22
    union_bounds_elements: int = 2**26
    # Union backward calls are this many times smaller than forward ones (they hold dk, dv too).
    union_backward_split: int = 16
    # Per-sample path: gathered elements of one fused call (cuts), and output elements
    # (B heads R_chunk n_q d_v) of one chunk of samples.
    per_sample_gather_elements: int = 2**24
    per_sample_output_elements: int = 2**25
    # On a GPU, union calls are this many times larger (kernel launches dominate small calls).
    cuda_call_scale: int = 16

    def __post_init__(self) -> None:
        if not isinstance(self.fused, bool):
            raise ValueError(f"fused must be True or False, got {self.fused!r}")
        if self.lsh_path not in LSH_PATHS:
            raise ValueError(f"lsh_path must be one of {LSH_PATHS}, got {self.lsh_path!r}")
        if not isinstance(self.draws_cache, DrawsCache):
            raise ValueError(f"draws_cache must be a DrawsCache, got {type(self.draws_cache).__name__}")
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.endswith(("_elements", "_split", "_scale")) and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{item.name} must be an integer >= 1, got {value!r}")
        for name in ("window_tile_rows", "union_tile_rows"):
            rows = getattr(self, name)
            if not isinstance(rows, TileRows) or not 1 <= rows.smallest <= rows.largest:
                raise ValueError(f"{name} must be TileRows(smallest, largest) with 1 <= smallest <= largest")


DEFAULT_OPTIONS = AttentionOptions()


def check_options(options: AttentionOptions) -> AttentionOptions:
    """``options`` itself: an :class:`AttentionOptions` (ValueError naming ``options`` otherwise)."""
    if not isinstance(options, AttentionOptions):
        raise ValueError(f"options must be an AttentionOptions, got {type(options).__name__} {options!r:.60}")
    return options
