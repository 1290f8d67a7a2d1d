"""ALiBi attention approximated by R ordinary attentions inside random short blocks.

Replacing the kernel K = exp(-m|i-j|) by the mean of R sampled block masks gives (notes, section 3)

    out_i = sum_r exp(l_ri) o_ri / sum_r exp(l_ri),

where o_ri is plain (unbiased, un-biased-by-position) attention of query i over the keys of its
block in sample r, and l_ri is that attention's log-sum-exp. This is exact algebra; the only
approximation is M_hat for K. Cost per sample is about n * W * d instead of n^2 * d.

Implementation, chosen by profiling (the first version spent its time building Python partition
objects, gathering blocks into padded tiles and computing softmax by hand):

- the partitions of all heads are drawn as tensors (one width and shift per sample for binning
  and qmc, a cut pattern per sample for cuts), from exactly the random stream of
  :func:`sample_head_partitions`;
- binning/qmc: every block of one (head, sample) has the same width W except the first and the
  last, so the middle blocks are a zero-copy ``view`` of q, k, v as (B, blocks, W, d) and the
  two end blocks are plain slices: three fused attention calls per (head, sample), no gather,
  no padding, no mask;
- cuts: blocks of varying length are gathered into tiles of a few padded widths (8, 12, 16, 24,
  ...), one fused attention call per width class;
- the fused kernel (torch's flash attention on CPU, memory-efficient attention on CUDA) returns
  the log-sum-exp together with the output, so the scores are never recomputed; a plain matmul
  softmax is the fallback where no such kernel exists (e.g. float64 on CUDA);
- samples are processed in chunks and merged with a running (online) log-sum-exp in float32, so
  memory is O(B H n (d + W)), never n x n;
- narrow heads (every sampled block <= BAND_MAX_WIDTH, e.g. slopes 1/2..1/16) are overhead-bound
  as R calls over tiny blocks, so a cost model sends them down a band path instead: the same
  estimator, out_i = sum_j e^{s_ij} M_hat_ij v_j / sum_j e^{s_ij} M_hat_ij, computed once over
  the band |i - j| < max W with log M_hat as an additive mask (M_hat counted from the sampled
  blocks in O(R n)). Identical output up to float rounding (tested), cost independent of R.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._checks import check_head_slopes, check_int, check_qkv, default_scale, make_generator
from .kernels import PositionalKernel
from .partition import Partition
from .samplers import SCHEMES, make_sampler

# Elements of the gathered tiles of one fused call (cuts scheme): 2**24 float32 = 64 MiB.
TILE_ELEMENTS = 2**24
# Elements of the per-chunk output buffer (B * H * R_chunk * n * d_v): 2**25 float32 = 128 MiB.
CHUNK_ELEMENTS = 2**25
# Blocks shorter than this are padded up to it: tiny tiles cost more in overhead than in FLOPs.
MIN_TILE = 8


def padded_width(lengths: torch.Tensor) -> torch.Tensor:
    """Round block lengths up to the classes 8, 12, 16, 24, 32, 48, ... (waste <= 1.5x); int64."""
    lengths = lengths.clamp_min(MIN_TILE)
    power = 2 ** torch.floor(torch.log2((lengths - 1).to(torch.float64))).to(torch.int64)  # < length
    return torch.where(lengths <= power + power // 2, power + power // 2, 2 * power)


# --------------------------------------------------------------------------------------------
# Attention with log-sum-exp
# --------------------------------------------------------------------------------------------


def block_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_valid: torch.Tensor, causal: bool, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain attention inside padded blocks, returning the output and its log-sum-exp (reference path).

    q, k: (B, N, W, d); v: (B, N, W, d_v); key_valid: bool (N, W), real positions first, padding
    after. Returns o (B, N, W, d_v) and lse (B, N, W), both float32. Rows of padding positions
    hold finite junk that the caller discards. Causal masking hides the trailing padding by
    itself; bidirectional attention masks it explicitly.
    """
    width = q.shape[-2]
    scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale  # (B, N, W, W)
    # Causal: the upper triangle (W, W); bidirectional: the padding keys (N, 1, W).
    hidden = torch.ones(width, width, dtype=torch.bool, device=q.device).triu(1) if causal else ~key_valid[:, None, :]
    scores = scores.masked_fill(hidden, -math.inf)
    lse = torch.logsumexp(scores, dim=-1)
    weights = torch.exp(scores - lse.unsqueeze(-1))
    return torch.matmul(weights, v.float()), lse


