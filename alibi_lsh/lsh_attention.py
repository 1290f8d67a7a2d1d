"""ALiBi attention approximated by R ordinary attentions inside random short blocks.

Replacing the kernel K = exp(-m|i-j|) by the mean of R sampled block masks gives (notes, section 3)

    out_i = sum_r exp(l_ri) o_ri / sum_r exp(l_ri),

where o_ri is plain (unbiased, un-biased-by-position) attention of query i over the keys of its
block in sample r, and l_ri is that attention's log-sum-exp. This is exact algebra; the only
approximation is M_hat for K. Cost per sample is about n * W * d instead of n^2 * d.

Implementation: every block of every (head, sample) pair is gathered into a padded tile; tiles
of similar length share one padded width, so one batched matmul serves all heads and samples of a
width class. Samples are processed in chunks and merged with a running (online) log-sum-exp, so
memory is O(B H n (d + W)), never n x n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._checks import check_head_slopes, check_int, check_qkv, default_scale, make_generator
from .kernels import PositionalKernel
from .partition import Partition
from .samplers import make_sampler

# Elements of the per-call score tensor plus gathered inputs: 2**24 float32 = 64 MiB.
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


def block_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_valid: torch.Tensor, causal: bool, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain attention inside padded blocks, returning the output and its log-sum-exp.

    q, k: (B, N, W, d); v: (B, N, W, d_v); key_valid: bool (N, W), real positions first, padding
    after. Returns o (B, N, W, d_v) and lse (B, N, W), both float32. Rows of padding positions
    hold finite junk that the caller discards. Causal masking hides the trailing padding by
    itself; bidirectional attention masks it explicitly.
    """
    width = q.shape[-2]
    scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale  # (B, N, W, W)
    if causal:
        hidden = torch.ones(width, width, dtype=torch.bool, device=q.device).triu(1)
    else:
        hidden = ~key_valid[:, None, :]  # (N, 1, W)
    scores = scores.masked_fill(hidden, -math.inf)
    lse = torch.logsumexp(scores, dim=-1)
    weights = torch.exp(scores - lse.unsqueeze(-1))
    return torch.matmul(weights, v.float()), lse


def sample_head_partitions(
    n: int, slopes: torch.Tensor, num_samples: int, scheme: str, seed: int | torch.Generator | None
) -> list[list[Partition]]:
    """R partitions for each head, each head from its own slope: ``[head][sample]``."""
    generator = make_generator(seed)
    return [
        make_sampler(scheme, PositionalKernel.alibi(float(slope))).sample(n, num_samples, generator)
        for slope in slopes
    ]


