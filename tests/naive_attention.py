"""The one naive float64 reference for attention tests: a loop over queries, from the definition.

out_i = sum_j e^{s_ij} K(i, j) v_j / sum_j e^{s_ij} K(i, j) over the keys j in reach of query i,
with s_ij = scale q_i . k_j and a positional weight K between absolute positions (exp(-m|i-j|)
for ALiBi, times [|i-j| < w] for a window, M_hat for the LSH estimator). Written without any code
of the library.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

# weight(head, query position, key position) -> K >= 0
Weight = Callable[[int, int, int], float]


def naive_attention(q, k, v, weight: Weight, causal: bool, scale=None, key_padding_mask=None):
    """q (B, H, n_q, d), k (B, H_kv, n_k, d), v (B, H_kv, n_k, d_v); query t at n_k - n_q + t;
    kv head of query head h is h // (H / H_kv); positions count from each row's first real key;
    padded query rows are 0. Returns float64 (B, H, n_q, d_v)."""
    batch, heads, n_q, dim = q.shape
    kv_heads, n_k = k.shape[1], k.shape[2]
    scale = 1 / math.sqrt(dim) if scale is None else scale
    real = torch.ones(batch, n_k, dtype=torch.bool) if key_padding_mask is None else key_padding_mask.bool()
    out = torch.zeros(batch, heads, n_q, v.shape[-1], dtype=torch.float64)
    for b in range(batch):
        keys = [j for j in range(n_k) if real[b, j]]
        if not keys:
            continue
        first = keys[0]
        for h in range(heads):
            kv = h // (heads // kv_heads)
            for t in range(n_q):
                i = n_k - n_q + t
                if not real[b, i]:
                    continue
                weights = {j: weight(h, i - first, j - first) for j in keys if not (causal and j > i)}
                reach = [j for j, w in weights.items() if w > 0]
                logits = torch.tensor(
                    [scale * float(q[b, h, t].double() @ k[b, kv, j].double()) + math.log(weights[j]) for j in reach],
                    dtype=torch.float64,
                )
                out[b, h, t] = torch.softmax(logits, dim=0) @ v[b, kv, reach].double()
    return out


def alibi_weight(slopes, window=None) -> Weight:
    """exp(-m_h |i - j|), truncated to |i - j| < window[h] when given."""
    slopes = [float(s) for s in slopes]

    def weight(h: int, i: int, j: int) -> float:
        if window is not None and abs(i - j) >= window[h]:
            return 0.0
        return math.exp(-slopes[h] * abs(i - j))

    return weight


def mask_mean_weight(partitions) -> Weight:
    """M_hat(i, j): the fraction of a head's sampled partitions with i and j in one block."""
    ids = [[p.block_ids() for p in head] for head in partitions]

    def weight(h: int, i: int, j: int) -> float:
        return sum(int(block[i] == block[j]) for block in ids[h]) / len(ids[h])

    return weight
