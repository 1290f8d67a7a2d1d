"""The argument contract of every public function, tested by seeded random draws.

For each function exported from ``alibi_lsh`` (and the constructors behind them) the tests start
from a valid call, replace one argument by a value drawn from a pool of every type (None, bools,
numpy bools, strings, ints from -1 to 10**400, floats including NaN and inf, complex numbers,
numpy scalars, 0-d and 1-D tensors, tensors that require grad, meta-device tensors, nested lists,
dtypes, objects) or from values that argument should accept, and decide from the contract alone,
written below independently of the checks in the package, whether the call is valid:

- valid: the call returns, and its result is compared with a reference computed here;
- invalid: the call raises ValueError, and the message names the argument (as a word).

The draws are seeded, so a failure names a draw that can be replayed (the test id and the index).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from alibi_lsh import (
    SCHEMES,
    AttentionOptions,
    AttentionSpec,
    BinningSampler,
    CutsSampler,
    Partition,
    PositionalKernel,
    QMCSampler,
    alibi_attention,
    alibi_bias,
    alibi_kernel,
    alibi_slopes,
    block_size_bound,
    lsh_alibi_attention,
    lsh_alibi_attention_reference,
    make_sampler,
    mask_running_mean,
    max_norm_bound,
    max_norm_error,
    relative_frobenius_error,
    resolve_kernel,
    sample_masks,
    sample_partitions,
    spectral_norm_bound,
    spectral_norm_error,
    window_alibi_attention,
)
from alibi_lsh.attention.spec import attend

DRAWS = 40  # per function; every argument is drawn about DRAWS / (number of arguments) times
DENSE_CAP = 2**27  # elements of dense n x n work
BYTES_CAP = 2**29  # bytes of an allocation estimate
BYTES_PER_SAMPLED_POSITION = 24
SEED_MAX = 2**63 - 1


# --- the pool: values of every type ------------------------------------------------------------------


def any_value(rng: random.Random) -> object:
    """One value of any type (built fresh: tensors are mutable)."""
    pool = [
        lambda: None, lambda: True, lambda: False, lambda: np.bool_(True),
        lambda: "0.5", lambda: "abc", lambda: "", lambda: "False", lambda: "binning",
        lambda: 0, lambda: 1, lambda: -1, lambda: 3, lambda: rng.randint(2, 9), lambda: 2**40, lambda: 10**400,
        lambda: np.int64(4), lambda: 0.0, lambda: 0.5, lambda: -0.5, lambda: 1.5, lambda: math.nan,
        lambda: math.inf, lambda: -math.inf, lambda: 1e300, lambda: rng.random(), lambda: np.float64(0.25),
        lambda: 1j, lambda: complex(0.5, 0),
        lambda: torch.tensor(0.5), lambda: torch.tensor(0.5, requires_grad=True), lambda: torch.tensor([0.5]),
        lambda: torch.tensor([[0.5]]), lambda: torch.tensor(3), lambda: torch.ones((), device="meta"),
        lambda: torch.tensor(True), lambda: torch.tensor([0.5j]), lambda: torch.tensor([2, 3]),
        lambda: [0.5], lambda: [[4, 4]], lambda: ["binning"], lambda: [], lambda: [1, 2], lambda: (0.5, 0.25),
        lambda: [0.5, None], lambda: torch.float32, lambda: torch.int64, lambda: object(),
    ]  # fmt: skip
    return rng.choice(pool)()


# --- the contract, written once for these tests ------------------------------------------------------


def is_int(value: object, low: int | None = None, high: int | None = None) -> bool:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def as_real(value: object) -> float | None:
    """The number a real-number argument stands for, or None if it is not one."""
    if isinstance(value, torch.Tensor):
        if value.dim() or value.requires_grad or value.is_meta or value.is_complex() or value.dtype == torch.bool:
            return None
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def is_real(value: object, low: float = -math.inf, high: float = math.inf, open_low=False, open_high=False) -> bool:
    number = as_real(value)
    if number is None:
        return False
    return (number > low if open_low else number >= low) and (number < high if open_high else number <= high)


def is_flag(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def is_scheme(value: object) -> bool:
    return isinstance(value, str) and value in SCHEMES


def as_slopes(value: object) -> list[float] | None:
    """Slopes: one real number >= 0, or a flat sequence or 1-D tensor of them (not bools, not
    complex, no grad, with data); None if the value is not that."""
    if isinstance(value, torch.Tensor):
        if value.is_meta or value.requires_grad or value.is_complex() or value.dtype == torch.bool or value.dim() > 1:
            return None
        values = value.reshape(-1).tolist()
    elif isinstance(value, (list, tuple)):
        values = list(value)
        if any(isinstance(item, (list, tuple, torch.Tensor)) for item in values):
            return None
    else:
        values = [value]
    numbers = [as_real(item) for item in values]
    if not numbers or any(number is None or number < 0 for number in numbers):
        return None
    return numbers


def is_seed(value: object) -> bool:
    return value is None or is_int(value, 0, SEED_MAX)


def kernel_broken(kernel: object, slope: object) -> str | None:
    """resolve_kernel's (kernel, slope): 'power' takes the slope as its exponent (> 0); None, 'alibi'
    and a PositionalKernel take a slope >= 0 (unused by the last, but still a number)."""
    if isinstance(kernel, str) and kernel == "power":
        return None if is_real(slope, 0.0, open_low=True) else "exponent"
    if kernel is None or (isinstance(kernel, str) and kernel == "alibi") or isinstance(kernel, PositionalKernel):
        return None if is_real(slope, 0.0) else "slope"
    return "kernel"


def named(message: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message) is not None


# --- references --------------------------------------------------------------------------------------


def reference_slopes(heads: int) -> list[float]:
    def powers(count: int) -> list[float]:
        return [2.0 ** (-8.0 * k / count) for k in range(1, count + 1)]

    closest = 1
    while closest * 2 <= heads:
        closest *= 2
    return powers(closest) + powers(2 * closest)[0::2][: heads - closest]


def dense_attention(q, k, v, slopes, causal=True, scale=None, window=None) -> torch.Tensor:
    """Softmax(scale q k^T - m |i - j|) v in float64 by the definition, queries bottom-right."""
    q, k, v = q.double(), k.double(), v.double()
    n_q, n_k = q.shape[2], k.shape[2]
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else as_real(scale)
    distance = (torch.arange(n_q) + n_k - n_q)[:, None] - torch.arange(n_k)[None, :]
    slopes = torch.tensor(slopes, dtype=torch.float64).reshape(-1)[:, None, None]
    scores = scale * q @ k.transpose(-1, -2) - slopes * distance.abs()
    visible = torch.ones(n_q, n_k, dtype=torch.bool)
    if causal:
        visible &= distance >= 0
    if window is not None:
        visible &= distance.abs() < window
    return torch.softmax(scores.masked_fill(~visible, -math.inf), dim=-1) @ v


def alibi_tail(slope: float, width: int) -> float:
    """P(W > w) of ALiBi's width law, by summing pi(W) = W (k(W-1) - 2 k(W) + k(W+1)) by parts."""
    q = math.exp(-slope)
    return q**width * (1 + width * (1 - q))


