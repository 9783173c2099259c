"""Kernels on activations: pairwise distances, the tensor (Gaussian) kernel, Yu et al.'s multivariate kernel,
the label kernel and kernel alignment (docs/method.md §2: tensor kernel [1], multivariate kernel [3], alignment [4]).

All kernels use the authors' convention κ(x, x') = exp(−‖x − x'‖² / σ²), without a factor 2.
"""

import torch
from torch import Tensor

from ipkit.checks import (check_distances, check_gram, check_labels, check_same_size, check_sigma, check_width,
                          flatten_samples)


TUNED_CPU_GRAM = True
"""The one tuned path of this module: on the CPU, `_sq_dists` takes its Gram matrix from `_tuned_cpu_gram` rather
than `_centred_gram`. The same distances but for float32 round-off; it pays 1.4–1.5× on one layer's whole estimate
at the VGG-16 conv1 size (benchmarks/distances_before_after.py, which times both). False: the plain path everywhere."""


def _sq_dists(x: Tensor) -> Tensor:
    """Squared Euclidean distances between rows, batched: (..., N, D) -> (..., N, N), in float32 or wider.

    The Gram trick ‖a‖² + ‖b‖² − 2⟨a, b⟩ on the Gram matrix of the rows translated by a common vector, which
    distances do not see (`_centred_gram`, or `_tuned_cpu_gram` on the CPU, see `TUNED_CPU_GRAM`).
    Half types (float16, bfloat16) are computed in float32: in their own precision the distances are off by percents.
    NaN or Inf in x, or products that overflow, give a non-finite result: callers check that (N × N values)
    rather than x (N × D values).
    """
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    gram = _tuned_cpu_gram(x) if TUNED_CPU_GRAM and x.device.type == "cpu" else _centred_gram(x)
    sq = gram.diagonal(dim1=-2, dim2=-1)  # squared norms of the translated rows
    d2 = sq.unsqueeze(-1) + sq.unsqueeze(-2) - 2 * gram
    d2 = 0.5 * (d2 + d2.mT)  # the round-off of a product need not be symmetric; the diagonal is exactly 0
    return d2.clamp_(min=0.0)  # near-duplicate samples: round-off can exceed the distance


def _centred_gram(x: Tensor) -> Tensor:
    """Gram matrix xc xcᵀ of the rows of x (..., N, D) centred over the samples. The Gram trick's float32
    cancellation grows with the rows' distance from the origin against their spread; centring removes most of it
    (raw 0–255 pixels, deep ReLU layers)."""
    xc = x - x.mean(dim=-2, keepdim=True)
    return xc @ xc.mT


# ------------------------------------------------------------------------------------ the tuned path (CPU only)

MAX_UNCENTRED_KAPPA = 16.0
"""κ up to which `_tuned_cpu_gram` keeps the rows uncentred: the float32 round-off of a distance is then up to about
2κ · 1e-6 relative (tests/test_distances.py; below 1e-6 after centring)."""


def _tuned_cpu_gram(x: Tensor) -> Tensor:
    """`_centred_gram`'s role, faster on the CPU: the product is first taken of the rows as they are, which spares
    a centred N × D copy, and kept if they lie near the origin against their spread,
    κ = mean ‖x_i‖² / mean ‖x_i − x̄‖² ≤ `MAX_UNCENTRED_KAPPA` (read off the product: tr(G)/N over
    tr(G)/N − ΣG/N²); else the centred rows are multiplied. Each product computes the lower triangle only
    (`_lower_gram`). NaN in the product counts as far: it is centred, and stays non-finite for the callers' checks.
    """
    gram = _lower_gram(x)
    n = gram.shape[-1]
    trace = gram.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    if bool(((MAX_UNCENTRED_KAPPA - 1) * n * trace >= MAX_UNCENTRED_KAPPA * gram.sum(dim=(-2, -1))).all()):
        return gram
    return _lower_gram(x - x.mean(dim=-2, keepdim=True))


