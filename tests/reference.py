"""Naive NumPy float64 references for the estimator, written from the formulas (docs/method.md §1–3) and sharing
no code with ipkit: explicit broadcasting instead of the Gram trick, plain loops instead of batched searches.
The tests compare ipkit against these on small inputs.

Every function takes and returns NumPy arrays or floats.
"""

import numpy as np


def sq_dists(x) -> np.ndarray:
    """(N, ...) samples -> (N, N) squared Euclidean distances, each sample flattened: Σ_k (x_ik − x_jk)²."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1)  # (N, N, D) differences, then summed


def gaussian_gram(x, sigma: float) -> np.ndarray:
    """Gaussian (tensor) kernel exp(−‖x_i − x_j‖² / σ²), the authors' convention without a factor 2."""
    return np.exp(-sq_dists(x) / sigma**2)


def multivariate_gram(x, sigmas) -> np.ndarray:
    """Yu et al.'s kernel: the Hadamard product over channels c of Gaussian kernels on x[:, c], widths σ_c."""
    x = np.asarray(x, dtype=np.float64)
    K = np.ones((len(x), len(x)))
    for c, sigma in enumerate(sigmas):
        K = K * gaussian_gram(x[:, c], sigma)
    return K


def label_gram(y) -> np.ndarray:
    """Class-equality kernel: 1 where y_i = y_j, else 0."""
    y = np.asarray(y)
    return (y[:, None] == y[None, :]).astype(np.float64)


def renyi_entropy(K, alpha: float) -> float:
    """S_α of K normalised to unit trace, A = K_ij / (N √(K_ii K_jj)), in bits; α = 1 is −Σ λ log2 λ."""
    K = np.asarray(K, dtype=np.float64)
    d = np.sqrt(np.diag(K))
    lam = np.clip(np.linalg.eigvalsh(K / (len(K) * np.outer(d, d))), 0.0, None)
    if alpha == 1.0:
        lam = lam[lam > 0]
        return float(-(lam * np.log2(lam)).sum())
    return float(np.log2((lam**alpha).sum()) / (1.0 - alpha))


def joint_entropy(*Ks, alpha: float) -> float:
    """S_α of the Hadamard product of the Ks (renormalised by `renyi_entropy`)."""
    return renyi_entropy(np.prod(np.stack([np.asarray(K, dtype=np.float64) for K in Ks]), axis=0), alpha)


def mutual_information(Ka, Kb, alpha: float) -> float:
    """I_α = S_α(A) + S_α(B) − S_α(A, B)."""
    return renyi_entropy(Ka, alpha) + renyi_entropy(Kb, alpha) - joint_entropy(Ka, Kb, alpha=alpha)


def kernel_alignment(K1, K2) -> float:
    """⟨K1, K2⟩_F / (‖K1‖_F ‖K2‖_F)."""
    K1, K2 = np.asarray(K1, dtype=np.float64), np.asarray(K2, dtype=np.float64)
    return float((K1 * K2).sum() / (np.sqrt((K1 * K1).sum()) * np.sqrt((K2 * K2).sum())))


def mean_distance(d2, over: str = "all") -> float:
    """Mean Euclidean distance: over all N² entries, zero diagonal included ("all", the authors' d.mean()), or
    over the N(N − 1) off-diagonal pairs ("pairs")."""
    d = np.sqrt(np.asarray(d2, dtype=np.float64))
    if over == "all":
        return float(d.mean())
    return float(d[~np.eye(len(d), dtype=bool)].mean())


def alignment_search(d2, K_y, n_candidates: int, sigma_min: float = 0.3, scale: float = 10.0,
                     over: str = "all") -> tuple[np.ndarray, np.ndarray, float]:
    """The paper's width search, one candidate at a time: grid linspace(σ_min, scale · mean distance, n), the
    alignment of exp(−D / σ²) with K_y for each σ, and the first σ of highest alignment.

    Returns:
        (candidates (n,), alignments (n,), best σ).
    """
    d2 = np.asarray(d2, dtype=np.float64)
    upper = max(scale * mean_distance(d2, over), sigma_min)
    sigmas = np.linspace(sigma_min, upper, n_candidates)
    scores = np.array([kernel_alignment(np.exp(-d2 / s**2), K_y) for s in sigmas])
    return sigmas, scores, float(sigmas[np.argmax(scores)])


def knn_sigma(d2, k: int) -> float:
    """Mean over samples of the distance to the k-th nearest other sample."""
    return float(np.sort(np.sqrt(np.asarray(d2, dtype=np.float64)), axis=1)[:, k].mean())  # column 0: itself