# --- one function, its arguments and its reference --------------------------------------------------


@dataclass
class Contract:
    call: Callable[..., object]
    base: dict[str, object]
    # Values that argument should accept (beside the pool), drawn half of the time.
    accepts: dict[str, Callable[[random.Random], object]]
    # The name the error must carry for these arguments, or None when they are valid.
    broken: Callable[[dict], str | None]
    check: Callable[[object, dict], None]
    drawn: tuple[str, ...] = field(default=())

    def arguments(self) -> tuple[str, ...]:
        return self.drawn or tuple(self.accepts)


def _qkv(rng: random.Random, heads=1, n=6, d=4, dtype=torch.float64):
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    return tuple(torch.randn(1, heads, n, d, generator=generator, dtype=dtype) for _ in range(3))


def _matrix(rng: random.Random, n=5) -> torch.Tensor:
    return torch.rand(n, n, generator=torch.Generator().manual_seed(rng.randrange(2**31)), dtype=torch.float64)


def _matrix_value(rng: random.Random) -> object:
    """A matrix argument: mostly valid (float, integer, bool, a batch), sometimes not."""
    n = 5
    return rng.choice(
        [
            lambda: _matrix(rng, n),
            lambda: _matrix(rng, n).float(),
            lambda: (_matrix(rng, n) * 4).to(torch.int64),
            lambda: _matrix(rng, n) > 0.5,
            lambda: torch.stack([_matrix(rng, n), _matrix(rng, n)]),
            lambda: _matrix(rng, n).tolist(),
            lambda: torch.ones(n),
            lambda: torch.ones(0, 0),
            lambda: _matrix(rng, 4),
            lambda: _matrix(rng, n) * 1j,
            lambda: torch.ones(n, n, device="meta"),
            lambda: torch.full((n, n), math.nan),
            lambda: torch.ones(3, n, n),
        ]
    )()


def matrix_broken(args: dict) -> str | None:
    shapes = []
    for name in ("estimate", "target"):
        value = args[name]
        if not isinstance(value, torch.Tensor) or value.is_meta or value.is_complex():
            return name
        if value.dim() < 2 or value.shape[-1] != value.shape[-2] or value.shape[-1] == 0:
            return name
        shapes.append(value.shape)
    if shapes[0][-1] != shapes[1][-1]:
        return "estimate"
    try:
        torch.broadcast_shapes(shapes[0][:-2], shapes[1][:-2])
    except RuntimeError:
        return "estimate"
    for name in ("estimate", "target"):
        if not bool(torch.isfinite(args[name]).all()):
            return name
    if "exact" in args and not is_flag(args["exact"]):
        return "exact"
    return None


def metric_check(reference: Callable[[np.ndarray, np.ndarray], float]):
    def check(result, args):
        estimate, target = (np.asarray(args[name].double()) for name in ("estimate", "target"))
        estimate, target = np.broadcast_arrays(estimate, target)
        flat = zip(estimate.reshape(-1, *estimate.shape[-2:]), target.reshape(-1, *target.shape[-2:]))
        expected = np.array([reference(e, t) for e, t in flat]).reshape(estimate.shape[:-2])
        assert result.dtype == torch.float64
        np.testing.assert_allclose(result.numpy(), expected, rtol=2e-6, atol=1e-12)

    return check


def relative_broken(args: dict) -> str | None:
    broken = matrix_broken(args)
    if broken is None and bool((torch.linalg.matrix_norm(args["target"].double()) == 0).any()):
        return "target"
    return broken


def bound_broken(args: dict, with_slope: bool) -> str | None:
    if not is_int(args["n"], 1, 2**53):
        return "n"
    if not is_int(args["num_samples"], 1, 2**53):
        return "num_samples"
    if not is_real(args["delta"], 0.0, 1.0, open_low=True, open_high=True):
        return "delta"
    if with_slope:
        if not is_scheme(args["scheme"]):
            return "scheme"
        if not is_real(args["slope"], 0.0):
            return "slope"
    return None


