"""Kernels on activations: pairwise distances, the tensor (Gaussian) kernel, Yu et al.'s multivariate kernel,
the label kernel and kernel alignment (PAPER.md §2).

All kernels use the authors' convention κ(x, x') = exp(−‖x − x'‖² / σ²), without a factor 2.
"""

import torch
from torch import Tensor

from ipkit.checks import (check_distances, check_gram, check_labels, check_same_size, check_sigma, check_width,
                          flatten_samples)


_CPU_BLOCK_COLUMNS = 4096  # rows wider than this are multiplied by blocks of columns on the CPU
_MAX_OFFSET_RATIO = 16.0  # κ up to which a wide product on the CPU is used uncentred (see `_near_origin`)


def _near_origin(gram: Tensor) -> bool:
    """Whether the rows behind an uncentred Gram matrix G (..., N, N) lie near enough to the origin, against their
    spread, for the Gram trick to keep its accuracy without centring.

    κ = mean ‖x_i‖² / mean ‖x_i − x̄‖² is read off G: tr(G)/N over tr(G)/N − ΣG/N², and κ ≤ 16 is tested as
    15 N tr(G) ≥ 16 ΣG (no divisions). The round-off of a squared distance computed from G grows with κ: in
    float32 about κ · 1e−6 relative (measured), against 1e−6 after centring, which makes κ = 1. The paper's
    networks at initialization gave κ = 1.3–3.8 (MNIST networks) and 4.7–25 (VGG-16 on CIFAR-10); a constant
    offset can make it anything. NaN in G counts as not near; a non-finite G gives non-finite distances either
    way, which callers check.
    """
    n = gram.shape[-1]
    trace = gram.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    return bool(((_MAX_OFFSET_RATIO - 1) * n * trace >= _MAX_OFFSET_RATIO * gram.sum(dim=(-2, -1))).all())


def _row_panels(n: int) -> list[int]:
    """Edges of the row panels of a lower-triangle product: each panel takes half the rows left, rounded to a
    multiple of 16 (what the CPU's matrix kernels handle best), until at most 32 remain; for N = 100: 0, 48, 80,
    100. About 2/3 of the full product's multiplications, in products still wide enough to run at full speed.
    Going on to a panel of 16 rows and one of 4 (0, 48, 80, 96, 100) was 2 % faster but doubled the float32
    round-off of the distances of a trained CNN's conv2 output (largest relative error 4.1e-6 against 1.9e-6)."""
    edges = [0]
    while n - edges[-1] > 32:
        edges.append(edges[-1] + 16 * max(1, round((n - edges[-1]) / 32)))
    return edges + [n]


def _blocked_gram(x: Tensor) -> Tensor:
    """x xᵀ for rows x (..., N, D), by blocks of columns and panels of rows, as a symmetric rank-k update would.

    The blocks of columns are multiplied in one batched product and summed: on the CPU this beats one product
    with a long inner dimension (each thread takes whole blocks) and sums in shorter, more accurate runs. Only
    the lower triangle is computed, a panel of rows (`_row_panels`) at a time against the rows from the panel on,
    and mirrored. For N = 100 and D = 65,536: 7.1 ms against 10.3 ms for x @ x.T (2 threads, measured).
    """
    n, d = x.shape[-2:]
    full = d - d % _CPU_BLOCK_COLUMNS
    blocks = x[..., :full].unflatten(-1, (-1, _CPU_BLOCK_COLUMNS)).transpose(-3, -2)  # (..., D // block, N, block)
    rest = x[..., full:]
    lower = x.new_empty(x.shape[:-1] + (n,))
    edges = _row_panels(n)
    for lo, hi in zip(edges[:-1], edges[1:]):
        panel = (blocks[..., lo:, :] @ blocks[..., lo:hi, :].mT).sum(dim=-3)  # (..., N − lo, hi − lo)
        if full < d:
            panel += rest[..., lo:, :] @ rest[..., lo:hi, :].mT
        lower[..., lo:, lo:hi] = panel
    return lower.tril() + lower.tril(-1).mT  # the strict upper triangle was never written


def _by_blocks(x: Tensor) -> bool:
    """Whether x xᵀ is taken by blocks (`_blocked_gram`): wide rows on the CPU."""
    return x.device.type == "cpu" and x.shape[-1] > _CPU_BLOCK_COLUMNS


def _gram(x: Tensor) -> Tensor:
    """x xᵀ for rows x (..., N, D): by blocks (`_blocked_gram`) for wide rows on the CPU."""
    return _blocked_gram(x) if _by_blocks(x) else x @ x.mT


