"""ALiBi attention: exact, truncated to a window, and approximated by random short blocks.

One idea per module: ``exact`` (the reference), ``window`` (the banded baseline: query tiles
against key windows), ``lsh`` (the entry point of the approximation) with ``reference`` (the same
estimator written densely), ``draws`` (the random blocks as tensors), ``union`` (the fast path:
one count-weighted pass over the union of each query's sampled blocks), ``blocks`` (the readable
per-sample path), ``merge`` (the online log-sum-exp merge), ``padding`` (key padding: each row on
its real keys), ``fused`` (the one door to torch's private fused kernels, with their fallback)
and ``spec`` (``AttentionSpec``: which attention a model uses, and the dispatch).
"""

from .exact import alibi_attention
from .lsh.entry import lsh_alibi_attention
from .lsh.reference import lsh_alibi_attention_reference
from .spec import EXACT, AttentionSpec, attend
from .window import window_alibi_attention

__all__ = [
    "EXACT",
    "AttentionSpec",
    "alibi_attention",
    "attend",
    "lsh_alibi_attention",
    "lsh_alibi_attention_reference",
    "window_alibi_attention",
]
