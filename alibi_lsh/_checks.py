"""Argument checks shared by the public functions: the contract, written once.

Every check raises ``ValueError`` whose message names the argument and the allowed range, so
that a caller (or the app, which shows the message) knows exactly what to change. The rules:

- a flag is a real ``bool`` (not a string such as ``"False"``, not None, not 0/1);
- a number is a real number: an int, a float, a numpy scalar or a 0-d real tensor that does not
  require grad (no gradient flows through a number here, so one that requires grad is refused
  rather than silently dropped); never a bool, a string or a complex number;
- an integer is an int or numpy integer (not a bool, not a float with an integral value);
- a name is one of the allowed strings;
- a tensor has data (a meta-device tensor, which has only a shape, is refused);
- work is refused before allocating when its memory estimate is above a cap.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Sequence

import numpy as np
import torch

# Dense n x n work (masks, kernels, running means, error matrices) is refused above this many
# elements: 2**27 float32 values are 512 MiB, which keeps every dense helper well inside a
# laptop's memory. Attention never builds an n x n matrix, so it is not bound by this cap.
MAX_DENSE_ELEMENTS = 2**27
# The same budget in bytes, for work whose memory is estimated in bytes (sampled partitions and
# block tables, bound computations): refused above it before anything is allocated.
MAX_ALLOCATION_BYTES = 4 * MAX_DENSE_ELEMENTS

# Sampled partitions per head (R) are capped at 2**16. The estimator's error falls like 1/sqrt(R),
# so at the cap it is 1/256 of one mask's: far below anything the app (R <= 1024) or the command
# line (R <= 4096) shows. Time and the draws grow linearly in R (about 0.5 KiB per sample at
# n = 16, 16 + 16 bytes of width and shift per sample and head kept by the draws cache), so an
# unbounded R could exhaust memory: 3,000,000 samples took 1.5 GB, 10**9 failed in numpy.
MAX_SAMPLES = 2**16


def _shown(value: object) -> str:
    """The value as quoted in a message: its repr, cut short (a tensor's repr can be huge)."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}, dtype {value.dtype}, device {value.device}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_flag(name: str, value: bool) -> bool:
    """A flag: ``True`` or ``False`` (or numpy's bool). Strings, None and integers are refused,
    because ``"False"`` and ``None`` would otherwise be read by truthiness."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {_shown(value)}")


def _interval(low: float, high: float, open_low: bool, open_high: bool) -> str:
    if high == math.inf:
        return f"{'>' if open_low else '>='} {low:g}" if low > -math.inf else "finite"
    if low == -math.inf:
        return f"{'<' if open_high else '<='} {high:g}"
    return f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"


def check_number(
    name: str,
    value: float,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """A finite real number in the interval [low, high] (open ends if asked); returned as a float.

    Accepts an int, a float, a numpy real scalar, or a 0-d real tensor with data that does not
    require grad. Refuses bools, strings, complex numbers and anything else.
    """
    allowed = f"a finite number {_interval(low, high, open_low, open_high)}"
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            raise ValueError(
                f"{name} must be {allowed}, got a tensor that requires grad: no gradient flows to {name}; "
                f"pass a float (e.g. {name}.item())"
            )
        if value.dim() != 0 or value.is_meta or value.is_complex() or value.dtype == torch.bool:
            raise ValueError(f"{name} must be {allowed}, got {_shown(value)}")
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {allowed}, got {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float64's range
        number = math.inf if value > 0 else -math.inf
    too_low = number <= low if open_low else number < low
    too_high = number >= high if open_high else number > high
    if not math.isfinite(number) or too_low or too_high:
        raise ValueError(f"{name} must be {allowed}, got {_shown(value)}")
    return number


def check_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    """One of the ``allowed`` names (a string; lists and other look-alikes are refused)."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {_shown(value)}")
    return value


def check_tensor(name: str, value: torch.Tensor, what: str = "a torch.Tensor") -> torch.Tensor:
    """A tensor with data: meta-device tensors (a shape without values) are refused."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be {what}, got {type(value).__name__}")
    if value.is_meta:
        raise ValueError(f"{name} must be {what} with data, got a meta-device tensor (a shape without values)")
    return value


def check_allocation(name: str, num_bytes: int, what: str) -> None:
    """Refuse work whose memory estimate is above :data:`MAX_ALLOCATION_BYTES`, before allocating."""
    if num_bytes > MAX_ALLOCATION_BYTES:
        raise ValueError(
            f"{name} asks for {what} = {num_bytes:,} bytes, above the cap of "
            f"MAX_ALLOCATION_BYTES = {MAX_ALLOCATION_BYTES:,} (512 MiB); use a smaller {name}"
        )


def check_int(name: str, value: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer in [minimum, maximum]; otherwise raise ValueError."""
    upper = "" if maximum is None else f" and <= {maximum}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {_shown(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {value}")
    return int(value)