def _translated_gram(x: Tensor) -> Tensor:
    """Gram matrix of the rows of x (..., N, D) after a translation common to all rows, which distances do not
    see: the columns are centred, which removes most of the cancellation the Gram trick suffers in float32.

    On the CPU the rows are first multiplied as they are: a centred copy costs another pass and another N×D of
    memory (3 ms and 26 MB for VGG-16's conv1 at N = 100, against 8 ms for the product), so it is made only when
    the rows turn out to lie far from the origin against their spread (`_near_origin`).
    """
    if x.device.type == "cpu":
        gram = _gram(x)
        if _near_origin(gram):
            return gram
    return _gram(x - x.mean(dim=-2, keepdim=True))


def _sq_dists(x: Tensor) -> Tensor:
    """Squared Euclidean distances between rows, batched: (..., N, D) -> (..., N, N).

    Uses ‖a‖² + ‖b‖² − 2⟨a, b⟩ on translated rows (`_translated_gram`), with the squared norms read off the Gram
    matrix's diagonal.
    NaN or Inf in x, or products that overflow x's dtype, give a non-finite result: callers check that
    (N × N values) rather than x (N × D values).
    """
    gram = _translated_gram(x)
    sq = gram.diagonal(dim1=-2, dim2=-1)  # ‖x_i‖², read off the product: no N×D temporary
    d2 = (sq.unsqueeze(-1) + sq.unsqueeze(-2)).sub_(gram, alpha=2.0)
    if not _by_blocks(x):  # exact symmetry: the round-off of x @ x.T need not be symmetric; blocks are mirrored
        d2 = 0.5 * (d2 + d2.mT)
    d2.clamp_(min=0.0)
    d2.diagonal(dim1=-2, dim2=-1).zero_()
    return d2


def pairwise_sq_dists(x: Tensor) -> Tensor:
    """Squared Euclidean distances between the N samples of `x`, each flattened.

    .. math:: D_{ij} = \\|x_i - x_j\\|^2

    Memory is O(N² + N·D): no N×N×D difference tensor is formed.

    Args:
        x: (N, ...) samples; a sample may be a vector or a C×H×W tensor.

    Returns:
        (N, N) symmetric, non-negative, zero diagonal, in x's dtype and device.
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
    finfo = torch.finfo(d2.dtype)
    # The exponent is D times −1/σ², a factor taken in double precision and kept within d2's range: σ² of a valid,
    # tiny width underflows and −1/σ² can overflow d2's dtype, and either would make the zero diagonal NaN.
    # A number and a tensor get the same factor, hence the same kernel to the last bit.
    if isinstance(sigma, (int, float)):  # a number: no tensor operations
        s = max(check_width(sigma), finfo.tiny)
        return torch.mul(d2, max(-1.0 / s / s, -finfo.max)).exp_()
    s = check_sigma(sigma).to(device=d2.device, dtype=torch.float64).clamp(min=finfo.tiny)
    factor = (-1.0 / s / s).clamp(min=-finfo.max).to(d2.dtype)
    return torch.mul(d2, factor.reshape(factor.shape + (1,) * d2.dim())).exp_()


def gaussian_gram(x: Tensor, sigma) -> Tensor:
    """Tensor kernel Gram matrix (PAPER.md §2): K_ij = exp(−‖X_i − X_j‖_F² / σ²).

    For a dense layer a sample is a vector; for a convolutional layer it is the whole C×H×W output,
    so every layer gets a single Gram matrix whatever its shape.

    Args:
        x: (N, ...) samples.
        sigma: kernel width σ > 0.

    Returns:
        (N, N) Gram matrix with unit diagonal.

    Example:
        >>> gaussian_gram(torch.zeros(3, 2), sigma=1.0)
        tensor([[1., 1., 1.], [1., 1., 1.], [1., 1., 1.]])
    """
    return gaussian_from_sq_dists(pairwise_sq_dists(x), sigma)


def channel_sq_dists(x: Tensor) -> Tensor:
    """Squared distances per channel: x of shape (N, C, ...) -> (C, N, N), each channel's map flattened."""
    if not isinstance(x, Tensor) or x.dim() < 2:
        raise ValueError(f"x must be (N, C, ...) with a channel axis, got shape {tuple(getattr(x, 'shape', ()))}")
    flat = flatten_samples(x, "x")
    n, c = x.shape[:2]
    return check_distances(_sq_dists(flat.reshape(n, c, -1).transpose(0, 1)), flat, "x")  # (C, N, N)


def multivariate_gram(x: Tensor, sigmas) -> Tensor:
    """Yu et al.'s multivariate kernel: the Hadamard product of per-channel Gaussian Gram matrices.

    .. math:: K = K_1 ∘ … ∘ K_C, \\quad (K_c)_{ij} = \\exp(−\\|X_{i,c} − X_{j,c}\\|^2 / σ_c^2)

    Evaluated as exp(−Σ_c D_c / σ_c²), which is the same product without intermediate underflow.
    With all σ_c equal it is exactly the tensor kernel `gaussian_gram(x, σ)` (PAPER.md §2).

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
