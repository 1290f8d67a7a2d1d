"""Key padding: every batch row is computed on its real keys alone, padded query rows are zero.

With a ``key_padding_mask`` each row's real keys are one contiguous run [first, end); positions
count from ``first``. Slicing that run out turns the row into an unpadded problem whose queries
are again the last ones of its keys, so every attention path needs to handle unpadded inputs only.
Rows that share a run are computed together; a query row at a padded position sees no key and
returns 0 (as FlashAttention's variable-length interface leaves padding rows), with zero gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def over_real_keys(
    attend: Attend,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    runs: list[tuple[int, int]] | None,
    out_heads: int | None = None,
) -> torch.Tensor:
    """``attend(q, k, v)`` on each row's real run; q (B, H, n_q, d), k, v (B, H_kv, n_k, ·); runs from
    :func:`alibi_lsh._checks.key_padding_runs` (None: no padding). Returns (B, out_heads, n_q, d_v):
    ``attend`` may return fewer heads than q has (default: H)."""
    if runs is None:
        return attend(q, k, v)
    batch, heads, n_q, _ = q.shape
    heads = heads if out_heads is None else out_heads
    offset = k.shape[2] - n_q  # query t sits at key index offset + t
    out = q.new_zeros(batch, heads, n_q, v.shape[-1])
    groups: dict[tuple[int, int], list[int]] = {}
    for row, run in enumerate(runs):
        groups.setdefault(run, []).append(row)
    for (first, end), rows in groups.items():
        lo, hi = max(first - offset, 0), end - offset  # the queries at real positions
        if hi <= lo:
            continue
        if rows == list(range(rows[0], rows[-1] + 1)):
            index = slice(rows[0], rows[-1] + 1)  # a view, no copy
        else:
            index = torch.tensor(rows, device=q.device)
        out[index, :, lo:hi] = attend(q[index, :, lo:hi], k[index, :, first:end], v[index, :, first:end])
    return out
