"""The exact ALiBi reference every benchmarked method is scored against: float64, chunked.

Written from the definition, independently of the library's attention code, so an error in the
methods cannot hide in the reference. Query rows are processed in chunks, so it exists at every
n the benchmark reaches (memory O(H * rows * n), never H * n * n at once).
"""

from __future__ import annotations

import math

import torch

# Elements of one chunk's score matrix (B * H * rows * keys): 2**24 float64 values = 128 MiB.
SCORE_ELEMENTS = 2**24


def exact_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor,
    causal: bool = True,
    scale: float | None = None,
    score_elements: int = SCORE_ELEMENTS,
) -> torch.Tensor:
    """softmax(scale q k^T - m_h |i - j|) v in float64; q, k (B, H, n, d), v (B, H, n, d_v).

    ``slopes`` (H,) are the ALiBi slopes m_h >= 0; ``score_elements`` bounds one chunk's scores.
    Returns (B, H, n, d_v) float64 on q's device.
    Causal attention hides keys j > i; each chunk of rows only reads the keys it can see.
    """
    batch, heads, n, dim = q.shape
    scale = 1.0 / math.sqrt(dim) if scale is None else float(scale)
    q, k, v = (t.to(torch.float64) for t in (q, k, v))
    slopes = torch.as_tensor(slopes, dtype=torch.float64, device=q.device).reshape(1, heads, 1, 1)
    out = torch.empty(batch, heads, n, v.shape[-1], dtype=torch.float64, device=q.device)
    rows = max(1, score_elements // (batch * heads * n))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        keys = stop if causal else n
        distance = torch.arange(start, stop, device=q.device)[:, None] - torch.arange(keys, device=q.device)[None, :]
        scores = scale * q[:, :, start:stop] @ k[:, :, :keys].transpose(-1, -2) - slopes * distance.abs()
        if causal:
            scores = scores.masked_fill(distance < 0, -math.inf)
        out[:, :, start:stop] = torch.softmax(scores, dim=-1) @ v[:, :, :keys]
    return out


def output_errors(approx: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """(relative Frobenius error ||O_hat - O|| / ||O||, max abs error), computed in float64."""
    diff = approx.to(torch.float64) - reference
    return (diff.norm() / reference.norm()).item(), diff.abs().max().item()
