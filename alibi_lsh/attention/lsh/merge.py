"""The online log-sum-exp merge: partial attentions of the same query rows become one softmax.

A partial attention r of query row i is plain attention over some key set K_ri, with output o_ri
and log-sum-exp l_ri. The attention over the multiset union of the K_ri is

    L_i = log sum_r exp(l_ri),    O_i = sum_r exp(l_ri - L_i) o_ri

(exact algebra: notes on positional LSH, section 3). Partials arrive in chunks, so the merge keeps
FlashAttention's running form: the largest l seen, the sum of exp(l - max) and the weighted sum
of outputs, rescaled whenever the max grows.
"""

from __future__ import annotations

import math

import torch


class OnlineSoftmaxMerge:
    """Running merge of partial attentions over rows of shape ``rows`` (e.g. (B, H, n)).

    ``weights(lse)`` opens a chunk of S partials, ``lse`` shaped rows[:-1] + (S, n): it rescales
    the running totals and returns each partial's weight exp(l - max), same shape; then
    ``accumulated`` (rows + (d_v,)) takes weight * o for each partial, e.g. with ``addcmul_``.
    ``result()`` gives (O, L); a row that received no key gets O = 0 and L = -inf.
    """

    def __init__(self, rows: tuple[int, ...], value_dim: int, dtype: torch.dtype, device: torch.device):
        self.max = torch.full(rows, -math.inf, dtype=dtype, device=device)
        self.sum = torch.zeros(rows, dtype=dtype, device=device)
        self.accumulated = torch.zeros(*rows, value_dim, dtype=dtype, device=device)

    def weights(self, lse: torch.Tensor) -> torch.Tensor:
        new_max = torch.maximum(self.max, lse.amax(dim=-2))
        shift = new_max.masked_fill(new_max == -math.inf, 0.0)  # rows without any key yet: keep them 0
        decay = torch.exp(self.max - shift)
        weights = torch.exp(lse - shift.unsqueeze(-2))
        self.sum = self.sum * decay + weights.sum(dim=-2)
        self.accumulated *= decay.unsqueeze(-1)
        self.max = new_max
        return weights

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        seen = self.sum > 0
        out = self.accumulated / torch.where(seen, self.sum, 1.0).unsqueeze(-1)
        lse = torch.where(seen, self.max + torch.log(torch.where(seen, self.sum, 1.0)), -math.inf)
        return out, lse
