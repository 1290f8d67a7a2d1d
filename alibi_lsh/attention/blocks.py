"""The per-sample path: ordinary attention inside every block of every (head, sample)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .draws import HeadDraw, binning_pieces
from .fused import _fused_attention

# Elements of the gathered tiles of one fused call (cuts scheme): 2**24 float32 = 64 MiB.
TILE_ELEMENTS = 2**24
# Blocks shorter than this are padded up to it: tiny tiles cost more in overhead than in FLOPs.
MIN_TILE = 8


def padded_width(lengths: torch.Tensor) -> torch.Tensor:
    """Round block lengths up to the classes 8, 12, 16, 24, 32, 48, ... (waste <= 1.5x); int64."""
    lengths = lengths.clamp_min(MIN_TILE)
    power = 2 ** torch.floor(torch.log2((lengths - 1).to(torch.float64))).to(torch.int64)  # < length
    return torch.where(lengths <= power + power // 2, power + power // 2, 2 * power)


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