def check_max_norm_bound(result, args):
    n, r, delta = args["n"], args["num_samples"], as_real(args["delta"])
    expected = 0.0 if n == 1 else min(1.0, math.sqrt((math.log(n) + math.log(n - 1) - math.log(delta)) / (2 * r)))
    assert result == pytest.approx(expected, rel=1e-12, abs=0)


def check_block_size_bound(result, args):
    n, slope, r, delta = int(args["n"]), as_real(args["slope"]), int(args["num_samples"]), as_real(args["delta"])
    assert isinstance(result, int) and 1 <= result <= n
    per_sample = delta / (2 * r * n)
    if slope == 0:
        assert result == n
    elif args["scheme"] == "cuts":
        assert result == min(n, max(1, math.ceil(math.log(n / per_sample) / slope)))
    elif result < n and 1 - per_sample < 1:  # the smallest L with P(W > L) <= delta / (2 R n)
        assert alibi_tail(slope, result) <= per_sample * (1 + 1e-9)
        assert result == 1 or alibi_tail(slope, result - 1) > per_sample * (1 - 1e-9)


def check_spectral_norm_bound(result, args):
    n, slope, r, delta = int(args["n"]), as_real(args["slope"]), int(args["num_samples"]), as_real(args["delta"])
    if slope == 0 or n == 1:
        assert result == 0.0
        return
    length = block_size_bound(n, slope, r, delta, args["scheme"])
    q = math.exp(-slope)
    middle = (n - 1) // 2
    row = lambda i: sum(q**d for d in range(min(i, 4000) + 1))  # noqa: E731  q^4000 is below float64's ulp here
    kappa = row(middle) + row(n - 1 - middle) - 1
    scale, variance, lam = max(length, kappa) / r, length * kappa / r, math.log(4 * n / delta)
    bernstein = scale * lam / 3 + math.sqrt((scale * lam / 3) ** 2 + 2 * variance * lam)
    expected = min(bernstein, max(length, kappa)) + delta / (2 * r)
    assert result == pytest.approx(expected, rel=1e-9)


def sampling_broken(args: dict, dense: int = 0, positions: bool = True) -> str | None:
    """sample_partitions / sample_masks / mask_running_mean: ranges, then the caps."""
    if not is_int(args["n"], 1):
        return "n"
    if not is_int(args["num_samples"], 1, 2**16):
        return "num_samples"
    if kernel_broken(args["kernel"], args["slope"]):
        return kernel_broken(args["kernel"], args["slope"])
    if not is_scheme(args["scheme"]):
        return "scheme"
    if not is_seed(args["seed"]):
        return "seed"
    if not is_int(args["head"], 0, 2**32 - 1):
        return "head"
    if dense and dense > DENSE_CAP:
        return "n"
    if positions and BYTES_PER_SAMPLED_POSITION * args["n"] * args["num_samples"] > BYTES_CAP:
        return "num_samples"
    return None


def check_partitions(result, args):
    n = int(args["n"])
    assert len(result) == args["num_samples"]
    for partition in result:
        starts = partition.starts
        assert starts[0] == 0 and bool((starts[1:] > starts[:-1]).all()) and starts[-1] < n
        assert int(partition.lengths().sum()) == n
        if partition.width is not None:  # binning: block(i) = floor((i + s) / W), counted from 0
            i = torch.arange(n)
            ids = (i + partition.shift) // partition.width - partition.shift // partition.width
            assert torch.equal(partition.block_ids(), ids)


def check_masks(result, args):
    torch.manual_seed(0)  # seed=None draws from torch's generator: the state of the call checked
    partitions = sample_partitions(**args)
    assert result.dtype == torch.bool and result.shape == (args["num_samples"], args["n"], args["n"])
    for mask, partition in zip(result, partitions):
        ids = partition.block_ids()
        assert torch.equal(mask, ids[:, None] == ids[None, :])


def running_mean_broken(args: dict) -> str | None:
    checkpoints = args["checkpoints"]
    count = args["num_samples"] if checkpoints is None else None
    broken = sampling_broken(args, positions=False)
    if broken:
        return broken
    if checkpoints is not None:
        if isinstance(checkpoints, torch.Tensor):
            if checkpoints.is_meta or checkpoints.is_floating_point() or checkpoints.is_complex():
                return "checkpoints"
            if checkpoints.dtype == torch.bool or checkpoints.dim() > 1:
                return "checkpoints"
            values = checkpoints.reshape(-1).tolist()
        elif isinstance(checkpoints, (list, tuple)):
            values = list(checkpoints)
        else:
            values = [checkpoints]
        if not values or not all(is_int(value, 1, args["num_samples"]) for value in values):
            return "checkpoints"
        count = len(set(values))
    if count * args["n"] ** 2 > DENSE_CAP:
        return "n"
    if BYTES_PER_SAMPLED_POSITION * args["n"] * args["num_samples"] > BYTES_CAP:
        return "num_samples"
    return None


def check_running_mean(result, args):
    means, checkpoints = result
    torch.manual_seed(0)
    masks = sample_masks(**{key: value for key, value in args.items() if key != "checkpoints"})
    for mean, r in zip(means, checkpoints.tolist()):
        torch.testing.assert_close(mean, masks[:r].float().mean(dim=0), rtol=0, atol=1e-6)