def _lower_gram(x: Tensor) -> Tensor:
    """x xᵀ for rows x (..., N, D) from its lower triangle, a panel of rows at a time against the rows from the
    panel on, mirrored: about 2/3 of the full product's multiplications, in products still wide enough to run at
    full speed. Each panel takes half the rows left, rounded to a multiple of 16, until at most 32 remain
    (N = 100: rows 0, 48, 80, 100)."""
    n = x.shape[-2]
    edges = [0]
    while n - edges[-1] > 32:
        edges.append(edges[-1] + 16 * max(1, round((n - edges[-1]) / 32)))
    edges.append(n)
    lower = x.new_empty(x.shape[:-1] + (n,))
    for lo, hi in zip(edges[:-1], edges[1:]):
        lower[..., lo:, lo:hi] = x[..., lo:, :] @ x[..., lo:hi, :].mT
    return lower.tril() + lower.tril(-1).mT  # the strict upper triangle was never written


def pairwise_sq_dists(x: Tensor) -> Tensor:
    """Squared Euclidean distances between the N samples of `x`, each flattened.

    .. math:: D_{ij} = \\|x_i - x_j\\|^2

    Memory is O(N² + N·D): no N×N×D difference tensor is formed.

    Args:
        x: (N, ...) samples; a sample may be a vector or a C×H×W tensor.

    Returns:
        (N, N) symmetric, non-negative, zero diagonal, on x's device; in x's dtype, or float32 for half types
        (float16, bfloat16).
    """
    x = flatten_samples(x, "x")
    return check_distances(_sq_dists(x), x, "x")


def gaussian_from_sq_dists(d2: Tensor, sigma) -> Tensor:
    """Gaussian kernel from squared distances: exp(−D / σ²).

    Args:
        d2: (..., N, N) squared distances.
        sigma: a number, or a tensor of widths of shape (G,) giving a (G, ..., N, N) stack (one per width).
    """
    if not d2.is_floating_point():
        d2 = d2.to(torch.get_default_dtype())
    if isinstance(sigma, (int, float)):  # a number: no tensor operations
        return _gaussian_from_sq_dists(d2, check_width(sigma))
    finfo = torch.finfo(d2.dtype)
    # As in `_gaussian_from_sq_dists`, per width: a number and a tensor get the same factor, hence the same kernel
    # to the last bit.
    s = check_sigma(sigma).to(device=d2.device, dtype=torch.float64).clamp(min=finfo.tiny)
    factor = (-1.0 / s / s).clamp(min=-finfo.max).to(d2.dtype)
    return torch.mul(d2, factor.reshape(factor.shape + (1,) * d2.dim())).exp_()


def _gaussian_from_sq_dists(d2: Tensor, sigma: float) -> Tensor:
    """`gaussian_from_sq_dists` of floating squared distances d2 (..., N, N) and a width σ > 0 already checked."""
    finfo = torch.finfo(d2.dtype)
    # The exponent is D times −1/σ², a factor taken in double precision and kept within d2's range: σ² of a valid,
    # tiny width underflows and −1/σ² can overflow d2's dtype, and either would make the zero diagonal NaN.
    s = max(sigma, finfo.tiny)
    return torch.mul(d2, max(-1.0 / s / s, -finfo.max)).exp_()


def gaussian_gram(x: Tensor, sigma) -> Tensor:
    """Tensor kernel Gram matrix (docs/method.md §2): K_ij = exp(−‖X_i − X_j‖_F² / σ²).

    For a dense layer a sample is a vector; for a convolutional layer it is the whole C×H×W output,
    so every layer gets a single Gram matrix whatever its shape.

    Args:
        x: (N, ...) samples.
        sigma: kernel width σ > 0.

    Returns:
        (N, N) Gram matrix with unit diagonal.

    Example:
        >>> gaussian_gram(torch.tensor([[0.0, 0.0], [2.0, 0.0]]), sigma=2.0)  # exp(−4 / σ²) = exp(−1)
        tensor([[1.0000, 0.3679],
                [0.3679, 1.0000]])
    """
    return gaussian_from_sq_dists(pairwise_sq_dists(x), sigma)


