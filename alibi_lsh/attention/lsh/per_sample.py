"""The paper's construction: R ordinary block attentions per head, merged by log-sum-exp.

Each sample's block attention is plain, unbiased attention over the keys of the query's block;
merging the R of them by their log-sum-exps is one softmax over all (sample, key) pairs, the
same estimator as the union pass (:mod:`.union`), which is faster. This path is taken when asked
for (``AttentionOptions(lsh_path="per-sample")``) or when a head's block bounds would not fit the
union pass's budget; its memory is bounded by sample chunks.

Positions are key indices 0..n_k-1 and the queries are the last n_q of them (p0 = n_k - n_q). In
one sample, query i attends to the keys of its block (up to i when causal); the R samples are
merged by log-sum-exp (:mod:`.merge`). Two kinds of fused calls, both on zero-copy views or one
gather:

- binning and qmc: every block of a sample has the width W except the first and the last, so a
  sample is at most three calls (:func:`binning_runs`): the block holding p0 (whose keys may start
  before the queries), the full blocks as a (B, blocks, W, d) view, and the last partial block;
- cuts: the block holding p0 is one call; the others, of varying lengths, are gathered into
  tiles of a few padded widths (8, 12, 16, 24, ...), one call per width class and tile.

The backward pass (:class:`PerSampleAttention`) walks the same calls again and runs each one's
flash-attention backward with the *merged* output and log-sum-exp, which is exactly the gradient
of the merged softmax over all (sample, key) pairs; only q, k, v, the output and the
log-sum-exp are saved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..._checks import compute_dtype
from ..fused import attention_backward, attention_forward
from ..options import DEFAULT_OPTIONS, AttentionOptions
from .draws import HeadDraw
from .geometry import block_starts
from .merge import OnlineSoftmaxMerge

# Cut blocks shorter than this are padded up to it: tiny gathers cost more in overhead than in FLOPs.
MIN_BLOCK_WIDTH = 8


def padded_width(lengths: torch.Tensor) -> torch.Tensor:
    """Round block lengths up to the classes 8, 12, 16, 24, 32, 48, ... (waste <= 1.5x); int64."""
    lengths = lengths.clamp_min(MIN_BLOCK_WIDTH)
    power = 2 ** torch.floor(torch.log2((lengths - 1).to(torch.float64))).to(torch.int64)  # < length
    return torch.where(lengths <= power + power // 2, power + power // 2, 2 * power)


@dataclass(frozen=True)
class BlockRun:
    """``count`` consecutive blocks of one length covering the keys [key_start, stop).

    Their queries are the positions [query_start, stop): query_start > key_start only for a single
    block holding p0 that starts before the first query (bottom-right aligned, as in decoding).
    """

    key_start: int
    query_start: int
    stop: int
    count: int = 1


def binning_runs(n_q: int, n_k: int, width: int, shift: int) -> list[BlockRun]:
    """The blocks floor((i + shift) / width) that hold queries, as at most three runs."""
    p0 = n_k - n_q
    start = (p0 + shift) // width * width - shift  # start of p0's block, possibly before 0
    end = min(n_k, start + width)
    runs, position = [], p0
    if start < p0 or end - start < width:  # p0's block is cut short or starts before the queries
        runs.append(BlockRun(max(start, 0), p0, end))
        position = end
    full = (n_k - position) // width
    if full:
        runs.append(BlockRun(position, position, position + full * width, full))
        position += full * width
    if position < n_k:
        runs.append(BlockRun(position, position, n_k))
    return runs


def cut_blocks(is_start: torch.Tensor, lo: int, n_q: int, n_k: int) -> tuple[list[BlockRun | None], torch.Tensor]:
    """The blocks holding queries, for cut patterns given as block starts over positions [lo, n_k).

    ``is_start`` (S, n_k - lo) bool: True where a block starts (every sample needs one in
    [lo, p0]). Returns, per sample, the block holding p0 when it starts before p0 (else None),
    and the block starts at positions >= p0 as (S, n_q) bool: those blocks lie among the queries.
    """
    p0 = n_k - n_q
    at = p0 - lo
    offsets = torch.arange(is_start.shape[1], dtype=torch.int64)
    before = torch.where(is_start[:, : at + 1], offsets[: at + 1], -1).amax(dim=1) + lo
    after = torch.cat([is_start[:, at + 1 :], torch.ones(is_start.shape[0], 1, dtype=torch.bool)], dim=1)
    following = after.to(torch.int8).argmax(dim=1) + p0 + 1  # the next start, or n_k
    straddling = [BlockRun(int(a), p0, int(b)) if a < p0 else None for a, b in zip(before.tolist(), following.tolist())]
    return straddling, is_start[:, at:]


@dataclass(frozen=True)
class ViewCall:
    """One fused call on zero-copy views: a run of blocks of one (head, sample).

    Both call kinds offer the same five methods, so the forward and backward passes need not know
    which one they hold: ``queries``, ``keys``, ``masking``, ``store`` and ``add_gradients``.
    """

    row: int  # index among the heads of this path (of the merged output)
    slot: int  # sample index within the chunk
    head: int  # query head
    kv_head: int
    run: BlockRun
    p0: int

    def queries(self, t: torch.Tensor, by_row: bool = False) -> torch.Tensor:
        """(B, count, L_q, ·) view of t (B, ·, n_q, ·) at the query head, or at the row when ``by_row``."""
        run = self.run
        index = self.row if by_row else self.head
        return t[:, index, run.query_start - self.p0 : run.stop - self.p0].unflatten(1, (run.count, -1))

    def keys(self, t: torch.Tensor) -> torch.Tensor:
        """(B, count, L_k, ·) view of t (B, H_kv, n_k, ·)."""
        return t[:, self.kv_head, self.run.key_start : self.run.stop].unflatten(1, (self.run.count, -1))

    def masking(self, causal: bool, device: torch.device) -> tuple[bool, torch.Tensor | None]:
        """(kernel causal flag, bool mask or None): bottom-right causal attention inside each block."""
        run = self.run
        length_q, length_k = (run.stop - run.query_start) // run.count, (run.stop - run.key_start) // run.count
        if not causal or length_q == 1:
            return False, None  # a single last query sees its whole block
        if length_q == length_k:
            return True, None
        rows, keys = torch.arange(length_q, device=device), torch.arange(length_k, device=device)
        return False, keys[None, :] <= rows[:, None] + (length_k - length_q)

    def output_gradient(self, grad_out: torch.Tensor) -> torch.Tensor:
        return self.queries(grad_out, by_row=True)

    def store(self, outputs: torch.Tensor, lses: torch.Tensor, o: torch.Tensor, lse: torch.Tensor) -> None:
        """Write o and lse into the chunk's (B, heads, S, n_q, ·) outputs and (B, heads, S, n_q) lses."""
        rows = slice(self.run.query_start - self.p0, self.run.stop - self.p0)
        outputs[:, self.row, self.slot, rows] = o.flatten(1, 2)
        lses[:, self.row, self.slot, rows] = lse.flatten(1, 2)

    def add_gradients(self, grads: tuple[torch.Tensor, ...], dq: torch.Tensor, dk: torch.Tensor, dv: torch.Tensor):
        grad_q, grad_k, grad_v = grads
        self.queries(grad_q).add_(dq)
        self.keys(grad_k).add_(dk)
        self.keys(grad_v).add_(dv)


