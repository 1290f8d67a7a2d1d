"""The count-weighted pass: the R-sample estimate as one softmax over the union of a head's blocks.

Merging the R block attentions of a query by their log-sum-exps is one softmax over the multiset
of (sample, key) pairs (:mod:`.merge`). Grouping equal keys, it is one softmax over the *union*
of the query's sampled blocks with the additive bias log c_ij, where c_ij is the number of
samples in which i and j share a block (notes on positional LSH, section 3):

    out_i = sum_j c_ij e^{s_ij} v_j / sum_j c_ij e^{s_ij}.

The union is far smaller than the sum of the blocks: P(i - u in i's block) = e^{-m u} in every
sample, so the union reaches back max_r of R exponential offsets, about H_R / m keys (H_R the
R-th harmonic number: 2.7 / m at R = 8, 4.7 / m at R = 64) against R / m for the sum.

Layout: each (batch row, head) splits its queries into tiles of T rows (T from the head's mean
reach); a tile sees the span from the earliest block start of its first query up to its last
query (bidirectional: up to the latest block end of its last query), rounded up to a width
class S. All tiles of one call with the same (T, S), over every head and every batch row (rows
with their own key padding included), go through one fused call: q, k and v gathered, the
bias (N, T, S) built from the block bounds by a histogram (+1 where a sample's block starts, -1
after it ends) and a cumulative sum, then log c by table lookup (log 0 = -inf: outside every
block, and after the query when causal). Every query lies in exactly one tile, so no merge is
needed. The backward pass rebuilds each class's bias and runs the flash backward: only q, k, v,
the output and the log-sum-exp are saved.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..._checks import check_values, compute_dtype
from ..fused import attention_backward, attention_forward
from ..numerics import attend_with_value_scale, value_scale
from ..options import DEFAULT_OPTIONS, AttentionOptions
from .draws import HeadDraw
from .geometry import block_bounds

# Spans are rounded up to a multiple of this at least (and of S / 8 for long spans: waste <= 12.5 %);
# 16 keeps CUDA's bias rows aligned.
SPAN_STEP = 16


def span_class(span: torch.Tensor) -> torch.Tensor:
    """Round spans up to a multiple of max(SPAN_STEP, 2^(floor(log2 S) - 3)); int64."""
    power = 2 ** torch.floor(torch.log2(span.clamp_min(1).to(torch.float64))).to(torch.int64)
    step = (power // 8).clamp_min(SPAN_STEP)
    return -(-span // step) * step


@dataclass(frozen=True)
class _Unit:
    """Batch rows computed alike: real keys at indices [first, end), ``rows`` a slice or one row."""

    rows: slice | int
    first: int
    end: int


class TileTable(NamedTuple):
    """The tiles of a plan, one entry per tile in each field (int64 (N,)).

    Bases index the flattened q (B H n_q rows), k and v (B H_kv n_k rows) and output; positions
    count from the unit's first real key.
    """

    query_base: torch.Tensor  # q row of query 0 of the tile's (batch row, head)
    key_base: torch.Tensor  # k, v row of position 0 of that batch row's kv head
    output_base: torch.Tensor  # output row of query 0 of the tile's (batch row, head)
    first_query: torch.Tensor  # query index of the tile's first row
    valid_rows: torch.Tensor  # real rows (the last tile of a run may be short)
    first_position: torch.Tensor  # position of the tile's first query
    bound_column: torch.Tensor  # column of the tile's first query in the plan's block bounds
    span_start: torch.Tensor  # position of the span's first key (right-aligned: may be < 0)
    first_key: torch.Tensor  # the earliest key in a block of the tile's queries (>= span_start)
    rows: torch.Tensor  # T, query rows per tile
    span: torch.Tensor  # S, keys per tile

    def select(self, index: torch.Tensor | slice) -> TileTable:
        return TileTable(*(column[index] for column in self))

    def to(self, device: torch.device) -> TileTable:
        return TileTable(*(column.to(device) for column in self))

    @staticmethod
    def cat(tables: list[TileTable]) -> TileTable:
        if not tables:
            return TileTable(*(torch.zeros(0, dtype=torch.int64) for _ in TileTable._fields))
        return TileTable(*(torch.cat(columns) for columns in zip(*tables)))


@dataclass(frozen=True)
class _Call:
    """One fused call: N tiles of T rows and S keys. Indices are into the flattened q, k, out."""

    query: torch.Tensor  # (N, T) rows of the flattened q
    output: torch.Tensor  # (N, T) rows of the flattened output
    keys: torch.Tensor  # (N, S) rows of the flattened k and v
    valid: torch.Tensor  # (N, T) bool: real query rows (the last tile of a run may be short)
    bias: torch.Tensor  # (1, N, T, S) additive bias log c (on the device, compute dtype)


class UnionPlan:
    """The tiles of query heads ``heads`` of one call, and their grouping into fused calls.

    ``shape`` = (B, H, n_q, n_k, H_kv); ``runs`` the real keys of each batch row (None: all real).
    Rows sharing one run are computed together along the kernel's batch dimension (one bias for
    all); otherwise every row is its own unit, all in the same calls.
    """

    def __init__(
        self,
        draws: list[HeadDraw],
        heads: list[int],
        group: int,
        shape: tuple[int, int, int, int, int],
        runs: list[tuple[int, int]] | None,
        causal: bool,
        device: torch.device | None = None,
        options: AttentionOptions = DEFAULT_OPTIONS,
    ):
        batch, num_heads, n_q, n_k, kv_heads = shape
        self.heads, self.causal, self.n_q, self.n_k, self.options = heads, causal, n_q, n_k, options
        self.samples = draws[heads[0]].num_samples
        p0 = n_k - n_q
        if runs is None or len(set(runs)) == 1:
            first, end = runs[0] if runs else (0, n_k)
            units, self.shared = [_Unit(slice(None), first, end)], True
        else:
            units, self.shared = [_Unit(b, first, end) for b, (first, end) in enumerate(runs)], False
        self.batch = batch if self.shared else 1
        self.checks: list[tuple[slice, slice, slice]] = []  # (batch rows, queries, keys read) per unit
        tables, starts, ends, offset = [], [], [], 0
        for unit in units:
            lo, hi = max(unit.first - p0, 0), unit.end - p0  # the queries at real positions
            if hi <= lo:
                continue
            b = 0 if self.shared else unit.rows
            pos_lo, length = p0 + lo - unit.first, unit.end - unit.first
            reach_from = length
            for row, h in enumerate(heads):
                start, end = block_bounds(draws[h], pos_lo, length, not causal, device)
                reach_from = min(reach_from, int(start[:, 0].min()))
                q_base = (b * num_heads + h) * n_q
                k_base = (b * kv_heads + h // group) * n_k + unit.first
                o_base = (b * len(heads) + row) * n_q
                tables.append(self._tiles(start, end, (q_base, k_base, o_base), lo, pos_lo, offset))
                starts.append(start)
                ends.append(end)
                offset += start.shape[1]
            rows = unit.rows if self.shared else slice(b, b + 1)
            self.checks.append((rows, slice(lo, hi), slice(unit.first + reach_from, unit.end)))
        self.table = TileTable.cat(tables)
        # Block bounds of every (unit, head) query row, int32: the histograms read them per tile.
        self.starts = torch.cat(starts, dim=1).to(torch.int32) if starts else None
        self.ends = torch.cat(ends, dim=1).to(torch.int32) if not causal and ends else None

    def _tiles(
        self, start: torch.Tensor, end: torch.Tensor | None, bases: tuple[int, ...], lo: int, pos_lo: int, offset: int
    ) -> TileTable:
        """The tiles of one (unit, head) with queries lo.. at positions pos_lo.."""
        count = start.shape[1]

        def reach(at: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """(earliest key, latest key + 1) of the queries ``at`` (CPU int64)."""
            latest = pos_lo + at + 1 if self.causal else end[:, at.to(end.device)].amax(dim=0).cpu() + 1
            return start[:, at.to(start.device)].amin(dim=0).cpu(), latest

        earliest, latest = reach(torch.arange(0, count, 8))  # every 8th query tells the mean reach
        mean_reach = float((latest - earliest).double().mean())
        rows = min(count, self.options.union_tile_rows.for_reach(mean_reach))  # a decoding step: 1
        first_row = torch.arange(0, count, rows, dtype=torch.int64)
        valid = (count - first_row).clamp_max(rows)
        # Bounds are nondecreasing along the positions: a tile spans from its first query's earliest
        # key to its last query's latest.
        span_end = reach(first_row + valid - 1)[1]
        first_key = reach(first_row)[0]
        span = span_class(span_end - first_key)
        column = lambda value: torch.full_like(first_row, value)  # noqa: E731
        return TileTable(
            query_base=column(bases[0]),
            key_base=column(bases[1]),
            output_base=column(bases[2]),
            first_query=lo + first_row,
            valid_rows=valid,
            first_position=pos_lo + first_row,
            bound_column=offset + first_row,
            span_start=span_end - span,  # right-aligned: positions < 0 see no block (bias -inf)
            first_key=first_key,
            rows=torch.full_like(first_row, rows),
            span=span,
        )

    def calls(self, device: torch.device, dtype: torch.dtype, width: int, split: int = 1) -> Iterator[_Call]:
        """The fused calls, one (T, S) class and chunk at a time, with their biases built.

        ``width`` = d + d_v sizes the gathers; ``split`` makes every call that many times smaller.
        """
        table, options = self.table, self.options
        if table.span.numel() == 0:
            return
        log_count = torch.log(torch.arange(self.samples + 1, dtype=torch.float64)).to(device, dtype)  # log 0 = -inf
        key = table.rows * (int(table.span.max()) + 1) + table.span
        key, order = torch.sort(key, stable=True)
        table = table.select(order)
        classes, counts = torch.unique_consecutive(key, return_counts=True)
        bounds = [0, *torch.cumsum(counts, 0).tolist()]
        for index in range(classes.numel()):
            members = table.select(slice(bounds[index], bounds[index + 1]))
            rows, span = int(members.rows[0]), int(members.span[0])
            elements = min(
                options.union_bias_elements // (rows * max(span, self.samples)),  # bias, (N, T, R) block starts
                options.union_gather_elements // (self.batch * span * width),
            )
            per_call = max(1, elements * (options.cuda_call_scale if device.type == "cuda" else 1) // split)
            for lo in range(0, len(members.span), per_call):
                yield self._call(members.select(slice(lo, lo + per_call)).to(device), rows, span, log_count)

    def _call(self, tiles: TileTable, rows: int, span: int, log_count: torch.Tensor) -> _Call:
        """The indices and bias of one call, built on the tiles' device."""
        offsets = torch.arange(rows, dtype=torch.int64, device=tiles.span.device)
        valid = offsets[None, :] < tiles.valid_rows[:, None]
        row = torch.minimum(offsets[None, :], tiles.valid_rows[:, None] - 1)  # short tiles repeat their last row
        key_position = tiles.span_start[:, None] + torch.arange(span, dtype=torch.int64, device=row.device)
        counts = self._counts(tiles, row, span)
        return _Call(
            query=tiles.query_base[:, None] + tiles.first_query[:, None] + row,
            output=tiles.output_base[:, None] + tiles.first_query[:, None] + row,
            # The rounding reads keys before first_key, in no query's block (bias -inf): read first_key
            # there instead, which the checks cover, as 0 * NaN or inf - inf would make the row NaN.
            keys=tiles.key_base[:, None] + torch.maximum(key_position, tiles.first_key[:, None]),
            valid=valid,
            bias=log_count.index_select(0, counts.view(-1)).view(1, *counts.shape),
        )

    def _counts(self, tiles: TileTable, row: torch.Tensor, span: int) -> torch.Tensor:
        """c (N, T, S) int32: in how many samples each query row shares a block with each span key."""
        bound = tiles.bound_column[:, None] + row  # (N, T) columns of the bounds
        origin = tiles.span_start[:, None, None]
        counts = torch.zeros(*row.shape, span, dtype=torch.int32, device=row.device)
        starts = self.starts.index_select(1, bound.view(-1)).view(-1, *row.shape).permute(1, 2, 0)  # (N, T, R)
        counts.scatter_add_(2, (starts - origin).to(torch.int64), torch.ones_like(starts))
        if self.causal:  # every block ends at the query: c drops to 0 after it
            after = (tiles.first_position[:, None] + row + 1 - origin[..., 0]).unsqueeze(-1)
            drop = torch.full(after.shape, -self.samples, dtype=torch.int32, device=row.device)
        else:
            ends = self.ends.index_select(1, bound.view(-1)).view(-1, *row.shape).permute(1, 2, 0)
            after = (ends - origin + 1).to(torch.int64)
            drop = torch.full(after.shape, -1, dtype=torch.int32, device=row.device)
        inside = after < span
        counts.scatter_add_(2, torch.where(inside, after, 0), torch.where(inside, drop, 0))
        return torch.cumsum(counts, dim=2, dtype=torch.int32)


