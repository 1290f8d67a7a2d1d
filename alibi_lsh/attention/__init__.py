"""ALiBi attention: exact, truncated to a window, and approximated by random short blocks.

One idea per module: ``exact`` (the reference), ``window`` (the banded baseline), ``lsh`` (the
entry point of the approximation), ``draws`` (the random blocks as tensors), ``blocks`` (the
per-sample block path), ``band`` (the band path for narrow heads) and ``fused`` (the fused kernels
that return the log-sum-exp, and their fallback).
"""

from .exact import alibi_attention
from .lsh import lsh_alibi_attention
from .window import window_alibi_attention

__all__ = ["alibi_attention", "lsh_alibi_attention", "window_alibi_attention"]
