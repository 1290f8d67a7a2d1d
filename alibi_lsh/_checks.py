"""Argument checks shared by the public functions.

Every check raises ``ValueError`` whose message names the argument and the allowed range,
so that a caller (or the app, which shows the message) knows exactly what to change.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Sequence

import torch

# Dense n x n work (masks, kernels, running means, error matrices) is refused above this many
# elements: 2**27 float32 values are 512 MiB, which keeps every dense helper well inside a
# laptop's memory. Attention never builds an n x n matrix, so it is not bound by this cap.
MAX_DENSE_ELEMENTS = 2**27

# Sampled partitions per head (R) are capped at 2**16. The estimator's error falls like 1/sqrt(R),
# so at the cap it is 1/256 of one mask's: far below anything the app (R <= 1024) or the command
# line (R <= 4096) shows. Time and the draws grow linearly in R (about 0.5 KiB per sample at
# n = 16, 16 + 16 bytes of width and shift per sample and head kept by the draws cache), so an
# unbounded R could exhaust memory: 3,000,000 samples took 1.5 GB, 10**9 failed in numpy.
MAX_SAMPLES = 2**16


def check_int(name: str, value: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer in [minimum, maximum]; otherwise raise ValueError."""
    upper = "" if maximum is None else f" and <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {value}")
    return int(value)


def check_num_samples(num_samples: int) -> int:
    """R, the number of sampled partitions per head: an integer in [1, :data:`MAX_SAMPLES`]."""
    return check_int("num_samples", num_samples, minimum=1, maximum=MAX_SAMPLES)