def _flat(t: torch.Tensor, shared: bool) -> torch.Tensor:
    """(B, H, n, c) -> (B, H n, c) when rows share the tiles, else (1, B H n, c)."""
    return t.reshape(t.shape[0] if shared else 1, -1, t.shape[-1])


def _rows(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """t (B, rows, c) at ``index`` (N, L): (B, N, L, c), one contiguous copy."""
    return t.index_select(1, index.view(-1)).view(t.shape[0], *index.shape, t.shape[-1])


def _forward(plan: UnionPlan, q, k, v, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Output (B, heads, n_q, d_v) in q's dtype and log-sum-exp (B, heads, n_q); padded rows 0 and -inf."""
    batch, n_q, value_dim = q.shape[0], plan.n_q, v.shape[-1]
    dtype = compute_dtype(q.dtype)
    out = q.new_zeros(batch, len(plan.heads), n_q, value_dim)
    lse = torch.full((batch, len(plan.heads), n_q), -math.inf, dtype=dtype, device=q.device)
    q_rows, k_rows, v_rows = (_flat(t, plan.shared) for t in (q, k, v))
    out_rows = _flat(out, plan.shared)
    lse_rows = lse.view(out_rows.shape[:2])
    for call in plan.calls(q.device, dtype, q.shape[-1] + v.shape[-1]):
        o, call_lse = attention_forward(
            _rows(q_rows, call.query),
            _rows(k_rows, call.keys),
            _rows(v_rows, call.keys),
            scale,
            False,
            call.bias,
            fused=plan.options.fused,
        )
        target = call.output[call.valid]
        out_rows[:, target] = o[:, call.valid]
        lse_rows[:, target] = call_lse[:, call.valid]
    return out, lse


def _backward(plan: UnionPlan, grad_out, q, k, v, out, lse, scale: float):
    dtype = lse.dtype
    q_rows, k_rows, v_rows = (_flat(t, plan.shared) for t in (q, k, v))
    grad_rows, out_rows = _flat(grad_out.contiguous(), plan.shared), _flat(out, plan.shared)
    lse_rows = lse.reshape(out_rows.shape[:2])
    grad_q, grad_k, grad_v = (torch.zeros(t.shape, dtype=dtype, device=q.device) for t in (q_rows, k_rows, v_rows))
    # Backward calls hold more (the kernel's dk, dv, the gathered output and its gradient): smaller calls.
    for call in plan.calls(q.device, dtype, q.shape[-1] + v.shape[-1], plan.options.union_backward_split):
        # Repeated rows of a short tile get no output gradient: they add nothing to dk, dv.
        grad_tile = _rows(grad_rows, call.output).mul_(call.valid[None, :, :, None])
        dq, dk, dv = attention_backward(
            grad_tile, _rows(q_rows, call.query), _rows(k_rows, call.keys), _rows(v_rows, call.keys),
            _rows(out_rows, call.output), lse_rows[:, call.output], scale, False, call.bias, fused=plan.options.fused,
        )  # fmt: skip
        grad_q.index_add_(1, call.query[call.valid], dq[:, call.valid].to(dtype))
        grad_k.index_add_(1, call.keys.reshape(-1), dk.flatten(1, 2).to(dtype))
        grad_v.index_add_(1, call.keys.reshape(-1), dv.flatten(1, 2).to(dtype))
    return (grad_q.view(q.shape).to(q.dtype), grad_k.view(k.shape).to(k.dtype), grad_v.view(v.shape).to(v.dtype))


class UnionAttention(torch.autograd.Function):
    """The count-weighted pass of a :class:`UnionPlan` as a differentiable function of q, k, v."""

    @staticmethod
    def forward(ctx, plan: UnionPlan, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float):
        out, lse = _forward(plan, q, k, v, scale)
        ctx.plan, ctx.scale = plan, scale
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        return (None, *_backward(ctx.plan, grad_out, q, k, v, out, lse, ctx.scale), None)


def head_groups(heads: list[int], samples: int, rows: int, bounds_elements: int) -> list[list[int]] | None:
    """``heads`` in groups whose block bounds (samples x rows each) fit ``bounds_elements``; None if one
    head alone does not fit."""
    per_group = bounds_elements // max(1, samples * rows)
    if per_group == 0:
        return None
    return [heads[i : i + per_group] for i in range(0, len(heads), per_group)]


def union_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    draws: list[HeadDraw],
    heads: list[int],
    group: int,
    runs: list[tuple[int, int]] | None,
    causal: bool,
    scale: float,
    options: AttentionOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """The estimator of query heads ``heads`` (sampled, not plain) in one count-weighted pass.

    q (B, H, n_q, d), k (B, H_kv, n_k, d), v (B, H_kv, n_k, d_v) as given to the entry point
    (padding included: ``runs`` from :func:`alibi_lsh._checks.key_padding_runs`). Checks the
    values this call reads (ValueError). Returns (B, len(heads), n_q, d_v) in q's dtype,
    differentiable in q, k, v; query rows at padded positions are 0.
    """
    shape = (q.shape[0], q.shape[1], q.shape[2], k.shape[2], k.shape[1])
    plan = UnionPlan(draws, heads, group, shape, runs, causal, q.device, options)
    values = 1.0
    for rows, queries, keys in plan.checks:
        check_values(q[rows, :, queries], k[rows, :, keys], v[rows, :, keys], scale)
        values = max(values, value_scale(v[rows, :, keys], k.shape[2]))  # a tile sums at most n_k keys
    return attend_with_value_scale(lambda v: UnionAttention.apply(plan, q, k, v, scale), v, values)
