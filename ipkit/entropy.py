"""Matrix-based Rényi α-entropy, joint entropy and mutual information of Gram matrices (docs/method.md §1, [2]).

All values are in bits. Every function accepts a stack (..., N, N) and returns (...), so the entropies of all
layers of a network are one batched eigendecomposition.
"""

import contextlib

import torch
from torch import Tensor

from ipkit.checks import check_alpha, check_gram, check_labels, check_same_size

_MAX_ONE_THREAD_N = 200  # eigendecompositions of matrices up to this size run on one CPU thread


@contextlib.contextmanager
def _one_cpu_thread(A: Tensor):
    """Run the block on one CPU thread when A (..., N, N) is a small CPU matrix, then restore the thread count.

    For N ≤ 200 LAPACK's threads cost more than they save. Measured on a 2-core CPU: three float64
    eigendecompositions of 100×100 matrices right after a threaded matrix product took 1.50 ms on two threads and
    1.15 ms on one; `renyi_entropy` of them inside a whole estimate, 1.43 and 1.33 ms; alone, one thread is as fast
    up to N = 200 and slower from N = 300 (3.9 against 4.7 ms). Changing the count is process-wide while it lasts.
    """
    threads = torch.get_num_threads()
    if A.device.type != "cpu" or A.shape[-1] > _MAX_ONE_THREAD_N or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def normalize_gram(K: Tensor) -> Tensor:
    """Normalize a Gram matrix to unit trace: A_ij = K_ij / (N √(K_ii K_jj)) (PAPER.md §1, Def. 1).

    Args:
        K: (..., N, N) Gram matrices with a positive diagonal.

    Returns:
        (..., N, N) matrices A with tr(A) = 1; A = K / N for unit-diagonal kernels.
    """
    return _normalize(K, *check_gram(K))


def _normalize(K: Tensor, diag_min: float, diag_max: float) -> Tensor:
    """`normalize_gram` of a checked K whose diagonal lies in [diag_min, diag_max]."""
    if diag_min == diag_max == 1.0:
        return K / K.shape[-1]  # the same division as below, where N √(K_ii K_jj) = N exactly
    d = K.diagonal(dim1=-2, dim2=-1).sqrt()  # (..., N)
    return K / (K.shape[-1] * d.unsqueeze(-1) * d.unsqueeze(-2))


def _entropy_of_spectrum(lam: Tensor, alpha: float) -> Tensor:
    """S_α from the spectra (..., N) of unit-trace matrices, float64."""
    lam = lam.clamp(min=0.0)  # negative round-off -> 0
    # tr(A) = 1 makes the spectrum a probability vector; restoring Σλ = 1 after the clamp keeps a near-rank-one
    # A (a very wide kernel) from giving S = −1e−5 instead of 0.
    lam = lam / lam.sum(dim=-1, keepdim=True)
    if alpha == 1.0:
        return -torch.special.xlogy(lam, lam).sum(dim=-1) / torch.log(torch.tensor(2.0, dtype=lam.dtype))
    return torch.log2((lam**alpha).sum(dim=-1)) / (1.0 - alpha)


def _entropy_of_normalized(A: Tensor, alpha: float, blocks: bool = False) -> Tensor:
    """S_α of unit-trace matrices A (..., N, N), computed in float64, returned in float64. With blocks=True,
    A is (..., C, m, m): the diagonal blocks of block-diagonal unit-trace matrices, whose spectrum is theirs
    together."""
    A = A.to(torch.float64)
    if alpha == 2.0:
        # Σ λ² = ‖A‖_F² for symmetric A: no eigendecomposition.
        return -torch.log2((A * A).sum(dim=(-3, -2, -1) if blocks else (-2, -1)))
    with _one_cpu_thread(A):
        lam = torch.linalg.eigvalsh(A)
    return _entropy_of_spectrum(lam.flatten(-2) if blocks else lam, alpha)


def _result_dtype(K: Tensor) -> torch.dtype:
    return K.dtype if K.is_floating_point() else torch.float64


def renyi_entropy(K: Tensor, alpha: float = 1.01) -> Tensor:
    """Matrix-based Rényi α-entropy in bits.

    .. math:: S_α(A) = \\frac{1}{1-α} \\log_2 \\sum_i λ_i(A)^α

    with A the unit-trace normalization of K. α = 1 gives the von Neumann limit −Σ λ log2 λ exactly
    (0 log 0 = 0); α = 2 uses Σ λ² = ‖A‖_F². Eigenvalues are computed in float64 and negative round-off
    is clamped to 0. 0 ≤ S_α ≤ log2 N.

    Args:
        K: (..., N, N) Gram matrices (any positive-definite kernel with a positive diagonal).
        alpha: order α > 0; the paper uses 1.01.

    Returns:
        (...) entropies in K's floating dtype, on K's device.

    Example:
        >>> renyi_entropy(torch.eye(4), alpha=2.0)  # log2 4
        tensor(2.)
    """
    alpha = check_alpha(alpha)
    # Normalize in float64 too: a float32 trace off by 1e-8 is amplified by 1/(α − 1) near α = 1.
    A = _normalize(K.to(torch.float64), *check_gram(K))
    return _entropy_of_normalized(A, alpha).to(_result_dtype(K))