def _block_table(partitions: list[list[Partition]], heads: list[int], samples: range) -> dict[str, torch.Tensor]:
    """Every block of the chosen (head, sample) pairs as flat int64 columns: head, slot, start, length.

    ``slot`` numbers the samples of this chunk 0..len(samples)-1.
    """
    head_col, slot_col, starts, lengths = [], [], [], []
    for head in heads:
        for slot, sample in enumerate(samples):
            partition = partitions[head][sample]
            count = partition.num_blocks
            head_col.append(torch.full((count,), head, dtype=torch.int64))
            slot_col.append(torch.full((count,), slot, dtype=torch.int64))
            starts.append(partition.starts)
            lengths.append(partition.lengths())
    return {
        "head": torch.cat(head_col),
        "slot": torch.cat(slot_col),
        "start": torch.cat(starts),
        "length": torch.cat(lengths),
    }


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
    partitions = sample_head_partitions(n, slopes, num_samples, scheme, seed)
    device = q.device

    out = torch.empty(batch, heads, n, value_dim, dtype=torch.float32, device=device)
    flat_heads = [h for h in range(heads) if slopes[h] > 0]
    plain_heads = [h for h in range(heads) if slopes[h] == 0]
    if plain_heads:  # one block holding everything: ordinary attention, flash kernel, exact
        out[:, plain_heads] = F.scaled_dot_product_attention(
            q[:, plain_heads].float(), k[:, plain_heads].float(), v[:, plain_heads].float(), is_causal=causal, scale=scale
        )
    if not flat_heads:
        return out.to(q.dtype)

    # Inputs flattened over (head, position) with one zero row at the end that padding reads.
    def flatten(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t.reshape(batch, heads * n, t.shape[-1]), (0, 0, 0, 1))

    q_flat, k_flat, v_flat = flatten(q), flatten(k), flatten(v)
    pad_source = heads * n

    running_max = torch.full((batch, heads, n), -math.inf, dtype=torch.float32, device=device)
    running_sum = torch.zeros(batch, heads, n, dtype=torch.float32, device=device)
    accumulated = torch.zeros(batch, heads, n, value_dim, dtype=torch.float32, device=device)

    chunk = max(1, CHUNK_ELEMENTS // (batch * heads * n * value_dim))
    for first in range(0, num_samples, chunk):
        samples = range(first, min(num_samples, first + chunk))
        slots = len(samples)
        trash = heads * slots * n  # outputs of padding positions land here and are dropped
        outputs = torch.zeros(batch, trash + 1, value_dim, dtype=torch.float32, device=device)
        lses = torch.full((batch, trash + 1), -math.inf, dtype=torch.float32, device=device)

        table = _block_table(partitions, flat_heads, samples)
        widths = padded_width(table["length"])
        for width in torch.unique(widths).tolist():
            chosen = widths == width
            start, length = table["start"][chosen], table["length"][chosen]
            head, slot = table["head"][chosen], table["slot"][chosen]
            offsets = torch.arange(width, dtype=torch.int64)
            valid = offsets[None, :] < length[:, None]  # (N, W)
            position = start[:, None] + offsets[None, :]
            source = torch.where(valid, head[:, None] * n + position, pad_source)
            target = torch.where(valid, (head[:, None] * slots + slot[:, None]) * n + position, trash)
            source, target, valid = source.to(device), target.to(device), valid.to(device)
            # Blocks per call so that scores and gathered inputs stay within TILE_ELEMENTS.
            per_call = max(1, TILE_ELEMENTS // (batch * width * (width + 2 * head_dim + value_dim)))
            for lo in range(0, source.shape[0], per_call):
                rows = slice(lo, lo + per_call)
                index = source[rows].reshape(-1)
                tile_shape = (batch, -1, width)
                o, lse = block_attention(
                    q_flat[:, index].view(*tile_shape, head_dim),
                    k_flat[:, index].view(*tile_shape, head_dim),
                    v_flat[:, index].view(*tile_shape, value_dim),
                    valid[rows],
                    causal,
                    scale,
                )
                destination = target[rows].reshape(-1)
                outputs.index_copy_(1, destination, o.reshape(batch, -1, value_dim))
                lses.index_copy_(1, destination, lse.reshape(batch, -1))

        # Online log-sum-exp merge of this chunk's samples into the running totals.
        chunk_out = outputs[:, :trash].view(batch, heads, slots, n, value_dim)[:, flat_heads]
        chunk_lse = lses[:, :trash].view(batch, heads, slots, n)[:, flat_heads]
        old_max = running_max[:, flat_heads]
        new_max = torch.maximum(old_max, chunk_lse.amax(dim=2))
        decay = torch.exp(old_max - new_max)
        weights = torch.exp(chunk_lse - new_max.unsqueeze(2))
        running_sum[:, flat_heads] = running_sum[:, flat_heads] * decay + weights.sum(dim=2)
        accumulated[:, flat_heads] = accumulated[:, flat_heads] * decay.unsqueeze(-1) + torch.einsum(
            "bhrn,bhrnd->bhnd", weights, chunk_out
        )
        running_max[:, flat_heads] = new_max

    out[:, flat_heads] = accumulated[:, flat_heads] / running_sum[:, flat_heads].unsqueeze(-1)
    return out.to(q.dtype)