def attention_broken(args: dict, heads: int) -> str | None:
    q = args["q"]
    if not isinstance(q, torch.Tensor) or q.is_meta or not q.is_floating_point() or q.dim() != 4:
        return "q"
    if q.shape != args["k"].shape:
        return "k"  # the message names the tensor whose shape does not fit q's
    if q.dtype != args["k"].dtype:
        return "dtype"
    slopes = as_slopes(args["slopes"])
    if slopes is None or len(slopes) != heads:
        return "slopes"
    if args["scale"] is not None and not is_real(args["scale"], 0.0, open_low=True):
        return "scale"
    if not is_flag(args["enable_gqa"]):
        return "enable_gqa"
    if "num_samples" in args and not is_int(args["num_samples"], 1, 2**16):
        return "num_samples"
    if "scheme" in args and not is_scheme(args["scheme"]):
        return "scheme"
    if "seed" in args and not is_seed(args["seed"]):
        return "seed"
    if "head_offset" in args and not is_int(args["head_offset"], 0, 2**32 - heads):
        return "head_offset"
    if "sliding_window" in args:
        window = args["sliding_window"]
        if isinstance(window, torch.Tensor) and (window.is_meta or window.dim() > 1 or window.is_floating_point()):
            return "sliding_window"
        values = window.reshape(-1).tolist() if isinstance(window, torch.Tensor) else window
        values = values if isinstance(values, (list, tuple)) else [values]
        if not values or not all(is_int(value, 1, 2**63 - 1) for value in values) or len(values) not in (1, heads):
            return "sliding_window"
    return None


def check_exact(result, args):
    expected = dense_attention(args["q"], args["k"], args["v"], as_slopes(args["slopes"]), scale=args["scale"])
    torch.testing.assert_close(result.double(), expected, **tolerance(result))


def check_window(result, args):
    window = args["sliding_window"]
    window = int(window.reshape(-1)[0]) if isinstance(window, torch.Tensor) else window
    window = int(window[0]) if isinstance(window, (list, tuple)) else int(window)
    expected = dense_attention(args["q"], args["k"], args["v"], as_slopes(args["slopes"]), True, args["scale"], window)
    torch.testing.assert_close(result.double(), expected, **tolerance(result))


def check_lsh_against(other: Callable[..., torch.Tensor]):
    """lsh_alibi_attention and its dense reference draw the same blocks: they agree to rounding."""

    def check(result, args):
        torch.manual_seed(0)  # seed=None draws from torch's generator: the same state for both
        expected = other(**args)
        torch.testing.assert_close(result.double(), expected.double(), **tolerance(result))

    return check


def tolerance(result: torch.Tensor) -> dict[str, float]:
    return {"rtol": 1e-9, "atol": 1e-12} if result.dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}


def _attention_values(rng: random.Random) -> dict[str, Callable[[random.Random], object]]:
    return {
        "q": lambda r: rng.choice(
            [
                lambda: _qkv(r)[0],
                lambda: _qkv(r)[0].tolist(),
                lambda: _qkv(r)[0][0],
                lambda: _qkv(r)[0].to(torch.complex128),
                lambda: _qkv(r)[0].to(torch.int64),
                lambda: torch.ones(1, 1, 6, 4, device="meta"),
                lambda: _qkv(r, d=3)[0],
            ]
        )(),
        "slopes": lambda r: r.choice([[r.random()], torch.tensor([r.random()]), r.random(), np.float64(0.5), 0]),
        "scale": lambda r: r.choice([None, r.random() + 0.01, 2, np.float32(0.5), torch.tensor(0.25)]),
        "enable_gqa": lambda r: r.choice([True, False, np.bool_(False)]),
    }


def is_window(value) -> bool:
    """One integer >= 1, a non-empty list of them, or a 1-D integer tensor of them with data."""
    if isinstance(value, (list, tuple)):
        return bool(value) and all(is_int(w, 1, 2**63 - 1) for w in value)
    if isinstance(value, torch.Tensor):
        return (
            value.dim() <= 1 and not value.is_floating_point() and not value.is_meta and value.dtype != torch.bool
            and value.numel() > 0 and bool((value >= 1).all())
        )  # fmt: skip
    return is_int(value, 1, 2**63 - 1)