# Set to False the first time the fused kernel refuses an input (dtype, device, old torch), so
# later calls go straight to the matmul path instead of raising and catching every time.
_FUSED_OK: dict[tuple[str, torch.dtype, bool], bool] = {}


def _fused_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float, key_valid: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One fused attention call returning (out (B, N, W, d_v), lse (B, N, W) float32).

    q, k: (B, N, W, d) (N plays the role of heads: N independent blocks of length W); any strides
    a view gives. ``key_valid`` (N, W) bool marks real keys (None: all real). With causal
    attention trailing padding is hidden by the causal mask itself, so no mask is passed.
    """
    key = (q.device.type, q.dtype, causal or key_valid is None)
    if _FUSED_OK.get(key, True):
        try:
            mask = None
            if key_valid is not None and not causal:
                mask = torch.zeros(key_valid.shape, dtype=q.dtype, device=q.device)
                mask = mask.masked_fill(~key_valid, -math.inf)[None, :, None, :]  # (1, N, 1, W)
            if q.device.type == "cpu":
                out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                    q, k, v, 0.0, causal, attn_mask=mask, scale=scale
                )
            elif q.device.type == "cuda":
                if mask is not None:
                    mask = mask.expand(q.shape[0], -1, q.shape[2], -1)
                out, lse, *_ = torch.ops.aten._scaled_dot_product_efficient_attention(
                    q.contiguous(), k.contiguous(), v.contiguous(), mask, True, 0.0, causal, scale=scale
                )
                lse = lse[..., : q.shape[2]]  # the kernel pads the lse rows to a multiple of 32
            else:
                raise RuntimeError(f"no fused attention with log-sum-exp on {q.device.type}")
            return out, lse.float()
        except RuntimeError:
            _FUSED_OK[key] = False
    if key_valid is None:
        key_valid = torch.ones(q.shape[1], q.shape[2], dtype=torch.bool, device=q.device)
    return block_attention(q, k, v, key_valid, causal, scale)


# --------------------------------------------------------------------------------------------
# Sampling: the same random stream as the partition samplers, but as tensors
# --------------------------------------------------------------------------------------------


def sample_head_partitions(
    n: int, slopes: torch.Tensor, num_samples: int, scheme: str, seed: int | torch.Generator | None
) -> list[list[Partition]]:
    """R partitions for each head, each head from its own slope: ``[head][sample]``."""
    generator = make_generator(seed)
    return [
        make_sampler(scheme, PositionalKernel.alibi(float(slope))).sample(n, num_samples, generator) for slope in slopes
    ]


@dataclass(frozen=True)
class HeadDraw:
    """The R partitions of one head as tensors (CPU, int64 / bool).

    binning and qmc: ``widths`` and ``shifts`` (R,): block(i) = floor((i + shift) / width).
    cuts: ``cuts`` (R, n - 1) bool: a cut between positions t and t + 1 of sample r.
    A head with slope 0 has none of them: one block, plain attention.
    """

    slope: float
    widths: torch.Tensor | None = None
    shifts: torch.Tensor | None = None
    cuts: torch.Tensor | None = None

    @property
    def is_plain(self) -> bool:
        return self.widths is None and self.cuts is None


def draw_head_blocks(
    n: int, slopes: torch.Tensor, num_samples: int, scheme: str, seed: int | torch.Generator | None
) -> list[HeadDraw]:
    """The partitions of :func:`sample_head_partitions` (same seed, same blocks) without Python objects.

    Uses the samplers' own tensor draws (``draw``), heads in order and nothing for a slope-0 head,
    so the generator is consumed exactly as :func:`sample_head_partitions` consumes it.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    n = check_int("n", n)
    num_samples = check_int("num_samples", num_samples)
    generator = make_generator(seed)
    draws = []
    for slope in slopes.tolist():
        sampler = make_sampler(scheme, PositionalKernel.alibi(float(slope)))
        if sampler.kernel.is_constant:
            draws.append(HeadDraw(float(slope)))
        elif scheme == "cuts":
            draws.append(HeadDraw(float(slope), cuts=sampler.draw(n, num_samples, generator)))
        else:
            widths, shifts = sampler.draw(num_samples, generator)
            draws.append(HeadDraw(float(slope), widths=widths, shifts=shifts))
    return draws


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
    if draw.cuts is not None:
        starts = torch.cat([torch.zeros(1, dtype=torch.int64), draw.cuts[sample].nonzero().reshape(-1) + 1])
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
    slopes = check_head_slopes(slopes, len(torch.as_tensor(slopes).reshape(-1)))
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


