"""The structure-preserving tensor kernel of Signoretto, De Lathauwer and Suykens [9], the alternative to the
tensor kernel that the paper names (docs/method.md §2).

A sample X ∈ R^{I_1×…×I_M} (a conv layer's C×H×W output, M = 3) is compared with Y mode by mode: the mode-n
unfolding X_<n> (I_n × Π_{m≠n} I_m) has the thin SVD U S Vᵀ, and P_n(X) = V Vᵀ projects onto its row space.
The kernel is the product over the modes of Gaussian kernels on the distances between these projections,

.. math:: κ(X, Y) = \\prod_n \\exp(−\\|P_n(X) − P_n(Y)\\|_F^2 / σ^2) = \\exp(−D(X, Y) / σ^2),
    \\quad D(X, Y) = \\sum_n \\|P_n(X) − P_n(Y)\\|_F^2

with ipkit's convention exp(−d / σ²) (no factor 2; Signoretto et al. write exp(−d / (2σ²)), i.e. their σ is
ours over √2) and one σ for all modes, as in their product kernel. D is a squared Euclidean distance between the
vectors (vec P_1, …, vec P_M), so κ is a Gaussian kernel on that embedding: positive definite and infinitely
divisible for every σ, with unit diagonal, as the matrix-based entropy needs.

Choices (ours; [9] defines P_n through the right singular vectors of the non-zero singular values):

- **Rank.** P_n keeps every singular direction of the unfolding's numerical rank, none truncated to a fixed
  rank: a fixed truncation would be a second width-like parameter. The rank counts the singular values
  s > rtol · s_max, with rtol = max(I_n, J_n) · eps of the input's dtype by default (as `numpy.linalg.matrix_rank`):
  an all-zero ReLU channel is an exactly zero row of X_<1> whose float64 singular value is round-off, and is
  dropped deterministically; an all-zero sample has P_n = 0 in every mode (D to it = the other sample's ranks).
- **What it sees.** The row spaces do not change when a sample is multiplied by any c ≠ 0, so the kernel ignores
  the activations' scale altogether (the tensor kernel does not). A full-rank unfolding with I_n ≥ J_n has
  P_n = I and carries no information.

Computed in float64 without forming the projections: ‖P − Q‖_F² = tr P + tr Q − 2 ‖V_Pᵀ V_Q‖_F², tr P = rank.
"""

import torch
from torch import Tensor

from ipkit.checks import check_finite, check_sigma
from ipkit.kernels import gaussian_from_sq_dists

_BLOCK_ENTRIES = 2**23  # doubles (64 MiB) per block of basis inner products: bounds memory for large N