def contracts() -> dict[str, Contract]:
    rng = random.Random(0)
    q, k, v = _qkv(rng)
    attention_base = {"q": q, "k": k, "v": v, "slopes": [0.5], "scale": None, "enable_gqa": False}
    attention_values = _attention_values(rng)
    lsh_values = {
        **attention_values,
        "num_samples": lambda r: r.randint(1, 5),
        "scheme": lambda r: r.choice(SCHEMES),
        "seed": lambda r: r.choice([None, r.randrange(SEED_MAX), SEED_MAX]),
        "head_offset": lambda r: r.choice([0, r.randrange(2**32 - 1)]),
    }
    lsh_base = {**attention_base, "num_samples": 3, "scheme": "binning", "seed": 1, "head_offset": 0}
    sampling_base = {"n": 9, "slope": 0.3, "num_samples": 4, "scheme": "binning", "seed": 2, "kernel": None, "head": 0}
    sampling_values = {
        "n": lambda r: r.randint(1, 40),
        "slope": lambda r: r.choice([0.0, r.random() * 2, np.float64(0.125), 1]),
        "num_samples": lambda r: r.randint(1, 12),
        "scheme": lambda r: r.choice(SCHEMES),
        "seed": lambda r: r.choice([None, r.randrange(SEED_MAX)]),
        "kernel": lambda r: r.choice([None, "alibi", "power", PositionalKernel.alibi(0.2)]),
        "head": lambda r: r.choice([0, r.randrange(2**32)]),
    }

    def sampling_or_cuts(args: dict, **caps) -> str | None:
        broken = sampling_broken(args, **caps)
        kernel = args["kernel"]
        power = (isinstance(kernel, str) and kernel == "power") or (
            isinstance(kernel, PositionalKernel) and kernel.decay_rate is None
        )
        if broken is None and args["scheme"] == "cuts" and power:
            return "cuts"  # 'cuts' reproduces only the ALiBi kernel: the message names the scheme's value
        return broken

    bound_base = {"n": 50, "num_samples": 8, "delta": 0.05}
    bound_values = {
        "n": lambda r: r.choice([1, 2, r.randint(3, 400), 2**40, 2**53]),
        "num_samples": lambda r: r.choice([1, r.randint(2, 5000)]),
        "delta": lambda r: r.choice([0.05, r.random() * 0.99 + 0.001, np.float64(0.5)]),
    }
    slope_bound_values = {
        **bound_values,
        "n": lambda r: r.choice([1, 2, r.randint(3, 400)]),
        "slope": lambda r: r.choice([0.0, r.random() * 2, 1]),
        "scheme": lambda r: r.choice(SCHEMES),
    }
    slope_bound_base = {**bound_base, "slope": 0.2, "scheme": "binning"}
    matrix_values = {"estimate": _matrix_value, "target": _matrix_value}
    matrix_base = {"estimate": _matrix(rng), "target": _matrix(rng)}

    def kernel_check(formula):
        def check(result, args):
            d = torch.arange(30, dtype=torch.float64)
            torch.testing.assert_close(result(d), formula(d, args), rtol=1e-12, atol=0)

        return check

    def bias_check(result, args):
        slopes, n = as_slopes(args["slopes"]), args["n"]
        i = torch.arange(n, dtype=torch.float64)
        expected = -torch.tensor(slopes, dtype=torch.float64)[:, None, None] * (i[:, None] - i[None, :]).abs()
        if args["causal"]:
            expected = expected.masked_fill(i[None, :] > i[:, None], -math.inf)
        assert result.dtype == args["dtype"]
        torch.testing.assert_close(result, expected.to(args["dtype"]), rtol=0, atol=0)

    def kernel_matrix_check(result, args):
        slopes, n = as_slopes(args["slopes"]), args["n"]
        i = torch.arange(n, dtype=torch.float64)
        expected = torch.exp(
            -torch.tensor(slopes, dtype=torch.float64)[:, None, None] * (i[:, None] - i[None, :]).abs()
        )
        torch.testing.assert_close(result, expected.to(args["dtype"]), rtol=0, atol=0)

    def dense_broken(args: dict, with_causal: bool) -> str | None:
        if not is_int(args["n"], 1):
            return "n"
        slopes = as_slopes(args["slopes"])
        if slopes is None:
            return "slopes"
        if with_causal and not is_flag(args["causal"]):
            return "causal"
        if not (isinstance(args["dtype"], torch.dtype) and args["dtype"].is_floating_point):
            return "dtype"
        if len(slopes) * args["n"] ** 2 > DENSE_CAP:
            return "n"
        return None

    dense_values = {
        "n": lambda r: r.randint(1, 12),
        "slopes": lambda r: r.choice([[r.random()], [0.5, 0.25], torch.tensor([1.0, 0.0]), 0.5, np.float64(1.0)]),
        "causal": lambda r: r.choice([True, False]),
        "dtype": lambda r: r.choice([torch.float32, torch.float64, torch.bfloat16, torch.int64, torch.bool]),
    }
    sampler_kernel = {"kernel": lambda r: r.choice([PositionalKernel.alibi(0.3), PositionalKernel.power_law(1.0)])}

    def sampler_check(cls):
        def check(result, args):
            assert isinstance(result, cls) and result.kernel is args["kernel"]

        return check

    def cuts_broken(args: dict) -> str | None:
        kernel = args["kernel"]
        return None if isinstance(kernel, PositionalKernel) and kernel.decay_rate is not None else "kernel"

    def from_cuts_broken(args: dict) -> str | None:
        if not is_int(args["n"], 1, 2**63 - 1):
            return "n"
        cuts = args["cuts"]
        if isinstance(cuts, torch.Tensor):
            if cuts.is_meta or cuts.is_floating_point() or cuts.is_complex() or cuts.dtype == torch.bool:
                return "cuts"
            if cuts.dim() > 1:
                return "cuts"
            cuts = cuts.reshape(-1).tolist()
        elif not isinstance(cuts, (list, tuple)):
            cuts = [cuts]
        if not all(is_int(cut, 1, args["n"] - 1) for cut in cuts):
            return "cuts"
        return None if all(a < b for a, b in zip(cuts, cuts[1:])) else "cuts"

    def from_cuts_check(result, args):
        cuts = args["cuts"]
        cuts = cuts.reshape(-1).tolist() if isinstance(cuts, torch.Tensor) else list(np.atleast_1d(cuts))
        edges = [0, *map(int, cuts), args["n"]]
        assert result.lengths().tolist() == [b - a for a, b in zip(edges, edges[1:])]

    return {
        "alibi_slopes": Contract(
            alibi_slopes, {"num_heads": 8}, {"num_heads": lambda r: r.randint(1, 300)},
            lambda a: None if is_int(a["num_heads"], 1, 2**16) else "num_heads",
            lambda result, a: torch.testing.assert_close(
                result, torch.tensor(reference_slopes(int(a["num_heads"])), dtype=torch.float32), rtol=0, atol=0
            ),
        ),
        "alibi_bias": Contract(
            alibi_bias, {"n": 5, "slopes": [0.5], "causal": False, "dtype": torch.float32}, dense_values,
            lambda a: dense_broken(a, True), bias_check,
        ),
        "alibi_kernel": Contract(
            alibi_kernel, {"n": 5, "slopes": [0.5], "dtype": torch.float64},
            {key: dense_values[key] for key in ("n", "slopes", "dtype")}, lambda a: dense_broken(a, False),
            kernel_matrix_check,
        ),
        "max_norm_bound": Contract(
            max_norm_bound, bound_base, bound_values, lambda a: bound_broken(a, False), check_max_norm_bound
        ),
        "block_size_bound": Contract(
            block_size_bound, slope_bound_base, slope_bound_values, lambda a: bound_broken(a, True),
            check_block_size_bound,
        ),
        "spectral_norm_bound": Contract(
            spectral_norm_bound, slope_bound_base, slope_bound_values, lambda a: bound_broken(a, True),
            check_spectral_norm_bound,
        ),
        "max_norm_error": Contract(
            max_norm_error, matrix_base, matrix_values, matrix_broken,
            metric_check(lambda e, t: np.abs(e - t).max()),
        ),
        "relative_frobenius_error": Contract(
            relative_frobenius_error, matrix_base, matrix_values, relative_broken,
            metric_check(lambda e, t: np.linalg.norm(e - t) / np.linalg.norm(t)),
        ),
        "spectral_norm_error": Contract(
            spectral_norm_error, {**matrix_base, "exact": False},
            {**matrix_values, "exact": lambda r: r.choice([True, False])}, matrix_broken,
            metric_check(lambda e, t: np.linalg.norm(e - t, 2)),
        ),
        "sample_partitions": Contract(
            sample_partitions, sampling_base, sampling_values, sampling_or_cuts, check_partitions
        ),
        "sample_masks": Contract(
            sample_masks, sampling_base, sampling_values,
            lambda a: sampling_or_cuts(a, dense=a["n"] ** 2 * a["num_samples"] if is_int(a["n"]) and is_int(
                a["num_samples"]) else 0),
            check_masks,
        ),
        "mask_running_mean": Contract(
            mask_running_mean, {**sampling_base, "checkpoints": [1, 4]},
            {**sampling_values, "checkpoints": lambda r: r.choice([None, [1, 2], torch.tensor([3, 1]), (4,), [2.0]])},
            lambda a: running_mean_broken(a) or sampling_or_cuts({**a}, positions=False), check_running_mean,
        ),
        "make_sampler": Contract(
            make_sampler, {"scheme": "binning", "kernel": PositionalKernel.alibi(0.3)},
            {"scheme": lambda r: r.choice(SCHEMES), **sampler_kernel},
            lambda a: "scheme" if not is_scheme(a["scheme"]) else (
                cuts_broken(a) and "cuts" if a["scheme"] == "cuts" else (
                    None if isinstance(a["kernel"], PositionalKernel) else "kernel")),
            lambda result, a: result.scheme == a["scheme"],
        ),
        "BinningSampler": Contract(
            BinningSampler, {"kernel": PositionalKernel.alibi(0.3)}, sampler_kernel,
            lambda a: None if isinstance(a["kernel"], PositionalKernel) else "kernel", sampler_check(BinningSampler),
        ),
        "QMCSampler": Contract(
            QMCSampler, {"kernel": PositionalKernel.alibi(0.3)}, sampler_kernel,
            lambda a: None if isinstance(a["kernel"], PositionalKernel) else "kernel", sampler_check(QMCSampler),
        ),
        "CutsSampler": Contract(
            CutsSampler, {"kernel": PositionalKernel.alibi(0.3)}, sampler_kernel,
            lambda a: "kernel" if not isinstance(a["kernel"], PositionalKernel) else (cuts_broken(a) and "cuts"),
            sampler_check(CutsSampler),
        ),
        "resolve_kernel": Contract(
            resolve_kernel, {"kernel": None, "slope": 0.5},
            {"kernel": lambda r: r.choice([None, "alibi", "power"]), "slope": lambda r: r.choice([r.random(), 1, 0.0])},
            lambda a: kernel_broken(a["kernel"], a["slope"]),
            kernel_check(lambda d, a: (1 + d) ** -as_real(a["slope"]) if a["kernel"] == "power" else torch.exp(
                -as_real(a["slope"]) * d)),
        ),
        "PositionalKernel.alibi": Contract(
            PositionalKernel.alibi, {"slope": 0.5}, {"slope": lambda r: r.choice([r.random(), 2, 0.0])},
            lambda a: None if is_real(a["slope"], 0.0) else "slope",
            kernel_check(lambda d, a: torch.exp(-as_real(a["slope"]) * d)),
        ),
        "PositionalKernel.power_law": Contract(
            PositionalKernel.power_law, {"exponent": 1.5}, {"exponent": lambda r: r.choice([r.random() + 0.01, 2])},
            lambda a: None if is_real(a["exponent"], 0.0, open_low=True) else "exponent",
            kernel_check(lambda d, a: (1 + d) ** -as_real(a["exponent"])),
        ),
        "Partition.from_cuts": Contract(
            Partition.from_cuts, {"n": 6, "cuts": [2, 3]},
            {"n": lambda r: r.randint(4, 12), "cuts": lambda r: r.choice([[1], [1, 3], torch.tensor([2]), [], (3,)])},
            from_cuts_broken, from_cuts_check,
        ),
        "alibi_attention": Contract(
            alibi_attention, attention_base, attention_values, lambda a: attention_broken(a, 1), check_exact
        ),
        "window_alibi_attention": Contract(
            window_alibi_attention, {**attention_base, "sliding_window": 3},
            {**attention_values, "sliding_window": lambda r: r.choice([1, r.randint(2, 9), [2], torch.tensor(4)])},
            lambda a: attention_broken(a, 1), check_window,
            drawn=("q", "slopes", "scale", "enable_gqa", "sliding_window"),
        ),
        "lsh_alibi_attention": Contract(
            lsh_alibi_attention, lsh_base, lsh_values, lambda a: attention_broken(a, 1),
            check_lsh_against(lsh_alibi_attention_reference),
        ),
        "lsh_alibi_attention_reference": Contract(
            lsh_alibi_attention_reference, lsh_base, lsh_values, lambda a: attention_broken(a, 1),
            check_lsh_against(lsh_alibi_attention),
        ),
        "AttentionOptions": Contract(
            AttentionOptions, {"fused": True, "lsh_path": "union", "union_bias_elements": 2**22},
            {"fused": lambda r: r.choice([True, False]), "lsh_path": lambda r: r.choice(["union", "per-sample"]),
             "union_bias_elements": lambda r: r.choice([1, r.randint(2, 2**30)])},
            lambda a: next((name for name, ok in (
                ("fused", isinstance(a["fused"], bool)),
                ("lsh_path", isinstance(a["lsh_path"], str) and a["lsh_path"] in ("union", "per-sample")),
                ("union_bias_elements", type(a["union_bias_elements"]) is int and a["union_bias_elements"] >= 1),
            ) if not ok), None),
            lambda result, a: (result.fused, result.lsh_path) == (a["fused"], a["lsh_path"]),
        ),
        "AttentionSpec": Contract(
            AttentionSpec, {"kind": "lsh", "scheme": "binning", "num_samples": 8, "seed": 0, "sliding_window": 4},
            {"kind": lambda r: r.choice(["exact", "lsh", "window"]), "scheme": lambda r: r.choice(SCHEMES),
             "num_samples": lambda r: r.randint(1, 9), "seed": lambda r: r.choice([None, 5]),
             "sliding_window": lambda r: r.choice([1, 7, [2, 3]])},
            lambda a: next((name for name, ok in (
                ("kind", isinstance(a["kind"], str) and a["kind"] in ("exact", "lsh", "window")),
                ("scheme", is_scheme(a["scheme"])), ("num_samples", is_int(a["num_samples"], 1, 2**16)),
                ("seed", is_seed(a["seed"])),
                ("sliding_window", is_window(a["sliding_window"])),
            ) if not ok), None),
            lambda result, a: result.kind == a["kind"],
            drawn=("kind", "scheme", "num_samples", "seed", "sliding_window"),
        ),
    }  # fmt: skip


