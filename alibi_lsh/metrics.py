"""How far the mean of R masks is from the kernel: measured errors and theoretical bounds.

Measured (on batches ``(..., n, n)`` of estimates against the kernel): max-norm max|E|,
spectral norm ||E||_2 (max |eigenvalue| when E is symmetric, the largest singular value
otherwise) and ||E||_F / ||K||_F.

Bounds (derived in docs/theory.md), each holding with probability >= 1 - delta for R independent
samples (qmc points are not independent: there the bounds are a reference line, not a guarantee).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ._checks import (
    check_allocation,
    check_choice,
    check_flag,
    check_int,
    check_number,
    check_tensor,
)
from .kernels import PositionalKernel, resolve_kernel
from .samplers import SCHEMES

# Lanczos stops when the residual bound of its largest Ritz value is below this, relative: some
# eigenvalue of E then lies within LANCZOS_TOLERANCE |result| of the result.
LANCZOS_TOLERANCE = 1e-6
# Most Lanczos steps for one spectral norm; a matrix that has not converged by then (clustered
# extreme eigenvalues) gets a full decomposition instead. Below this size a full one is cheaper.
MAX_LANCZOS_STEPS = 160


def _as_matrices(name: str, value: torch.Tensor) -> torch.Tensor:
    """A real tensor (..., n, n) with n >= 1 and data."""
    check_tensor(name, value, "a real torch.Tensor of shape (..., n, n)")
    if value.is_complex():
        raise ValueError(f"{name} must be real (float, integer or bool), got {value.dtype}")
    if value.dim() < 2 or value.shape[-1] != value.shape[-2] or value.shape[-1] == 0:
        raise ValueError(f"{name} must be square (..., n, n) with n >= 1, got shape {tuple(value.shape)}")
    return value


def _difference(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """estimate - target in float64, (batch..., n, n) with the two batch shapes broadcast."""
    estimate, target = _as_matrices("estimate", estimate), _as_matrices("target", target)
    if estimate.shape[-1] != target.shape[-1]:
        raise ValueError(
            "estimate and target must be square (..., n, n) of one n, "
            f"got {tuple(estimate.shape)} and {tuple(target.shape)}"
        )
    try:  # numpy's check: torch.broadcast_shapes imports torch._refs on first use (0.7 s)
        np.broadcast_shapes(tuple(estimate.shape[:-2]), tuple(target.shape[:-2]))
    except ValueError:
        raise ValueError(
            f"the batch shapes of estimate {tuple(estimate.shape[:-2])} and target {tuple(target.shape[:-2])} "
            "must broadcast against each other"
        ) from None
    if estimate.device != target.device:
        raise ValueError(f"estimate and target must be on one device, got {estimate.device} and {target.device}")
    for name, matrix in (("estimate", estimate), ("target", target)):
        # a NaN error would read as a number on a chart, and eigenvalue solvers fail on it
        if not bool(torch.isfinite(matrix).all()):
            raise ValueError(f"{name} must be finite; it contains NaN or infinite values")
    return estimate.to(torch.float64) - target.to(torch.float64)


def max_norm_error(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """max_ij |estimate - target| over the last two dims.

    Args:
        estimate, target: real tensors (..., n, n), n >= 1, batch shapes that broadcast.
    Returns:
        float64 (broadcast batch shape).
    Raises:
        ValueError: a non-tensor, complex, meta-device, non-square or 0 x 0 input, n or batch
            shapes that do not match, NaN or infinite entries.
    """
    return _difference(estimate, target).abs().amax(dim=(-2, -1))


def _relative(error: torch.Tensor, target_norm: torch.Tensor) -> torch.Tensor:
    if bool((target_norm == 0).any()):
        raise ValueError("target has Frobenius norm 0, so the relative error is undefined; use max_norm_error")
    return error / target_norm


def relative_frobenius_error(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||estimate - target||_F / ||target||_F over the last two dims; float64 (batch shape).

    Raises ValueError as :func:`max_norm_error` does, and for a target of norm 0 (the ratio is
    undefined there).
    """
    error = torch.linalg.matrix_norm(_difference(estimate, target))
    return _relative(error, torch.linalg.matrix_norm(target.to(torch.float64)))