# --------------------------------------------------------------------------------------------
# One chunk of samples: outputs and log-sum-exps of every (head, sample) into a buffer
# --------------------------------------------------------------------------------------------


# A piece of one chunk: (row in the live heads, slot in the chunk, first position, output (B, L, d_v)).
Piece = tuple[int, int, int, torch.Tensor]


def _binning_chunk(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    draws: list[HeadDraw],
    heads: list[int],
    samples: range,
    lses: torch.Tensor,
    causal: bool,
    scale: float,
) -> list[Piece]:
    """Outputs and log-sum-exps of every (head, sample) of a chunk, for equal-width partitions.

    q, k, v: (B, H, n, d). Writes the log-sum-exps into ``lses`` (B, len(heads), slots, n)
    float32 and returns the outputs as pieces, left where the kernel wrote them (no copy into a
    buffer). Each (head, sample) is three fused calls on zero-copy views: the first partial block,
    the full blocks as (B, f, W, d), the last partial block.
    """
    batch, _, n, _ = q.shape
    pieces: list[Piece] = []
    for row, head in enumerate(heads):
        widths = draws[head].widths[samples.start : samples.stop].tolist()
        shifts = draws[head].shifts[samples.start : samples.stop].tolist()
        qh, kh, vh = q[:, head], k[:, head], v[:, head]  # (B, n, d) views
        for slot, (width, shift) in enumerate(zip(widths, shifts)):
            a, full, t = binning_pieces(n, width, shift)
            for start, count, length in ((0, 1, a), (a, full, width), (a + full * width, 1, t)):
                if count == 0 or length == 0:
                    continue
                stop = start + count * length
                o, lse = _fused_attention(
                    qh[:, start:stop].unflatten(1, (count, length)),
                    kh[:, start:stop].unflatten(1, (count, length)),
                    vh[:, start:stop].unflatten(1, (count, length)),
                    causal,
                    scale,
                    None,
                )
                pieces.append((row, slot, start, o.reshape(batch, count * length, -1)))
                lses[:, row, slot, start:stop] = lse.reshape(batch, count * length)
    return pieces