CONTRACTS = contracts()


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_random_arguments_meet_the_contract(name):
    contract = CONTRACTS[name]
    rng = random.Random(f"contract {name}")
    outcomes = {"valid": 0, "invalid": 0}
    for index in range(DRAWS):
        argument = rng.choice(contract.arguments())
        value = contract.accepts[argument](rng) if rng.random() < 0.5 else any_value(rng)
        args = {**contract.base, argument: value}
        expected = contract.broken(args)
        where = f"draw {index}: {argument}={value!r:.80}"
        torch.manual_seed(0)
        if expected is None:
            try:
                result = contract.call(**args)
            except ValueError as error:
                pytest.fail(f"{where} is valid by the contract but raised: {error}")
            contract.check(result, args)
            outcomes["valid"] += 1
        else:
            with pytest.raises(ValueError) as info:
                contract.call(**args)
            assert named(str(info.value), expected), f"{where}: the message does not name {expected!r}: {info.value}"
            outcomes["invalid"] += 1
    assert outcomes["valid"] >= 3 and outcomes["invalid"] >= 3, outcomes  # both sides of the contract were drawn


# --- flags and windows at the attention functions' own call sites -----------------------------------
# "False" and None were read by truthiness (causal attention and bidirectional attention); a meta
# window has no values to read.