def check_int_vector(name: str, values: Sequence[int] | torch.Tensor, minimum: int, maximum: int) -> torch.Tensor:
    """Integers in [minimum, maximum] as an int64 CPU tensor (k,): from a flat sequence or a 0-/1-D
    integer tensor. Floats (1.5 would be truncated), bools, strings and nested lists are refused."""
    allowed = f"{name} must be integers in {minimum}..{maximum}"
    if isinstance(values, torch.Tensor):
        check_tensor(name, values)
        if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
            raise ValueError(f"{allowed}, got {values.dtype} values")
        tensor = values.detach().cpu().to(torch.int64)
    else:
        try:
            array = np.asarray(values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{allowed}, got {_shown(values)}") from error
        if array.size and array.dtype.kind not in "iu":  # floats, bools, strings, objects
            raise ValueError(f"{allowed}, got {_shown(values)}")
        if array.size and (array.min() < minimum or array.max() > maximum):
            raise ValueError(f"{allowed}, got {_shown(values)}")
        tensor = torch.from_numpy(array.astype(np.int64))
    if tensor.dim() > 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(tensor.shape)}")
    tensor = tensor.reshape(-1)
    if bool(((tensor < max(minimum, -(2**63))) | (tensor > min(maximum, 2**63 - 1))).any()):
        raise ValueError(f"{allowed}, got {tensor.tolist()[:20]}")
    return tensor


def check_num_samples(num_samples: int) -> int:
    """R, the number of sampled partitions per head: an integer in [1, :data:`MAX_SAMPLES`]."""
    return check_int("num_samples", num_samples, minimum=1, maximum=MAX_SAMPLES)


def check_slope(name: str, value: float) -> float:
    """A single ALiBi slope: a finite real number >= 0 (0 means no positional decay)."""
    return check_number(name, value, low=0.0)


def as_slopes(slopes: torch.Tensor | Sequence[float] | float, name: str = "slopes") -> torch.Tensor:
    """Per-head slopes as a float64 CPU tensor of shape (H,), every entry finite and >= 0.

    Takes one real number or a 1-D sequence or tensor of real numbers. Refuses (ValueError)
    anything else: bools, strings, complex numbers (their imaginary part would be dropped),
    meta-device tensors, and a tensor that requires grad while autograd is on (the slopes are
    constants here, so their gradient would silently be missing).
    """
    allowed = f"{name} must be numbers, one slope per head (real numbers >= 0: a number, or a 1-D sequence or tensor)"
    if isinstance(slopes, torch.Tensor):
        check_tensor(name, slopes)
        if slopes.requires_grad and torch.is_grad_enabled():
            raise ValueError(f"gradients with respect to {name} are not supported; pass {name}.detach()")
        if slopes.is_complex() or slopes.dtype == torch.bool:
            raise ValueError(f"{allowed}, got {slopes.dtype} values")
        tensor = slopes.detach().cpu().to(torch.float64)
    else:
        try:  # numpy reads Python floats as float64 (torch would round them to float32 first)
            array = np.asarray(slopes)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{allowed}, got {_shown(slopes)}") from error
        if array.dtype.kind not in "iuf":  # bools, complex numbers, strings, objects
            raise ValueError(f"{allowed}, got {_shown(slopes)}")
        tensor = torch.from_numpy(array.astype(np.float64))
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
    Meta-device tensors and a non-bool ``enable_gqa`` are refused.
    """
    enable_gqa = check_flag("enable_gqa", enable_gqa)
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, tensor, "a torch.Tensor of shape (B, H, n, d)")
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
    check_tensor("key_padding_mask", mask, "a torch.Tensor of shape (B, n_k)")
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
    """The softmax temperature: 1/sqrt(d) when None; otherwise a finite real number > 0 (not a bool,
    a string, a complex number or a tensor that requires grad: see :func:`check_number`)."""
    if scale is None:
        return 1.0 / math.sqrt(head_dim)
    return check_number("scale", scale, low=0.0, open_low=True)


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