def _cuts_block_table(draws: list[HeadDraw], heads: list[int], samples: range, n: int) -> dict[str, torch.Tensor]:
    """Every block of the chosen (head, sample) pairs as flat int64 columns: row, slot, start, length.

    ``row`` indexes ``heads``; ``slot`` numbers the samples of this chunk 0..len(samples)-1.
    Built with tensor ops over all samples of a head at once (no Python loop over samples).
    """
    rows, slots, starts, lengths = [], [], [], []
    for row, head in enumerate(heads):
        cuts = draws[head].cuts[samples.start : samples.stop]  # (S, n - 1)
        # A block starts at 0 and after every cut: a (S, n) start indicator, read row by row.
        is_start = torch.cat([torch.ones(cuts.shape[0], 1, dtype=torch.bool), cuts], dim=1)
        slot, start = is_start.nonzero(as_tuple=True)  # sorted by (slot, start)
        following = torch.cat([start[1:], start.new_tensor([n])])
        following = torch.where(torch.cat([slot[1:] != slot[:-1], torch.ones(1, dtype=torch.bool)]), n, following)
        rows.append(torch.full_like(slot, row))
        slots.append(slot)
        starts.append(start)
        lengths.append(following - start)
    return {"row": torch.cat(rows), "slot": torch.cat(slots), "start": torch.cat(starts), "length": torch.cat(lengths)}


