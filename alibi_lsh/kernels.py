"""Positional kernels k(d) and the random-width law that turns them into block masks.

A kernel k on distances d = 0, 1, 2, ... that is decreasing and convex with k(0) = 1 and
k(d) -> 0 is a mixture of triangles (1 - d/W)_+ with weights (notes, section 1)

    pi(W) = W * (k(W-1) - 2 k(W) + k(W+1)),   W = 1, 2, ...

and (1 - d/W)_+ is exactly the probability that two positions d apart share a block of width W
with a uniform random shift. ALiBi is k(d) = exp(-m d); a power law (1+d)^(-a) is another case.
All evaluations are in float64: the law's second differences cancel badly in lower precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._checks import check_allocation, check_int, check_number, check_slope, check_tensor

KernelFn = Callable[[torch.Tensor], torch.Tensor]

# Widths are int64 and a width above 2**62 is as good as infinite for any sequence we can hold.
MAX_WIDTH = 2**62
# Distances over which a user-supplied kernel is checked for k(0) = 1, monotonicity and convexity.
CHECK_DISTANCES = 4096


@dataclass(frozen=True)
class PositionalKernel:
    """A decreasing convex kernel k(d) on integer distances, with its block-width law.

    ``decay_rate`` is the ALiBi slope m when k(d) = exp(-m d) (needed by the "cuts" scheme,
    which only reproduces exponential kernels); it is None for other kernels.
    """

    name: str
    fn: KernelFn
    decay_rate: float | None = None

    @staticmethod
    def alibi(slope: float) -> PositionalKernel:
        """k(d) = exp(-m d): ALiBi with slope m >= 0 (m = 0 is the constant kernel: one block)."""
        slope = check_slope("slope", slope)
        return PositionalKernel(f"alibi(m={slope:g})", lambda d: torch.exp(-slope * d), decay_rate=slope)

    @staticmethod
    def power_law(exponent: float) -> PositionalKernel:
        """k(d) = (1 + d)^(-a) with a > 0: the heavier-tailed log-bias family."""
        exponent = check_number("exponent", exponent, low=0.0, open_low=True)
        return PositionalKernel(f"power(a={exponent:g})", lambda d: (1.0 + d) ** (-exponent))

    @staticmethod
    def from_callable(fn: KernelFn, name: str = "custom") -> PositionalKernel:
        """Wrap k(d) (float64 tensor -> float64 tensor) after checking it is a valid kernel.

        Raises ValueError if ``fn`` is not callable or fails on a tensor, and naming the first
        distance where k(0) = 1, k decreasing, convexity (pi(W) >= 0) or decay to 0 fails.
        """
        if not callable(fn) or isinstance(fn, PositionalKernel):
            raise ValueError(f"fn must be a callable k(d) from a float64 tensor to one, got {fn!r}")
        if not isinstance(name, str):
            raise ValueError(f"name must be a string, got {name!r}")
        kernel = PositionalKernel(name, fn)
        kernel.validate()
        return kernel

    @property
    def is_constant(self) -> bool:
        """True for slope 0: every position shares one block, i.e. plain attention."""
        return self.decay_rate == 0.0

    def __call__(self, d: torch.Tensor | float) -> torch.Tensor:
        return self.fn(torch.as_tensor(d, dtype=torch.float64))

    def validate(self, num_distances: int = CHECK_DISTANCES) -> None:
        """Check k(0) = 1, 0 <= k <= 1, k non-increasing and convex on 0..num_distances, k -> 0."""
        d = torch.arange(num_distances + 2, dtype=torch.float64)
        try:
            values = self(d)
        except (TypeError, ValueError, RuntimeError, ArithmeticError, AttributeError, LookupError) as error:
            raise ValueError(f"kernel {self.name!r} fails on a float64 tensor of distances: {error}") from error
        if (
            not isinstance(values, torch.Tensor)
            or values.shape != d.shape
            or values.is_complex()
            or not torch.isfinite(values).all()
        ):
            raise ValueError(
                f"kernel {self.name!r} must map a float64 tensor of distances to finite values of the same shape"
            )
        if abs(values[0].item() - 1.0) > 1e-12:
            raise ValueError(f"kernel {self.name!r} must have k(0) = 1, got k(0) = {values[0].item():.6g}")
        tol = 1e-12
        rising = (values[1:] - values[:-1] > tol).nonzero()
        if len(rising):
            at = int(rising[0]) + 1
            raise ValueError(f"kernel {self.name!r} must be non-increasing; k({at}) > k({at - 1})")
        second = values[:-2] - 2 * values[1:-1] + values[2:]
        concave = (second < -tol).nonzero()
        if len(concave):
            at = int(concave[0]) + 1
            raise ValueError(
                f"kernel {self.name!r} is not convex at d = {at}: k({at - 1}) - 2 k({at}) + k({at + 1}) = "
                f"{second[at - 1].item():.3g} < 0, so the width law pi({at}) would be negative"
            )
        far = float(self(float(2**40)).reshape(-1)[0])
        if not 0.0 <= far < 0.5:
            raise ValueError(f"kernel {self.name!r} must decay to 0 as d grows; k(2^40) = {far:.3g}")

    def width_pmf(self, width: torch.Tensor) -> torch.Tensor:
        """pi(W) = W (k(W-1) - 2 k(W) + k(W+1)) for integer widths W >= 1, float64."""
        w = torch.as_tensor(width, dtype=torch.float64)
        return w * (self(w - 1) - 2 * self(w) + self(w + 1))

    def width_tail(self, width: torch.Tensor) -> torch.Tensor:
        """P(W > w) = k(w+1) + (w+1) (k(w) - k(w+1)), by summing pi by parts; float64.

        For ALiBi this is q^w (1 + w (1 - q)) with q = exp(-m), computed with expm1 so that it
        stays accurate for slopes near 0.
        """
        w = torch.as_tensor(width, dtype=torch.float64)
        if self.decay_rate is not None:
            m = self.decay_rate
            return torch.exp(-m * w) * (1.0 - w * math.expm1(-m))
        return self(w + 1) + (w + 1) * (self(w) - self(w + 1))

    def width_quantile(self, u: torch.Tensor) -> torch.Tensor:
        """Inverse CDF of the width law: the smallest integer W >= 1 with P(W <= W) >= u; int64.

        Args:
            u: real numbers in [0, 1], a tensor (any shape) or anything ``torch.as_tensor`` takes.
        Returns:
            int64 widths of u's shape, at most MAX_WIDTH = 2^62 (u = 1 gives the cap for a law
            with unbounded support).
        Raises:
            ValueError: u not real, NaN or outside [0, 1].

        Vectorised bisection on the tail, so it works for any kernel (no table to truncate). The
        bracket is held in int64, so it halves at every step even where float64 cannot tell
        neighbouring widths apart (above 2^53): at most 63 steps.
        """
        if isinstance(u, torch.Tensor):
            check_tensor("u", u)
        try:
            u = torch.as_tensor(u).detach()
        except (TypeError, ValueError, RuntimeError) as error:
            raise ValueError(f"u must be real numbers in [0, 1], got {u!r}") from error
        if u.is_complex() or u.dtype == torch.bool:
            raise ValueError(f"u must be real numbers in [0, 1], got {u.dtype} values")
        u = u.to(torch.float64)
        if not bool(((u >= 0) & (u <= 1)).all()):  # NaN fails both comparisons
            raise ValueError("u must be real numbers in [0, 1]; it holds values outside (or NaN)")
        return self.tail_quantile(1.0 - u)

    def tail_quantile(self, tail: torch.Tensor) -> torch.Tensor:
        """The smallest integer W >= 1 with P(W > W) <= ``tail``: float64 probabilities in [0, 1]
        (not checked here); int64 of the same shape. :meth:`width_quantile` at u = 1 - tail, for
        tails below float64's resolution next to 1 (e.g. 1e-18), where 1 - tail would round to 1."""
        target = tail
        lo = torch.zeros(tail.shape, dtype=torch.int64)  # invariant: tail(lo) > target (tail(0) = 1)
        hi = torch.ones(tail.shape, dtype=torch.int64)
        while True:  # double hi until tail(hi) <= target everywhere (or the width cap is hit)
            short = (self.width_tail(hi.to(torch.float64)) > target) & (hi < MAX_WIDTH)
            if not short.any():
                break
            lo = torch.where(short, hi, lo)
            hi = torch.where(short, hi * 2, hi)
        while ((hi - lo) > 1).any():
            mid = lo + (hi - lo) // 2
            above = self.width_tail(mid.to(torch.float64)) > target
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        return hi.clamp(1, MAX_WIDTH)

    def mean_width(self) -> float:
        """E[W] = sum_{w >= 0} P(W > w); for ALiBi (1 + q) / (1 - q), about 2/m for small m."""
        if self.decay_rate is not None:
            if self.decay_rate == 0:
                return math.inf
            q = math.exp(-self.decay_rate)
            return (1 + q) / -math.expm1(-self.decay_rate)
        raise ValueError(f"the mean width of kernel {self.name!r} has no closed form (it may be infinite)")

    def distance_values(self, n: int) -> torch.Tensor:
        """k(0), ..., k(n-1) as a float64 tensor of shape (n,); ValueError for n not an integer >= 1
        or above the allocation cap (16 bytes a distance)."""
        n = check_int("n", n)
        check_allocation("n", 16 * n, f"the kernel's values at n = {n} distances")
        return self(torch.arange(n, dtype=torch.float64))


KERNEL_NAMES = ("alibi", "power")


def resolve_kernel(kernel: PositionalKernel | str | KernelFn | None, slope: float) -> PositionalKernel:
    """Turn the ``kernel`` argument of the public functions into a :class:`PositionalKernel`.

    ``None`` or ``"alibi"``: exp(-slope d). ``"power"``: (1 + d)^(-slope), i.e. ``slope`` is the
    exponent a. A :class:`PositionalKernel` is used as is; any other callable is validated. With
    those two ``slope`` is unused but must still be a number >= 0. Raises ValueError.
    """
    if isinstance(kernel, PositionalKernel):
        check_slope("slope", slope)  # unused here, but a look-alike would hide a mistake
        return kernel
    if kernel is None or (isinstance(kernel, str) and kernel == "alibi"):
        return PositionalKernel.alibi(slope)
    if isinstance(kernel, str) and kernel == "power":
        return PositionalKernel.power_law(slope)
    if callable(kernel) and not isinstance(kernel, (str, type)):
        check_slope("slope", slope)
        return PositionalKernel.from_callable(kernel, getattr(kernel, "__name__", "custom"))
    raise ValueError(f"kernel must be one of {KERNEL_NAMES}, a PositionalKernel or a callable, got {kernel!r}")