def check_slope(name: str, value: float) -> float:
    """A single ALiBi slope: a finite real number >= 0 (0 means no positional decay)."""
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}") from err
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def as_slopes(slopes: torch.Tensor | Sequence[float] | float, name: str = "slopes") -> torch.Tensor:
    """Per-head slopes as a float64 CPU tensor of shape (H,), every entry finite and >= 0.

    Takes one number or a 1-D sequence or tensor. Refuses (ValueError) anything else, and a tensor
    that requires grad while autograd is on: the slopes are constants here, so their gradient
    would silently be missing.
    """
    if isinstance(slopes, torch.Tensor) and slopes.requires_grad and torch.is_grad_enabled():
        raise ValueError(f"gradients with respect to {name} are not supported; pass {name}.detach()")
    try:
        tensor = torch.as_tensor(slopes, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as error:
        message = f"{name} must be numbers, one slope per head (a 1-D sequence or tensor), got {slopes!r}"
        raise ValueError(message) from error
    if tensor.dim() > 1:
        raise ValueError(f"{name} must be 1-D, one slope per head, got shape {tuple(tensor.shape)}")
    tensor = tensor.reshape(-1)
    if tensor.numel() == 0:
        raise ValueError(f"{name} must hold at least one slope (one per head), got none")
    bad = ~torch.isfinite(tensor) | (tensor < 0)
    if bad.any():
        index = int(bad.nonzero()[0])
        raise ValueError(f"{name} must be finite and >= 0; {name}[{index}] = {tensor[index].item()}")
    return tensor


def check_dense_size(name: str, num_elements: int, what: str) -> None:
    """Refuse dense work above :data:`MAX_DENSE_ELEMENTS` with a message naming the cap."""
    if num_elements > MAX_DENSE_ELEMENTS:
        raise ValueError(
            f"{name} asks for {what} = {num_elements:,} dense elements, above the cap of "
            f"MAX_DENSE_ELEMENTS = {MAX_DENSE_ELEMENTS:,} (512 MiB of float32); "
            "use a smaller n or fewer samples/checkpoints"
        )


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, enable_gqa: bool = False) -> int:
    """Shapes, dtype and device of attention inputs in SDPA's layout; returns the group size G.

    q (B, H, n_q, d), k (B, H_kv, n_k, d), v (B, H_kv, n_k, d_v): floating point, one dtype, one
    device, n_q <= n_k (queries are the last n_q positions). H_kv = H unless ``enable_gqa``, where
    H must be a multiple of H_kv and query head h reads kv head h // G, G = H // H_kv (SDPA's
    convention). Values are checked later, by :func:`check_values`, on the keys a call reads.
    """
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor of shape (B, H, n, d), got {type(tensor).__name__}")
        if tensor.dim() != 4:
            raise ValueError(f"{name} must have 4 dimensions (B, H, n, d), got shape {tuple(tensor.shape)}")
        if not tensor.is_floating_point():
            raise ValueError(
                f"{name} must be floating point (float32, float64, bfloat16 or float16), got {tensor.dtype}"
            )
        if min(tensor.shape) < 1:
            raise ValueError(f"{name} needs B, H, n, d >= 1, got shape {tuple(tensor.shape)}")
    batch, heads, n_q, head_dim = q.shape
    if k.shape[0] != batch or k.shape[3] != head_dim:
        raise ValueError(
            f"k must have shape (B, H_kv, n_k, d) with B = {batch} and d = {head_dim}, got {tuple(k.shape)}"
        )
    if v.shape[:3] != k.shape[:3]:
        raise ValueError(f"v must have shape (B, H_kv, n_k, d_v) = {tuple(k.shape[:3])} + (d_v,), got {tuple(v.shape)}")
    kv_heads, n_k = k.shape[1], k.shape[2]
    if enable_gqa:
        if heads % kv_heads != 0:
            raise ValueError(f"enable_gqa needs H a multiple of H_kv, got H = {heads} and H_kv = {kv_heads}")
    elif kv_heads != heads:
        raise ValueError(
            f"k and v must have H = {heads} heads like q, got {kv_heads} "
            "(pass enable_gqa=True for grouped-query attention)"
        )
    if n_q > n_k:
        raise ValueError(
            f"q may not be longer than k: queries are the last n_q of the n_k positions, got n_q = {n_q} > n_k = {n_k}"
        )
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(f"q, k, v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if k.device != q.device or v.device != q.device:
        raise ValueError(f"q, k, v must be on one device, got {q.device}, {k.device}, {v.device}")
    return heads // kv_heads


# Global head indices are one 32-bit counter word of the block stream (docs/blocks.md).
HEAD_INDICES = 2**32


def check_head_offset(head_offset: int, group: int, heads: int) -> int:
    """The global index of a call's first query head: an integer in [0, 2^32 - H], a multiple of the GQA group G.

    The call's heads are global heads head_offset .. head_offset + H - 1, and each must fit in one
    32-bit counter word.
    """
    head_offset = check_int("head_offset", head_offset, minimum=0, maximum=HEAD_INDICES - heads)
    if head_offset % group:
        raise ValueError(
            f"head_offset must be a multiple of H / H_kv = {group} with enable_gqa (a shard holds whole "
            f"groups of query heads), got {head_offset}"
        )
    return head_offset


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Attention accumulates in float64 for float64 inputs and in float32 for every other float dtype."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_values(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> None:
    """Entries finite, and every score scale * q.k inside the compute dtype's range.

    One pass over each tensor (``aminmax``: a NaN or inf anywhere shows in its result). The score
    bound is scale * d * max|q| * max|k|; above half the largest finite number of the compute
    dtype a score (plus an ALiBi bias) could overflow to inf and give NaN, so it is refused.
    """
    largest = {}
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if tensor.numel() == 0:
            largest[name] = 0.0
            continue
        low, high = (float(x) for x in torch.aminmax(tensor.detach()))
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{name} contains NaN or infinite values; all entries must be finite")
        largest[name] = max(-low, high)
    limit = torch.finfo(compute_dtype(q.dtype)).max / 2
    bound = scale * q.shape[-1] * largest["q"] * largest["k"]
    if bound > limit:
        raise ValueError(
            f"q and k are too large: scale * |q . k| may reach {bound:.3g}, above {limit:.3g} "
            f"(half the {compute_dtype(q.dtype)} range), where scores overflow; scale q or k down"
        )


def key_padding_runs(mask: torch.Tensor | None, batch: int, n_k: int) -> list[tuple[int, int]] | None:
    """The real keys of each row as [first, end), from a Hugging Face style ``key_padding_mask``.

    ``mask`` is (B, n_k), bool or integers 0/1, 1 = real token; each row's real keys must be one
    contiguous run (left and/or right padding; a row may be all padding). Returns None when
    there is no mask or every key is real.
    """
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"key_padding_mask must be a torch.Tensor of shape (B, n_k), got {type(mask).__name__}")
    if tuple(mask.shape) != (batch, n_k):
        raise ValueError(f"key_padding_mask must have shape (B, n_k) = {(batch, n_k)}, got {tuple(mask.shape)}")
    if mask.is_floating_point() or mask.is_complex():
        raise ValueError(f"key_padding_mask must be bool or integer 0/1 (1 = real token), got {mask.dtype}")
    mask = mask.detach().cpu()
    if mask.dtype != torch.bool:
        if ((mask != 0) & (mask != 1)).any():
            raise ValueError("key_padding_mask must hold only 0 and 1 (1 = real token)")
        mask = mask.bool()
    starts = mask[:, :1].to(torch.int64) + (mask[:, 1:] & ~mask[:, :-1]).sum(dim=1, keepdim=True)
    holes = (starts.reshape(-1) > 1).nonzero()
    if holes.numel():
        row = int(holes[0])
        raise ValueError(
            f"key_padding_mask row {row} has padding between real tokens; the real tokens of a row must "
            "be one contiguous run (left and/or right padding only)"
        )
    counts = mask.sum(dim=1)
    if bool((counts == n_k).all()):
        return None
    first = torch.where(counts > 0, mask.to(torch.int8).argmax(dim=1), 0)
    return [(int(f), int(f + c)) for f, c in zip(first, counts)]


def check_head_slopes(slopes: torch.Tensor | Sequence[float], num_heads: int) -> torch.Tensor:
    """Slopes (H,) matching the head count of q; returned as float64 on the CPU."""
    tensor = as_slopes(slopes)
    if tensor.numel() != num_heads:
        raise ValueError(f"slopes must have one entry per head (H = {num_heads}), got {tensor.numel()}")
    return tensor


def default_scale(scale: float | None, head_dim: int) -> float:
    """The softmax temperature: 1/sqrt(d) unless given; must be finite and > 0."""
    if scale is None:
        return 1.0 / math.sqrt(head_dim)
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale}")
    return scale


def exit_status(command: Callable[[], int | None]) -> int:
    """Run the body of a command-line tool and return its exit status.

    Bad input (ValueError, FileNotFoundError) becomes one line ``error: ...`` on stderr and status
    2, without a traceback; a body that returns None succeeded (status 0).
    """
    try:
        status = command()
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return int(status or 0)
