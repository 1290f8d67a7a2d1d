"""ALiBi attention truncated to a window |i - j| < w: the deterministic banded baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._checks import (
    check_head_slopes,
    check_int,
    check_qkv,
    check_values,
    compute_dtype,
    default_scale,
    key_padding_runs,
)
from .banded import banded_attention
from .padding import over_real_keys


def _as_windows(window: int | Sequence[int] | torch.Tensor, heads: int) -> list[int]:
    values = torch.as_tensor(window).reshape(-1).tolist()
    if len(values) == 1:
        values = values * heads
    if len(values) != heads:
        raise ValueError(f"window must be one integer or one per head (H = {heads}), got {len(values)} values")
    return [check_int("window", value) for value in values]


def window_table(slope: float, band: int, causal: bool, dtype: torch.dtype) -> torch.Tensor:
    """(1, columns) bias -m u at offsets u < band in :func:`band_columns`' layout.

    Computed in float64 and rounded: a slope too large for ``dtype`` gives -inf at u >= 1 and 0 at
    u = 0 (only the query's own key survives, the exact limit), never inf * 0.
    """
    behind = -slope * torch.arange(band, dtype=torch.float64)
    parts = [behind]
    if not causal:  # column band is unused; then u = 1..band-1 ahead
        parts += [torch.tensor([-math.inf], dtype=torch.float64), behind[1:]]
    parts.append(torch.tensor([-math.inf], dtype=torch.float64))
    return torch.cat(parts).to(dtype)[None]


def window_alibi_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | Sequence[float],
    window: int | Sequence[int] | torch.Tensor,
    causal: bool = True,
    *,
    scale: float | None = None,
    key_padding_mask: torch.Tensor | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """ALiBi attention restricted to |i - j| < window, in SDPA's (B, H, n, d) layout; (B, H, n_q, d_v).

    ``window``: one integer >= 1 or one per query head (H,). Exact ALiBi inside the band, nothing
    outside; O(B H n_q window) time and memory; the output has q's dtype. Shapes, bottom-right alignment of n_q <= n_k,
    ``enable_gqa``, ``key_padding_mask``, ``scale``, dtypes and errors as :func:`alibi_attention`;
    a decoding step reads only the last ``window`` keys. Differentiable in q, k, v.
    """
    group = check_qkv(q, k, v, enable_gqa)
    heads = q.shape[1]
    slopes = check_head_slopes(slopes, heads).tolist()
    scale = default_scale(scale, q.shape[-1])
    windows = _as_windows(window, heads)
    runs = key_padding_runs(key_padding_mask, q.shape[0], k.shape[2])

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        n_q, n_k = q.shape[2], k.shape[2]
        first = max(0, n_k - n_q - max(windows) + 1)  # no query reaches further back
        k, v = k[:, :, first:], v[:, :, first:]
        check_values(q, k, v, scale)
        dtype = compute_dtype(q.dtype)
        outputs = []
        for h in range(heads):
            band = min(windows[h], n_k - first)
            table = window_table(slopes[h], band, causal, dtype).to(q.device)
            outputs.append(banded_attention(q[:, h], k[:, h // group], v[:, h // group], table, band, causal, scale))
        return torch.stack(outputs, dim=1)

    return over_real_keys(attend, q, k, v, runs)