def channel_sq_dists(x: Tensor) -> Tensor:
    """Squared distances per channel: x of shape (N, C, ...) -> (C, N, N), each channel's map flattened;
    dtype as in `pairwise_sq_dists`."""
    if not isinstance(x, Tensor) or x.dim() < 2:
        raise ValueError(f"x must be (N, C, ...) with a channel axis, got shape {tuple(getattr(x, 'shape', ()))}")
    flat = flatten_samples(x, "x")
    return check_distances(_channel_sq_dists(flat.reshape(*x.shape[:2], -1)), flat, "x")


def _channel_sq_dists(x: Tensor) -> Tensor:
    """`channel_sq_dists` of floating activations x (N, C, ...) with N ≥ 2, unchecked: (C, N, N)."""
    return _sq_dists(x.flatten(2).transpose(0, 1))


def multivariate_gram(x: Tensor, sigmas) -> Tensor:
    """Yu et al.'s multivariate kernel: the Hadamard product of per-channel Gaussian Gram matrices.

    .. math:: K = K_1 ∘ … ∘ K_C, \\quad (K_c)_{ij} = \\exp(−\\|X_{i,c} − X_{j,c}\\|^2 / σ_c^2)

    Evaluated as exp(−Σ_c D_c / σ_c²), which is the same product without intermediate underflow.
    With all σ_c equal it is exactly the tensor kernel `gaussian_gram(x, σ)` (docs/method.md §2).

    Args:
        x: (N, C, ...) activations; each channel's map is flattened.
        sigmas: (C,) per-channel widths.

    Returns:
        (N, N) Gram matrix with unit diagonal.
    """
    d2 = channel_sq_dists(x)
    s = check_sigma(sigmas, "sigmas").to(device=d2.device, dtype=d2.dtype).reshape(-1)
    if s.numel() != d2.shape[0]:
        raise ValueError(f"sigmas needs one width per channel: {d2.shape[0]} channels, got {s.numel()} widths")
    s = s.clamp(min=torch.finfo(d2.dtype).tiny)[:, None, None]
    return torch.exp(-((d2 / s) / s).sum(dim=0))  # two divisions: σ_c² can underflow (see gaussian_from_sq_dists)


def label_gram(y: Tensor, num_classes: int) -> Tensor:
    """Label kernel: K_ij = 1 if y_i = y_j else 0.

    This is the Gaussian kernel on one-hot labels with the authors' σ_Y = 0.1 (off-diagonal entries
    exp(−2/0.01) ≈ 1e−87 are exactly 0 here). S(K_Y) is the empirical class entropy of the batch.

    Args:
        y: (N,) integer labels in [0, num_classes).
        num_classes: number of classes.

    Returns:
        (N, N) Gram matrix in the default float dtype, on y's device.
    """
    check_labels(y, num_classes)
    return (y[:, None] == y[None, :]).to(torch.get_default_dtype())


def kernel_alignment(K1: Tensor, K2: Tensor) -> Tensor:
    """Kernel alignment (Cristianini et al.): ⟨K1, K2⟩_F / (‖K1‖_F ‖K2‖_F).

    Args:
        K1: (..., N, N) Gram matrices, e.g. one per candidate width.
        K2: (..., N, N) Gram matrices broadcastable against K1.

    Returns:
        (...) alignments in [0, 1] for non-negative kernels.
    """
    check_gram(K1, "K1")
    check_gram(K2, "K2")
    check_same_size(K1, K2, names=("K1", "K2"))
    K2 = K2.to(K1.dtype)
    inner = (K1 * K2).sum(dim=(-2, -1))
    return inner / (torch.linalg.matrix_norm(K1) * torch.linalg.matrix_norm(K2))