def entrywise_errors(
    estimate: torch.Tensor, target: torch.Tensor, target_norm: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(:func:`max_norm_error`, :func:`relative_frobenius_error`) from one float64 difference,
    for callers that show both; float64 (...) each. ``target_norm``: ||target||_F over the last
    two dims, if the caller keeps it (e.g. of a cached kernel). Raises ValueError as they do.
    """
    difference = _difference(estimate, target)
    if target_norm is None:
        target_norm = torch.linalg.matrix_norm(target.to(torch.float64))
    return difference.abs().amax(dim=(-2, -1)), _relative(torch.linalg.matrix_norm(difference), target_norm)


def spectral_norm_error(estimate: torch.Tensor, target: torch.Tensor, exact: bool = False) -> torch.Tensor:
    """||estimate - target||_2 over the last two dims; float64 (batch shape).

    A symmetric difference (the mean of masks against a kernel) has ||E||_2 = max |eigenvalue|;
    any other (a causal estimate, say) gets its largest singular value. Symmetry is checked on
    each matrix, so the result is the spectral norm either way.

    By default Lanczos (float64, full reorthogonalisation, on E or on [[0, E], [E^T, 0]]) runs until
    its residual bound puts an eigenvalue within 1e-6 relative of the result, which never exceeds
    the true norm; a matrix that does not converge in 160 steps, and any n <= 160, gets a full
    decomposition. ``exact=True`` always uses the full decomposition (O(n^3)).

    Raises:
        ValueError: as :func:`max_norm_error`, and for a non-bool ``exact``.
    """
    exact = check_flag("exact", exact)
    difference = _difference(estimate, target)
    n = difference.shape[-1]
    batch_shape = difference.shape[:-2]
    # On the CPU, where the Lanczos vectors are: a GPU difference is copied there once.
    matrices = difference.reshape(-1, n, n).cpu()
    all_symmetric = torch.equal(matrices, matrices.mT)  # one pass for the usual case
    norms = [_spectral_norm(matrix, exact, all_symmetric or torch.equal(matrix, matrix.T)) for matrix in matrices]
    return torch.tensor(norms, dtype=torch.float64).reshape(batch_shape)


def _spectral_norm(matrix: torch.Tensor, exact: bool, symmetric: bool) -> float:
    n = matrix.shape[-1]
    if not exact and n > MAX_LANCZOS_STEPS:
        if symmetric:
            estimate = _lanczos_extreme(lambda x: matrix @ x, n)
        else:  # the eigenvalues of [[0, E], [E^T, 0]] are the +- singular values of E
            estimate = _lanczos_extreme(lambda x: torch.cat([matrix @ x[n:], matrix.T @ x[:n]]), 2 * n)
        if estimate is not None:
            return estimate
    if symmetric:
        return float(torch.linalg.eigvalsh(matrix).abs().max())
    return float(torch.linalg.matrix_norm(matrix, ord=2))


def _lanczos_extreme(apply: Callable[[torch.Tensor], torch.Tensor], size: int) -> float | None:
    """Largest |eigenvalue| of a symmetric operator on float64 vectors of ``size`` by Lanczos.

    Stops when the residual bound of the largest |Ritz value| theta, beta_j |s_j| (the next
    Lanczos norm times the last entry of theta's eigenvector of the tridiagonal matrix), is at most
    LANCZOS_TOLERANCE |theta|: an eigenvalue then lies within that distance of theta. Returns
    None if that has not happened after MAX_LANCZOS_STEPS steps.
    """
    generator = torch.Generator().manual_seed(0)  # a fixed start vector: the result is reproducible
    vector = torch.randn(size, generator=generator, dtype=torch.float64)
    vector /= vector.norm()
    basis = torch.empty(MAX_LANCZOS_STEPS, size, dtype=torch.float64)
    alphas: list[float] = []
    betas: list[float] = []
    for step in range(MAX_LANCZOS_STEPS):
        basis[step] = vector
        w = apply(vector)
        alphas.append(float(w @ vector))
        # Full reorthogonalisation (two passes) keeps ghost copies of converged eigenvalues away.
        for _ in range(2):
            w -= basis[: step + 1].T @ (basis[: step + 1] @ w)
        beta = float(w.norm())
        if step % 4 != 3 and beta > 0.0:  # the small eigenproblem every 4th step: it costs more than a step
            betas.append(beta)
            vector = w / beta
            continue
        tridiagonal = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if step > 0:
            off = torch.tensor(betas, dtype=torch.float64)
            tridiagonal += torch.diag(off, 1) + torch.diag(off, -1)
        values, vectors = torch.linalg.eigh(tridiagonal)
        largest = int(values.abs().argmax())
        theta = abs(float(values[largest]))
        if beta * abs(float(vectors[-1, largest])) <= LANCZOS_TOLERANCE * theta or beta == 0.0:
            return theta
        betas.append(beta)
        vector = w / beta
    return None


def max_norm_bound(n: int, num_samples: int, delta: float = 0.05) -> float:
    """Hoeffding + union bound over the n(n-1)/2 off-diagonal pairs (the diagonal is always exact):

    max|M_hat - K| <= sqrt(log(n (n-1) / delta) / (2 R)), capped at 1, w.p. >= 1 - delta.

    Raises ValueError unless n and num_samples are integers in [1, 2^53] and delta a number in (0, 1).
    """
    n, num_samples, delta = _check_bound_args(n, num_samples, delta)
    if n == 1:
        return 0.0
    return min(1.0, math.sqrt((math.log(n) + math.log(n - 1) - math.log(delta)) / (2 * num_samples)))


def block_size_bound(
    n: int, slope: float, num_samples: int, delta: float = 0.05, scheme: str = "binning", kernel=None
) -> int:
    """A length L such that no block of any of the R samples exceeds L, except w.p. <= delta/(2n).

    Binning/qmc: blocks are at most W long and P(W > L) is the kernel's width tail; we take the
    smallest L with P(W > L) <= delta / (2 R n). Cuts: a block longer than L needs L cut-free
    gaps after its start, so P(some block > L) <= n q^L <= delta / (2 R n). Capped at n.

    Raises ValueError for arguments outside :func:`max_norm_bound`'s ranges, a scheme not in
    SCHEMES, a negative or non-finite slope, and scheme 'cuts' with a kernel other than ALiBi.
    """
    n, num_samples, delta = _check_bound_args(n, num_samples, delta)
    scheme = check_choice("scheme", scheme, SCHEMES)
    positional = resolve_kernel(kernel, slope)
    per_sample = delta / (2 * num_samples * n)
    if positional.is_constant:
        return n
    if scheme == "cuts":
        if positional.decay_rate is None:
            raise ValueError("scheme 'cuts' is defined for the ALiBi kernel only")
        length = math.ceil(math.log(n / per_sample) / positional.decay_rate)
    else:
        length = int(positional.tail_quantile(torch.tensor([per_sample], dtype=torch.float64))[0])
    return int(min(n, max(1, length)))


def kernel_operator_norm(n: int, kernel: PositionalKernel) -> float:
    """Largest row sum of the n x n kernel matrix, an upper bound on ||K|| (and <= (1+q)/(1-q)).

    Row i sums to P(i) + P(n-1-i) - 1 with P(i) = k(0) + ... + k(i); P is concave (k decreases),
    so the middle row is the largest. ALiBi has P(i) = (1 - q^(i+1)) / (1 - q) in closed form;
    other kernels sum k over half the row, refused above the allocation cap.
    """
    first = (n - 1) // 2
    second = n - 1 - first
    if kernel.decay_rate is not None:
        if kernel.decay_rate == 0:
            return float(n)
        m = kernel.decay_rate
        prefix = lambda i: math.expm1(-m * (i + 1)) / math.expm1(-m)  # noqa: E731
        return prefix(first) + prefix(second) - 1.0
    check_allocation("n", 16 * (second + 1), f"the kernel's values up to distance n / 2 = {second}")
    prefix = kernel.distance_values(second + 1).cumsum(0)
    return float(prefix[first] + prefix[second] - 1.0)


def spectral_norm_bound(
    n: int, slope: float, num_samples: int, delta: float = 0.05, scheme: str = "binning", kernel=None
) -> float:
    """Matrix-Bernstein bound on ||M_hat - K||_2, holding w.p. >= 1 - delta (docs/theory.md).

    With L = :func:`block_size_bound` (all blocks <= L except w.p. delta/2) and kappa >= ||K||:
    each centred sample is bounded by B = max(L, kappa)/R, the variance proxy by
    sigma^2 = L kappa / R, so with lam = log(4n/delta)

        ||M_hat - K|| <= min(B lam / 3 + sqrt((B lam / 3)^2 + 2 sigma^2 lam), max(L, kappa)) + p_L n,

    where the minimum's second term is the trivial bound for a difference of PSD matrices and the
    last term (p_L = P(a block > L) <= delta/(2Rn)) covers the bias of conditioning on
    the block-size event. Raises ValueError as :func:`block_size_bound` does, and for a kernel
    other than ALiBi whose n values would not fit the allocation cap.
    """
    n, num_samples, delta = _check_bound_args(n, num_samples, delta)
    scheme = check_choice("scheme", scheme, SCHEMES)
    positional = resolve_kernel(kernel, slope)
    if positional.is_constant or n == 1:
        return 0.0  # every mask is the all-ones matrix: the mean is exact
    length = block_size_bound(n, slope, num_samples, delta, scheme, kernel)
    kappa = kernel_operator_norm(n, positional)
    scale = max(length, kappa) / num_samples
    variance = length * kappa / num_samples
    lam = math.log(4 * n / delta)
    bernstein = scale * lam / 3 + math.sqrt((scale * lam / 3) ** 2 + 2 * variance * lam)
    bias = delta / (2 * num_samples)  # p_L * n with p_L <= delta / (2 R n)
    # Both M_hat and K are PSD, so ||M_hat - K|| <= max(||M_hat||, ||K||) <= max(L, kappa) always.
    return min(bernstein, max(length, kappa)) + bias


# Counts beyond 2^53 are not all representable in float64, in which the bounds are computed.
MAX_BOUND_COUNT = 2**53


def _check_bound_args(n: int, num_samples: int, delta: float) -> tuple[int, int, float]:
    n = check_int("n", n, maximum=MAX_BOUND_COUNT)
    num_samples = check_int("num_samples", num_samples, maximum=MAX_BOUND_COUNT)
    delta = check_number("delta", delta, low=0.0, high=1.0, open_low=True, open_high=True)
    return n, num_samples, delta