def _q():
    return _qkv(random.Random(1))


@pytest.mark.parametrize(
    "call",
    [
        lambda: alibi_attention(*_q(), [0.5], causal="False"),
        lambda: alibi_attention(*_q(), [0.5], causal=None),
        lambda: window_alibi_attention(*_q(), [0.5], 3, causal="False"),
        lambda: lsh_alibi_attention(*_q(), [0.5], 2, causal="False", seed=0),
        lambda: lsh_alibi_attention_reference(*_q(), [0.5], 2, causal="False", seed=0),
        lambda: window_alibi_attention(*_q(), [0.5], torch.ones((), device="meta")),
        lambda: AttentionSpec("window", sliding_window=torch.ones(1, dtype=torch.int64, device="meta")),
        lambda: attend(*_q(), [0.5], causal="False"),
    ],
    ids=["exact causal str", "exact causal None", "window causal", "lsh causal", "reference causal", "window meta",
         "spec window meta", "attend causal"],
)  # fmt: skip
def test_attention_call_sites_refuse_look_alike_flags_and_meta_windows(call):
    with pytest.raises(ValueError, match="causal|window"):
        call()


def test_attend_refuses_a_spec_that_is_not_an_attention_spec():
    with pytest.raises(ValueError, match="spec"):
        attend(*_q(), [0.5], spec=None)


