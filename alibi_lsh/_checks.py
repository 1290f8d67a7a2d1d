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


def check_int(name: str, value: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer in [minimum, maximum]; otherwise raise ValueError."""
    upper = "" if maximum is None else f" and <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {value}")
    return int(value)


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
    """Per-head slopes as a float64 CPU tensor of shape (H,), every entry finite and >= 0."""
    tensor = torch.as_tensor(slopes, dtype=torch.float64).detach().cpu().reshape(-1)
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


def make_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """A CPU generator from a seed (same seed, same draws), a generator (used as is) or None (random)."""
    if isinstance(seed, torch.Generator):
        return seed
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(check_int("seed", seed, minimum=0))
    return generator


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """q, k, v must be floating tensors (B, H, n, d) on one device, of one dtype, all finite."""
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor of shape (B, H, n, d), got {type(tensor).__name__}")
        if tensor.dim() != 4:
            raise ValueError(f"{name} must have 4 dimensions (B, H, n, d), got shape {tuple(tensor.shape)}")
        if not tensor.is_floating_point():
            raise ValueError(f"{name} must be floating point (float32, bfloat16 or float16), got {tensor.dtype}")
        if tensor.shape[2] < 1 or tensor.shape[3] < 1:
            raise ValueError(f"{name} needs n >= 1 and d >= 1, got shape {tuple(tensor.shape)}")
    if k.shape != q.shape:
        raise ValueError(f"k must have the shape of q {tuple(q.shape)}, got {tuple(k.shape)}")
    if v.shape[:3] != q.shape[:3]:
        raise ValueError(f"v must have shape (B, H, n, d_v) = {tuple(q.shape[:3])} + (d_v,), got {tuple(v.shape)}")
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(f"q, k, v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if k.device != q.device or v.device != q.device:
        raise ValueError(f"q, k, v must be on one device, got {q.device}, {k.device}, {v.device}")
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        # A finite sum proves every entry finite (inf or NaN anywhere makes the sum inf or NaN) and
        # costs one pass without a boolean temporary; only a non-finite sum (which finite entries
        # can also give, by overflow) needs the exact entry-wise check.
        if not torch.isfinite(tensor.sum()) and not torch.isfinite(tensor).all():
            raise ValueError(f"{name} contains NaN or infinite values; all entries must be finite")


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