def joint_entropy(*Ks: Tensor, alpha: float = 1.01) -> Tensor:
    """Joint entropy S_α(A_1, …, A_k) = S_α(A_1 ∘ … ∘ A_k / tr(A_1 ∘ … ∘ A_k)) (PAPER.md §1).

    Args:
        *Ks: Gram matrices (..., N, N), broadcastable against each other, all with the same N.
        alpha: order α > 0.

    Returns:
        (...) joint entropies in bits.
    """
    if not Ks:
        raise ValueError("joint_entropy needs at least one Gram matrix")
    for i, K in enumerate(Ks):
        check_gram(K, f"Ks[{i}]")
    check_same_size(*Ks)
    H = Ks[0]
    for K in Ks[1:]:
        H = H * K.to(H.dtype)
    return renyi_entropy(H, alpha)


def mutual_information(Kx: Tensor, Ky: Tensor, alpha: float = 1.01) -> Tensor:
    """Matrix-based mutual information I_α(A; B) = S_α(A) + S_α(B) − S_α(A, B), in bits.

    The three entropies are one batched eigendecomposition. For unit-diagonal kernels 0 ≤ I ≤ min(S(A), S(B)).

    Args:
        Kx: (..., N, N) Gram matrices.
        Ky: (..., N, N) Gram matrices broadcastable against Kx.
        alpha: order α > 0.

    Returns:
        (...) mutual information in bits.
    """
    alpha = check_alpha(alpha)
    check_gram(Kx, "Kx")
    check_gram(Ky, "Ky")
    check_same_size(Kx, Ky, names=("Kx", "Ky"))
    Kx, Ky = torch.broadcast_tensors(Kx, Ky.to(Kx.dtype))
    S = renyi_entropy(torch.stack([Kx, Ky, Kx * Ky]), alpha)
    return S[0] + S[1] - S[2]


def label_entropy(y: Tensor, alpha: float = 1.01) -> Tensor:
    """S_α(K_Y) of the label kernel of integer labels y, from the class counts alone.

    K_Y / N has one block of ones per class, so its spectrum is the class proportions n_c / N and zeros:
    S_α(K_Y) is the Rényi entropy of the batch's class distribution, with no eigendecomposition.
    Equal to `renyi_entropy(label_gram(y, num_classes))`.

    Args:
        y: (N,) integer labels ≥ 0.
        alpha: order α > 0.

    Returns:
        A scalar in the default float dtype, on y's device.
    """
    alpha = check_alpha(alpha)
    check_labels(y)
    counts = torch.bincount(y).to(torch.float64)
    return _entropy_of_spectrum(counts[counts > 0], alpha).to(torch.get_default_dtype())


def _class_blocks(A: Tensor, y: Tensor) -> Tensor | None:
    """The blocks of A (..., N, N) that pair samples of one class, (..., C, m, m) for the C classes present,
    zero-padded to the largest class m; None when decomposing them would cost more than A itself (C m³ ≥ N³)."""
    members: dict[int, list[int]] = {}
    for i, label in enumerate(y.tolist()):
        members.setdefault(label, []).append(i)
    n, c, m = y.shape[0], len(members), max(map(len, members.values()))
    if c * m**3 >= n**3:
        return None
    # Padded with index N, a row and column of zeros appended to A.
    index = torch.tensor([r + [n] * (m - len(r)) for r in members.values()], device=A.device)  # (C, m)
    return torch.nn.functional.pad(A, (0, 1, 0, 1))[..., index[:, :, None], index[:, None, :]]


def joint_entropy_with_labels(K: Tensor, y: Tensor, alpha: float = 1.01) -> Tensor:
    """Joint entropy S_α(K, K_Y) with the label kernel of integer labels y, by class blocks.

    K ∘ K_Y keeps only the pairs within a class: with the samples ordered by class it is block-diagonal, and its
    spectrum is the union of its class blocks' spectra (exact; padding the blocks to the largest class adds
    eigenvalues 0). For N = 100 and 10 classes, C eigendecompositions of about 10×10 replace one of 100×100;
    when the classes are so unequal that this would cost more, the whole matrix is decomposed.
    Equal to `joint_entropy(K, label_gram(y, num_classes))`.

    Args:
        K: (..., N, N) Gram matrices, e.g. one per layer.
        y: (N,) integer labels ≥ 0.
        alpha: order α > 0.

    Returns:
        (...) joint entropies in bits, in K's floating dtype.
    """
    alpha = check_alpha(alpha)
    diag_range = check_gram(K, "K")
    check_labels(y, n=K.shape[-1])
    A = _normalize(K.to(torch.float64), *diag_range)  # A ∘ K_Y keeps A's diagonal, so its trace stays 1
    blocks = _class_blocks(A, y)
    if blocks is None:
        S = _entropy_of_normalized(A * (y[:, None] == y[None, :]).to(A), alpha)
    else:
        S = _entropy_of_normalized(blocks, alpha, blocks=True)
    return S.to(_result_dtype(K))
