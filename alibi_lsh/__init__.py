"""alibi-lsh: ALiBi attention as the average of random block-diagonal masks.

exp(-m|i-j|) is the probability that positions i and j fall in one block of a random contiguous
partition. This package samples those partitions, measures how fast their mean converges to the
ALiBi kernel, and computes ALiBi attention approximately as R ordinary attentions over short
blocks combined with log-sum-exp weights.
"""

from ._checks import MAX_DENSE_ELEMENTS
from .attention.exact import alibi_attention
from .attention.lsh.entry import lsh_alibi_attention
from .attention.lsh.reference import lsh_alibi_attention_reference
from .attention.options import AttentionOptions
from .attention.spec import AttentionSpec
from .attention.window import window_alibi_attention
from .kernels import PositionalKernel, resolve_kernel
from .masks import mask_running_mean, sample_masks, sample_partitions
from .metrics import (
    block_size_bound,
    max_norm_bound,
    max_norm_error,
    relative_frobenius_error,
    spectral_norm_bound,
    spectral_norm_error,
)
from .partition import Partition
from .samplers import SCHEMES, BinningSampler, CutsSampler, PartitionSampler, QMCSampler, make_sampler
from .slopes import alibi_bias, alibi_kernel, alibi_slopes

__version__ = "0.1.0"

__all__ = [
    "MAX_DENSE_ELEMENTS",
    "AttentionOptions",
    "AttentionSpec",
    "SCHEMES",
    "BinningSampler",
    "CutsSampler",
    "Partition",
    "PartitionSampler",
    "PositionalKernel",
    "QMCSampler",
    "alibi_attention",
    "alibi_bias",
    "alibi_kernel",
    "alibi_slopes",
    "block_size_bound",
    "lsh_alibi_attention",
    "lsh_alibi_attention_reference",
    "make_sampler",
    "mask_running_mean",
    "max_norm_bound",
    "max_norm_error",
    "relative_frobenius_error",
    "resolve_kernel",
    "sample_masks",
    "sample_partitions",
    "spectral_norm_bound",
    "spectral_norm_error",
    "window_alibi_attention",
]