# --- one test per bullet of the look-alike contract that the shared checks carry -------------------

ATTENTION = {
    "alibi_attention": lambda q, **kw: alibi_attention(q, q, q, [0.5], **kw),
    "window_alibi_attention": lambda q, **kw: window_alibi_attention(q, q, q, [0.5], 3, **kw),
    "lsh_alibi_attention": lambda q, **kw: lsh_alibi_attention(q, q, q, [0.5], 2, seed=0, **kw),
    "lsh_alibi_attention_reference": lambda q, **kw: lsh_alibi_attention_reference(q, q, q, [0.5], 2, seed=0, **kw),
    "attend": lambda q, **kw: attend(q, q, q, [0.5], **kw),
}
LOOK_ALIKES = {
    # Before: "no" turned grouped-query attention on, "0.5" and True were used as numbers, the
    # gradient of a scale that requires grad was dropped, 1j raised TypeError, "abc" named nothing.
    "enable_gqa='no'": ({"enable_gqa": "no"}, "enable_gqa must be True or False, got 'no'"),
    "enable_gqa=1": ({"enable_gqa": 1}, "enable_gqa must be True or False, got 1"),
    "scale='0.5'": ({"scale": "0.5"}, "scale must be a finite number > 0, got '0.5'"),
    "scale='abc'": ({"scale": "abc"}, "scale must be a finite number > 0, got 'abc'"),
    "scale=True": ({"scale": True}, "scale must be a finite number > 0, got True"),
    "scale=1j": ({"scale": 1j}, "scale must be a finite number > 0, got 1j"),
    "scale requires grad": (
        {"scale": torch.tensor(0.5, requires_grad=True)},
        "scale must be a finite number > 0, got a tensor that requires grad",
    ),
}


@pytest.mark.parametrize("bad", list(LOOK_ALIKES))
@pytest.mark.parametrize("entry", list(ATTENTION))
def test_attention_refuses_look_alike_flags_and_numbers(entry, bad):
    q = _q()[0]
    options, message = LOOK_ALIKES[bad]
    with pytest.raises(ValueError, match=re.escape(message)):
        ATTENTION[entry](q, **options)


@pytest.mark.parametrize("entry", list(ATTENTION))
def test_attention_refuses_complex_slopes_and_meta_tensors(entry):
    q = _q()[0]
    call = ATTENTION[entry]
    with pytest.raises(ValueError, match="slopes must be numbers, one slope per head"):  # imaginary part was dropped
        _with_slopes(entry, q, [0.5 + 0.5j])
    with pytest.raises(ValueError, match="q must be a torch.Tensor .* with data, got a meta-device tensor"):
        call(torch.ones(1, 1, 6, 4, device="meta"))


def _with_slopes(entry: str, q: torch.Tensor, slopes) -> torch.Tensor:
    calls = {
        "alibi_attention": lambda: alibi_attention(q, q, q, slopes),
        "window_alibi_attention": lambda: window_alibi_attention(q, q, q, slopes, 3),
        "lsh_alibi_attention": lambda: lsh_alibi_attention(q, q, q, slopes, 2, seed=0),
        "lsh_alibi_attention_reference": lambda: lsh_alibi_attention_reference(q, q, q, slopes, 2, seed=0),
        "attend": lambda: attend(q, q, q, slopes),
    }
    return calls[entry]()


def test_nested_windows_are_refused_not_flattened():
    q = _q()[0]
    with pytest.raises(ValueError, match="sliding_window must be one integer >= 1 or one per head"):
        window_alibi_attention(q, q, q, [0.5], [[4]])
    with pytest.raises(ValueError, match="must be one integer >= 1 or one per head"):
        AttentionSpec("window", sliding_window=[[4, 4]])


def test_numbers_that_are_valid_keep_their_meaning():
    q, k, v = _q()
    expected = dense_attention(q, k, v, [0.5], scale=0.25)
    for scale in (0.25, np.float64(0.25), np.float32(0.25), torch.tensor(0.25, dtype=torch.float64)):
        torch.testing.assert_close(alibi_attention(q, k, v, [0.5], scale=scale), expected, rtol=1e-12, atol=1e-12)
    for flag in (True, np.bool_(True)):
        torch.testing.assert_close(alibi_attention(q, k, v, [0.5], enable_gqa=flag), dense_attention(q, k, v, [0.5]))


def test_philox_refuses_words_that_would_wrap_into_another_stream():
    from alibi_lsh.philox import philox4x32

    for counter, key, rounds, message in [
        (np.array([2**32, 0, 0, 0]), (0, 0), 10, r"counter words must lie in 0..2\^32 - 1"),
        (np.array([-1, 0, 0, 0]), (0, 0), 10, r"counter words must lie in 0..2\^32 - 1"),
        (np.array([0.5, 0, 0, 0]), (0, 0), 10, "counter must hold integer words"),
        (np.array([0, 0, 0, 0]), (2**32, 0), 10, "key word must be an integer"),
        (np.array([0, 0, 0, 0]), [0, 0], 10, "key must be two 32-bit words"),
        (np.array([0, 0, 0, 0]), (0, 0), 0, "rounds must be an integer >= 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            philox4x32(counter, key, rounds)