def _cuts_chunk(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    draws: list[HeadDraw],
    heads: list[int],
    samples: range,
    lses: torch.Tensor,
    causal: bool,
    scale: float,
) -> list[Piece]:
    """Like :func:`_binning_chunk` for blocks of varying length: gathered into padded width classes.

    Inputs are flattened over (head, position) with one zero row at the end that padding reads;
    results are scattered into a (head, sample)-major buffer whose spare last row takes the
    outputs of padding positions.
    """
    batch, heads_total, n, head_dim = q.shape
    value_dim = v.shape[-1]
    device = q.device
    slots = len(samples)

    def flatten(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t.reshape(batch, heads_total * n, t.shape[-1]), (0, 0, 0, 1))

    q_flat, k_flat, v_flat = flatten(q), flatten(k), flatten(v)
    pad_source = heads_total * n
    rows_total = len(heads) * slots * n
    out_flat = torch.empty(batch, rows_total + 1, value_dim, dtype=torch.float32, device=device)
    lse_flat = torch.empty(batch, rows_total + 1, dtype=torch.float32, device=device)
    trash = rows_total

    table = _cuts_block_table(draws, heads, samples, n)
    head_of_row = torch.tensor(heads, dtype=torch.int64)[table["row"]]
    widths = padded_width(table["length"])
    for width in torch.unique(widths).tolist():
        chosen = widths == width
        start, length = table["start"][chosen], table["length"][chosen]
        row, slot = table["row"][chosen], table["slot"][chosen]
        offsets = torch.arange(width, dtype=torch.int64)
        valid = offsets[None, :] < length[:, None]  # (N, W)
        position = start[:, None] + offsets[None, :]
        source = torch.where(valid, head_of_row[chosen][:, None] * n + position, pad_source)
        target = torch.where(valid, (row[:, None] * slots + slot[:, None]) * n + position, trash)
        source, target, valid = source.to(device), target.to(device), valid.to(device)
        # Blocks per call so that the gathered inputs stay within TILE_ELEMENTS.
        per_call = max(1, TILE_ELEMENTS // (batch * width * (2 * head_dim + 2 * value_dim)))
        for lo in range(0, source.shape[0], per_call):
            rows = slice(lo, lo + per_call)
            index = source[rows].reshape(-1)
            tile_shape = (batch, -1, width)
            o, lse = _fused_attention(
                q_flat[:, index].view(*tile_shape, head_dim),
                k_flat[:, index].view(*tile_shape, head_dim),
                v_flat[:, index].view(*tile_shape, value_dim),
                causal,
                scale,
                valid[rows],
            )
            destination = target[rows].reshape(-1)
            out_flat.index_copy_(1, destination, o.reshape(batch, -1, value_dim).to(out_flat.dtype))
            lse_flat.index_copy_(1, destination, lse.reshape(batch, -1))
    lses.copy_(lse_flat[:, :-1].view(lses.shape))
    outputs = out_flat[:, :-1].view(batch, len(heads), slots, n, value_dim)
    return [(row, slot, 0, outputs[:, row, slot]) for row in range(len(heads)) for slot in range(slots)]


# --------------------------------------------------------------------------------------------
# Narrow heads: all R samples at once as one banded attention weighted by the mask mean
# --------------------------------------------------------------------------------------------

# Heads whose widest sampled block is at most this many positions may take the band path.
BAND_MAX_WIDTH = 256
# Query rows per tile of the band path, at least: tiny tiles cost more in kernel overhead than in FLOPs.
BAND_TILE = 64
# "auto": band path where the cost model says it is cheaper; "never"/"always" (tests, profiling).
BAND_POLICY = "auto"
# Per-position overhead of one fused call, in units of key positions (fitted on a 2-core CPU):
# it is what makes R calls over tiny blocks slower than one call over a band.
CALL_OVERHEAD_WIDTH = 32


def block_offsets(draw: HeadDraw, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For every sample r and position i: p = i - start of i's block, e = end of i's block - 1 - i.

    Returns two int64 tensors (R, n). Position i shares its block in sample r exactly with the
    positions i - p .. i + e.
    """
    position = torch.arange(n, dtype=torch.int64)
    if draw.cuts is not None:
        samples = draw.cuts.shape[0]
        is_start = torch.cat([torch.ones(samples, 1, dtype=torch.bool), draw.cuts], dim=1)
        is_end = torch.cat([draw.cuts, torch.ones(samples, 1, dtype=torch.bool)], dim=1)
        start = torch.cummax(torch.where(is_start, position, 0), dim=1).values
        end = torch.cummin(torch.where(is_end, position, n - 1).flip(1), dim=1).values.flip(1)
    else:
        widths, shifts = draw.widths[:, None], draw.shifts[:, None]
        block_start = torch.div(position + shifts, widths, rounding_mode="floor") * widths - shifts
        start = block_start.clamp_min(0)
        end = (block_start + widths).clamp_max(n) - 1
    return position - start, end - position


def band_log_weights(draw: HeadDraw, n: int, band: int, causal: bool) -> torch.Tensor:
    """log M_hat[i, i - u] as an (n, band) table, u = 0..band-1 (keys at or behind i); when
    bidirectional followed by (n, band) with log M_hat[i, i + u] at column band + u (u >= 1;
    column band is unused); then one column of -inf. float32. M_hat[i, j] is the fraction of
    the R samples in which i and j share a block.
    """
    behind, ahead = block_offsets(draw, n)
    samples = behind.shape[0]

    def log_mean_at_least(offsets: torch.Tensor) -> torch.Tensor:
        # count[i, u] = #{r : offsets[r, i] >= u}: a histogram over u, summed from the right.
        hist = torch.zeros(n, band, dtype=torch.float32)
        hist.scatter_add_(1, offsets.t().contiguous(), torch.ones(n, samples))
        counts = hist.flip(1).cumsum(1).flip(1)
        return torch.log(counts / samples)  # log 0 = -inf: never in one block

    parts = [log_mean_at_least(behind)]
    if not causal:
        parts.append(log_mean_at_least(ahead))
    parts.append(torch.full((n, 1), -math.inf))
    return torch.cat(parts, dim=1)


def _band_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_weights: torch.Tensor, band: int, causal: bool, scale: float
) -> torch.Tensor:
    """out_i = sum_j e^{s_ij} M_ij v_j / sum_j e^{s_ij} M_ij over |i - j| < band; (B, n, d_v) float32.

    q, k: (B, n, d), v: (B, n, d_v); ``log_weights`` from :func:`band_log_weights`. Queries in
    tiles of w = max(band, BAND_TILE) rows; tile b attends to keys [b w - band, (b+1) w) (and
    ``band`` more ahead when bidirectional) with log M_hat as an additive mask; one fused call
    per group of tiles. Tiles of at least BAND_TILE rows keep the kernel's per-tile cost small.
    """
    batch, n, _ = q.shape
    w = max(band, BAND_TILE)
    tiles = -(-n // w)
    ahead = 0 if causal else band
    span = w + band + ahead
    q, k, v = q.float(), k.float(), v.float()
    q_tiles = F.pad(q, (0, 0, 0, tiles * w - n)).view(batch, tiles, w, -1)
    pad = (0, 0, band, tiles * w - n + ahead)
    k_windows = F.pad(k, pad).unfold(1, span, w).transpose(-1, -2)  # (B, tiles, span, d)
    v_windows = F.pad(v, pad).unfold(1, span, w).transpose(-1, -2)
    # Query a of a tile and key c of its span are u = a + band - c positions apart (u > 0: behind).
    u = torch.arange(w)[:, None] + band - torch.arange(span)[None, :]
    sentinel = log_weights.shape[1] - 1  # the -inf column
    column = torch.where((u >= 0) & (u < band), u, sentinel)
    if not causal:  # keys ahead: u = -1 .. -(band - 1) at columns band + 1 .. 2 band - 1
        column = torch.where((u < 0) & (u > -band), band - u, column)
    table = F.pad(log_weights, (0, 0, 0, tiles * w - n))  # rows of padding queries: log 1 at u = 0
    table[n:, 0] = 0.0
    out = torch.empty(batch, tiles, w, v.shape[-1], dtype=torch.float32, device=q.device)
    per_call = max(1, TILE_ELEMENTS // (w * span))
    for lo in range(0, tiles, per_call):
        hi = min(tiles, lo + per_call)
        rows = table[lo * w : hi * w].view(hi - lo, w, -1)
        bias = torch.gather(rows, 2, column.expand(hi - lo, w, span)).to(q.device)[None]  # (1, t, w, span)
        o, _ = _fused_attention_masked(q_tiles[:, lo:hi], k_windows[:, lo:hi], v_windows[:, lo:hi], bias, scale)
        out[:, lo:hi] = o
    return out.view(batch, tiles * w, -1)[:, :n]


def _fused_attention_masked(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention with an additive float mask (float32 inputs): fused where possible, else matmul."""
    if q.device.type == "cpu" and _FUSED_OK.get(("cpu-mask", q.dtype, False), True):
        try:
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                q, k, v, 0.0, False, attn_mask=bias, scale=scale
            )
        except RuntimeError:
            _FUSED_OK[("cpu-mask", q.dtype, False)] = False
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale + bias
    lse = torch.logsumexp(scores, dim=-1)
    return torch.matmul(torch.exp(scores - lse.unsqueeze(-1)), v), lse


def band_is_cheaper(draw: HeadDraw, n: int, causal: bool) -> tuple[bool, int]:
    """(use the band path?, band width) for one head, from a cost model in keys per query.

    R per-sample calls cost sum_r (mean keys per query in sample r + overhead); the band costs
    about 1.5 * span keys per query (span = tile + band: the mask read, the masked part of each
    tile) + overhead,
    once for all samples. Only heads whose widest block is <= BAND_MAX_WIDTH qualify, so the
    band path serves the narrow heads, where per-sample calls are overhead-bound.
    """
    if draw.is_plain or BAND_POLICY == "never":
        return False, 0
    if draw.cuts is None:
        samples = draw.widths.numel()
        band, keys = min(int(draw.widths.max()), n), float(draw.widths.clamp_max(n).sum())
    else:
        samples = draw.cuts.shape[0]
        behind, ahead = block_offsets(draw, n)
        lengths = behind + ahead + 1  # (R, n): length of i's block; mean over i = sum L^2 / n
        band, keys = int(lengths.max()), float(lengths.double().mean(dim=1).sum())
    if band > BAND_MAX_WIDTH:
        return False, band
    if BAND_POLICY == "always":
        return True, band
    span = max(band, BAND_TILE) + (1 if causal else 2) * band
    return 1.5 * span + CALL_OVERHEAD_WIDTH < keys + CALL_OVERHEAD_WIDTH * samples, band


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def lsh_alibi_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    num_samples: int,
    causal: bool = True,
    scheme: str = "binning",
    seed: int | torch.Generator | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """Approximate ALiBi attention from ``num_samples`` random block partitions per head.

    q, k: (B, H, n, d); v: (B, H, n, d_v); ``slopes`` (H,) per-head m >= 0. Each head draws its
    own R partitions (``scheme``: "binning", "cuts" or "qmc"; ``seed`` int or torch.Generator
    makes them reproducible), runs ordinary attention inside each block (causal inside blocks when
    ``causal``) and combines the R results with log-sum-exp weights. A head with slope 0 is plain
    attention. Accumulates in float32 on the device of q; returns (B, H, n, d_v) in q's dtype.
    Memory O(B H n (d + W)) per sample chunk: no n x n matrix is ever formed.
    """
    check_qkv(q, k, v)
    batch, heads, n, head_dim = q.shape
    value_dim = v.shape[-1]
    slopes = check_head_slopes(slopes, heads)
    num_samples = check_int("num_samples", num_samples)
    scale = default_scale(scale, head_dim)
    draws = draw_head_blocks(n, slopes, num_samples, scheme, seed)
    device = q.device

    out = torch.empty(batch, heads, n, value_dim, dtype=torch.float32, device=device)
    band_heads = {}
    for h in range(heads):
        cheaper, band = band_is_cheaper(draws[h], n, causal)
        if cheaper:
            band_heads[h] = band
    flat_heads = [h for h in range(heads) if not draws[h].is_plain and h not in band_heads]
    plain_heads = [h for h in range(heads) if draws[h].is_plain]
    if plain_heads:  # one block holding everything: ordinary attention, flash kernel, exact
        out[:, plain_heads] = F.scaled_dot_product_attention(
            q[:, plain_heads].float(),
            k[:, plain_heads].float(),
            v[:, plain_heads].float(),
            is_causal=causal,
            scale=scale,
        )
    for h, band in band_heads.items():  # narrow heads: all samples in one banded pass
        log_weights = band_log_weights(draws[h], n, band, causal)
        out[:, h] = _band_attention(q[:, h], k[:, h], v[:, h], log_weights, band, causal, scale)
    if not flat_heads:
        return out.to(q.dtype)

    fill_chunk = _cuts_chunk if scheme == "cuts" else _binning_chunk
    live = len(flat_heads)
    running_max = torch.full((batch, live, n), -math.inf, dtype=torch.float32, device=device)
    running_sum = torch.zeros(batch, live, n, dtype=torch.float32, device=device)
    accumulated = torch.zeros(batch, live, n, value_dim, dtype=torch.float32, device=device)

    chunk = max(1, CHUNK_ELEMENTS // (batch * live * n * value_dim))
    for first in range(0, num_samples, chunk):
        samples = range(first, min(num_samples, first + chunk))
        chunk_lse = torch.empty(batch, live, len(samples), n, dtype=torch.float32, device=device)
        pieces = fill_chunk(q, k, v, draws, flat_heads, samples, chunk_lse, causal, scale)

        # Online log-sum-exp merge of this chunk's samples into the running totals.
        new_max = torch.maximum(running_max, chunk_lse.amax(dim=2))
        decay = torch.exp(running_max - new_max)
        weights = torch.exp(chunk_lse - new_max.unsqueeze(2))  # (B, h, S, n)
        running_sum = running_sum * decay + weights.sum(dim=2)
        accumulated *= decay.unsqueeze(-1)
        for row, slot, start, o in pieces:  # in place, straight from the kernel's outputs
            stop = start + o.shape[1]
            accumulated[:, row, start:stop].addcmul_(weights[:, row, slot, start:stop].unsqueeze(-1), o)
        running_max = new_max

    out[:, flat_heads] = accumulated / running_sum.unsqueeze(-1)
    return out.to(q.dtype)