@dataclass(frozen=True)
class GatherCall:
    """One fused call on N blocks of one sample chunk gathered into tiles of one padded width W.

    ``head``, ``kv_head``, ``row``, ``slot``: (N, 1) int64; ``query``: (N, W) query indices (key
    position = query + p0), padding slots repeat the block's first query; ``valid`` (N, W) marks
    the real slots, which come first. Methods as :class:`ViewCall`'s.
    """

    head: torch.Tensor
    kv_head: torch.Tensor
    row: torch.Tensor
    slot: torch.Tensor
    query: torch.Tensor
    valid: torch.Tensor
    p0: int

    def queries(self, t: torch.Tensor, by_row: bool = False) -> torch.Tensor:
        """(B, N, W, ·) from t (B, H, n_q, ·) by query head, or by row when ``by_row``."""
        return t[:, self.row if by_row else self.head, self.query]

    def keys(self, t: torch.Tensor) -> torch.Tensor:
        return t[:, self.kv_head, self.query + self.p0]

    def masking(self, causal: bool, device: torch.device) -> tuple[bool, torch.Tensor | None]:
        # Causal: real queries never see the trailing padding slots; otherwise mask those keys.
        return (True, None) if causal else (False, self.valid[:, None, :])

    def output_gradient(self, grad_out: torch.Tensor) -> torch.Tensor:
        # Padding rows: zero output gradient, so they add nothing to dk, dv (nor to dq).
        return self.queries(grad_out, by_row=True) * self.valid[None, :, :, None]

    def _real(self, *columns: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(column.expand_as(self.query)[self.valid] for column in columns)

    def store(self, outputs: torch.Tensor, lses: torch.Tensor, o: torch.Tensor, lse: torch.Tensor) -> None:
        row, slot, query = self._real(self.row, self.slot, self.query)
        outputs[:, row, slot, query] = o[:, self.valid]
        lses[:, row, slot, query] = lse[:, self.valid].to(lses.dtype)

    def add_gradients(self, grads: tuple[torch.Tensor, ...], dq: torch.Tensor, dk: torch.Tensor, dv: torch.Tensor):
        grad_q, grad_k, grad_v = grads
        head, kv_head, query = self._real(self.head, self.kv_head, self.query)
        keys = (kv_head, query + self.p0)
        for grad, index, value in ((grad_q, (head, query), dq), (grad_k, keys, dk), (grad_v, keys, dv)):
            real = value[:, self.valid].transpose(0, 1).to(grad.dtype)  # (count, B, ·)
            grad.permute(1, 2, 0, 3).index_put_(index, real, accumulate=True)


class BlockPlan:
    """The fused calls that compute query heads ``heads`` of one call, chunk of samples by chunk."""

    def __init__(
        self,
        draws: list[HeadDraw],
        heads: list[int],
        group: int,
        shape: tuple[int, int, int, int, int],
        causal: bool,
        scale: float,
        options: AttentionOptions = DEFAULT_OPTIONS,
    ):
        self.draws, self.heads, self.group, self.causal, self.scale = draws, heads, group, causal, scale
        self.options = options
        self.batch, self.n_q, self.n_k, self.head_dim, self.value_dim = shape
        self.p0 = self.n_k - self.n_q
        self.cuts = draws[heads[0]].is_cuts
        samples = draws[heads[0]].num_samples
        chunk = max(1, options.per_sample_output_elements // (self.batch * len(heads) * self.n_q * self.value_dim))
        self.chunks = [range(a, min(samples, a + chunk)) for a in range(0, samples, chunk)]

    def calls(self, samples: range, device: torch.device) -> Iterator[ViewCall | GatherCall]:
        if not self.cuts:
            for row, head in enumerate(self.heads):
                draw = self.draws[head]
                for slot, sample in enumerate(samples):
                    for run in binning_runs(self.n_q, self.n_k, int(draw.widths[sample]), int(draw.shifts[sample])):
                        yield ViewCall(row, slot, head, head // self.group, run, self.p0)
            return
        tables = []
        for row, head in enumerate(self.heads):
            is_start, lo = block_starts(self.draws[head], samples, self.n_q, self.n_k)
            straddling, starts = cut_blocks(is_start, lo, self.n_q, self.n_k)
            for slot, run in enumerate(straddling):
                if run is not None:
                    yield ViewCall(row, slot, head, head // self.group, run, self.p0)
            tables.append(self._blocks_among_queries(row, head, starts))
        yield from self._gather_calls(torch.cat(tables), device)

    def _blocks_among_queries(self, row: int, head: int, starts: torch.Tensor) -> torch.Tensor:
        """(blocks, 5) int64 rows (row, slot, head, first query, length) for the blocks starting at >= p0."""
        slot, first = starts.nonzero(as_tuple=True)  # sorted by (slot, first)
        following = torch.cat([first[1:], first.new_tensor([self.n_q])])
        last_of_slot = torch.cat([slot[1:] != slot[:-1], torch.ones(1, dtype=torch.bool)])
        length = torch.where(last_of_slot, self.n_q, following) - first
        return torch.stack([torch.full_like(slot, row), slot, torch.full_like(slot, head), first, length], dim=1)

    def _gather_calls(self, table: torch.Tensor, device: torch.device) -> Iterator[GatherCall]:
        widths = padded_width(table[:, 4])
        for width in torch.unique(widths).tolist():
            row, slot, head, first, length = table[widths == width].unbind(dim=1)
            offsets = torch.arange(width, dtype=torch.int64)
            valid = offsets[None, :] < length[:, None]
            query = first[:, None] + torch.where(valid, offsets[None, :], 0)
            kv_head = torch.div(head, self.group, rounding_mode="floor")
            gathered = self.batch * width * 2 * (self.head_dim + self.value_dim)
            per_call = max(1, self.options.per_sample_gather_elements // gathered)
            for lo in range(0, row.numel(), per_call):
                part = slice(lo, lo + per_call)
                columns = (head, kv_head, row, slot)
                yield GatherCall(
                    *(c[part, None].to(device) for c in columns),
                    query[part].to(device),
                    valid[part].to(device),
                    self.p0,
                )


def _forward(plan: BlockPlan, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Merged output (B, heads, n_q, d_v) in q's dtype and log-sum-exp (B, heads, n_q) of the plan."""
    batch, live, n_q, value_dim = plan.batch, len(plan.heads), plan.n_q, plan.value_dim
    dtype = compute_dtype(q.dtype)
    merge = OnlineSoftmaxMerge((batch, live, n_q), value_dim, dtype, q.device)
    for samples in plan.chunks:
        outputs = torch.zeros(batch, live, len(samples), n_q, value_dim, dtype=q.dtype, device=q.device)
        lses = torch.full((batch, live, len(samples), n_q), -torch.inf, dtype=dtype, device=q.device)
        for call in plan.calls(samples, q.device):
            causal, mask = call.masking(plan.causal, q.device)
            o, lse = attention_forward(
                call.queries(q), call.keys(k), call.keys(v), plan.scale, causal, mask, fused=plan.options.fused
            )
            call.store(outputs, lses, o, lse)
        weights = merge.weights(lses)
        for slot in range(len(samples)):
            merge.accumulated.addcmul_(weights[:, :, slot].unsqueeze(-1), outputs[:, :, slot])
    out, lse = merge.result()
    return out.to(q.dtype), lse


def _backward(
    plan: BlockPlan,
    grad_out: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    lse: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dq, dk, dv) of the merged attention: each call's backward with the merged out and lse."""
    grads = tuple(torch.zeros(t.shape, dtype=lse.dtype, device=q.device) for t in (q, k, v))
    grad_out = grad_out.contiguous()
    for samples in plan.chunks:
        for call in plan.calls(samples, q.device):
            causal, mask = call.masking(plan.causal, q.device)
            dq, dk, dv = attention_backward(
                call.output_gradient(grad_out), call.queries(q), call.keys(k), call.keys(v),
                call.queries(out, by_row=True), call.queries(lse, by_row=True), plan.scale, causal, mask,
                fused=plan.options.fused,
            )  # fmt: skip
            call.add_gradients(grads, dq, dk, dv)
    return tuple(grad.to(t.dtype) for grad, t in zip(grads, (q, k, v)))


class PerSampleAttention(torch.autograd.Function):
    """The merged block attention of a :class:`BlockPlan` as a differentiable function of q, k, v.

    Saves q, k, v, the merged output and log-sum-exp, never per-sample outputs.
    """

    @staticmethod
    def forward(ctx, plan: BlockPlan, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        out, lse = _forward(plan, q, k, v)
        ctx.plan = plan
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        return (None, *_backward(ctx.plan, grad_out, q, k, v, out, lse))
