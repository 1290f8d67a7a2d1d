"""Old import path, kept working: the exact and window attention live in :mod:`alibi_lsh.attention`."""

from .attention.exact import alibi_attention
from .attention.window import window_alibi_attention

__all__ = ["alibi_attention", "window_alibi_attention"]
