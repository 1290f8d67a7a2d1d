"""Old import path, kept working: the LSH attention lives in :mod:`alibi_lsh.attention`."""

from .attention.lsh.draws import draw_head_blocks, lsh_flops, sample_head_partitions
from .attention.lsh.entry import lsh_alibi_attention

__all__ = ["draw_head_blocks", "lsh_alibi_attention", "lsh_flops", "sample_head_partitions"]