def _check_batch(x) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() < 3:
        raise ValueError(f"x must be (N, C, H, W) (a batch of samples that are tensors of order ≥ 2: "
                         f"(N, I_1, …, I_M), M ≥ 2), got shape {tuple(x.shape)}; a dense layer has no unfoldings")
    if x.shape[0] < 2 or x[0].numel() == 0:
        raise ValueError(f"x needs at least 2 non-empty samples along dim 0, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    check_finite(x, "x")


def row_space_bases(x: Tensor, mode: int, rtol: float | None = None) -> tuple[Tensor, Tensor]:
    """Orthonormal bases of the row spaces of the mode-n unfoldings of N samples, in float64.

    The mode-n unfolding of a sample puts mode n along the rows: (I_n, J_n), J_n the product of the other modes
    (in their order; any fixed order gives the same distances). Its right singular vectors of the singular values
    s > rtol · s_max span the row space; the others are set to zero, so every sample has k = min(I_n, J_n)
    columns, of which its rank are non-zero.

    Args:
        x: (N, I_1, …, I_M) samples, e.g. (N, C, H, W).
        mode: n in 1 … M (1: channels of a C×H×W sample).
        rtol: relative rank tolerance; None: max(I_n, J_n) · eps of x's dtype.

    Returns:
        V: (N, J_n, k) bases, zero columns past each sample's rank; ranks: (N,) integer ranks = tr P_n.
    """
    _check_batch(x)
    if not 1 <= mode <= x.dim() - 1:
        raise ValueError(f"mode must lie in 1 … {x.dim() - 1} for samples of shape {tuple(x.shape[1:])}, got {mode}")
    n, rows = x.shape[0], x.shape[mode]
    unfolded = x.movedim(mode, 1).reshape(n, rows, -1).to(torch.float64)  # (N, I_n, J_n)
    if rtol is None:
        rtol = max(unfolded.shape[1:]) * torch.finfo(x.dtype).eps
    elif not rtol >= 0:
        raise ValueError(f"rtol must be a number ≥ 0 (or None for the default), got {rtol!r}")
    _, s, vh = torch.linalg.svd(unfolded, full_matrices=False)  # s: (N, k), vh: (N, k, J_n)
    kept = s > rtol * s[:, :1]  # all-zero sample: s_max = 0 keeps nothing
    return (vh * kept[..., None]).mT, kept.sum(dim=1)


def structure_sq_dists(x: Tensor, rtol: float | None = None) -> Tensor:
    """Squared structure distances D_ij = Σ_n ‖P_n(X_i) − P_n(X_j)‖_F² of N samples, in float64.

    .. math:: \\|P − Q\\|_F^2 = \\operatorname{tr} P + \\operatorname{tr} Q − 2 \\|V_P^\\top V_Q\\|_F^2

    with V the row-space bases of the unfoldings (`row_space_bases`), over all M modes of a sample
    (docs/method.md §2, [9]). No J_n × J_n projection is formed: per mode, the inner products of all N·k basis
    vectors, in blocks of samples.

    Args:
        x: (N, C, H, W) activations (any (N, I_1, …, I_M), M ≥ 2).
        rtol: relative rank tolerance of the unfoldings (`row_space_bases`).

    Returns:
        (N, N) float64 on x's device: symmetric, in [0, 2 Σ_n min(I_n, J_n)], zero diagonal.

    Example:
        >>> x = torch.zeros(2, 1, 2, 2)
        >>> x[0, 0, 0, 0] = x[1, 0, 1, 1] = 1.0  # e_1 e_1ᵀ and e_2 e_2ᵀ: orthogonal in every mode
        >>> structure_sq_dists(x)  # mode 1: 1 + 1; modes 2 and 3: 1 + 1 each
        tensor([[0., 6.],
                [6., 0.]], dtype=torch.float64)
    """
    _check_batch(x)
    n = x.shape[0]
    d2 = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    for mode in range(1, x.dim()):
        V, ranks = row_space_bases(x, mode, rtol)  # (N, J, k), (N,)
        d2 += ranks[:, None] + ranks[None, :] - 2 * _overlaps(V)

    d2 = 0.5 * (d2 + d2.mT)
    d2.diagonal().zero_()  # ‖V_iᵀ V_i‖_F² = rank_i up to round-off
    return d2.clamp_(min=0.0)


def _overlaps(V: Tensor) -> Tensor:
    """‖V_iᵀ V_j‖_F² = tr(P_i P_j) for bases V (N, J, k), as (N, N), by the cheaper of two products: the N·k
    basis vectors' inner products (N²k²J multiply-adds) or, when k² > J and the N projections fit in memory, the
    inner products of the projections P_i = V_i V_iᵀ themselves (N²J²), each in blocks of samples."""
    n, j, k = V.shape
    if k * k > j and n * j * j <= 4 * _BLOCK_ENTRIES:
        flat = (V @ V.mT).reshape(n, j * j)  # (N, J²): vec P_i; ⟨vec P_i, vec P_j⟩ = tr(P_i P_j), P symmetric
        return flat @ flat.mT
    basis = V.mT.reshape(n * k, j)  # (N·k, J): every sample's basis vectors as rows
    block = max(1, _BLOCK_ENTRIES // (k * k * n))
    return torch.cat([(basis[i * k:(i + block) * k] @ basis.mT).reshape(-1, k, n, k).square().sum(dim=(1, 3))
                      for i in range(0, n, block)])


def structure_preserving_gram(x: Tensor, sigma, rtol: float | None = None) -> Tensor:
    """Gram matrix of the structure-preserving tensor kernel [9]: K_ij = exp(−Σ_n ‖P_n(X_i) − P_n(X_j)‖_F² / σ²).

    Args:
        x: (N, C, H, W) activations (any (N, I_1, …, I_M), M ≥ 2).
        sigma: kernel width σ > 0, ipkit's convention (no factor 2; see the module docstring).
        rtol: relative rank tolerance of the unfoldings (`row_space_bases`).

    Returns:
        (N, N) float64 Gram matrix with unit diagonal.
    """
    check_sigma(sigma)
    return gaussian_from_sq_dists(structure_sq_dists(x, rtol), sigma)
