"""The information plane of one measurement as a pure function (docs/method.md §1, §4): every layer's H(T),
I(X;T) and I(T;Y) from the layers' and the input's squared distances, the labels and the widths.

`ipkit.InformationPlaneTracker` keeps what lives across measurements (the widths smoothed over steps, the rows)
and calls this; so do the benchmarks.
"""

import torch
from torch import Tensor

from ipkit.checks import check_alpha, check_labels, check_sigma, check_sq_dists
from ipkit.entropy import _check_method, _joint_entropy_with_labels, _label_entropy, _renyi_entropy
from ipkit.kernels import _gaussian_from_sq_dists


def information_plane(d2_t: Tensor, d2_x: Tensor, y: Tensor, sigma_t, sigma_x: float, alpha: float = 1.0,
                      method: str = "exact") -> dict[str, Tensor]:
    """H(T), I(X;T), I(T;Y) of L layers for one measurement, in bits.

    .. math:: I(X;T) = S(A_X) + S(A_T) − S(A_X, A_T), \\quad I(T;Y) = S(A_T) + S(A_Y) − S(A_T, A_Y)

    with Gaussian kernels K_T = exp(−D_T / σ_T²), K_X = exp(−D_X / σ_X²) and the class-equality label kernel.
    H(T) of all layers, H(X,T) and H(X) are one batched float64 eigendecomposition; H(T,Y) is taken by class
    blocks and H(Y) from the class counts.

    Args:
        d2_t: (L, N, N) squared distances of the L layers' activations.
        d2_x: (N, N) squared distances of the inputs.
        y: (N,) integer labels.
        sigma_t: L widths (a sequence or an (L,) tensor).
        sigma_x: the input width.
        alpha: Rényi order α.
        method: how H(T), H(X,T) and H(X) are computed (`ipkit.renyi_entropy`: "exact" or "lanczos");
            H(T,Y) is exact, by class blocks.

    Returns:
        dict with H_T, I_XT, I_TY of shape (L,) and H_X, H_Y of shape (), float64 on the CPU.

    Raises:
        ValueError: distances that are not (L, N, N) and (N, N) with one N, non-finite or negative; labels that
            are not N integers ≥ 0; not one width > 0 per layer; a bad σ_X, α or method.

    Example:
        >>> d2 = torch.cdist(torch.eye(4), torch.eye(4)) ** 2  # four equidistant samples
        >>> out = information_plane(d2[None], d2, torch.tensor([0, 0, 1, 1]), [1.0], 1.0)
        >>> float(out["H_Y"]), bool(out["I_TY"][0] <= out["H_Y"])
        (1.0, True)
    """
    check_sq_dists(d2_t, "d2_t", dim=3)
    check_sq_dists(d2_x, "d2_x", dim=2)
    n = d2_t.shape[-1]
    if d2_x.shape[-1] != n:
        raise ValueError(f"d2_t and d2_x must share the sample count N: d2_t has N = {n}, d2_x has N = "
                         f"{d2_x.shape[-1]}")
    check_labels(y, n=n)
    sigma_t = check_sigma(sigma_t, "sigma_t").reshape(-1)
    if sigma_t.numel() != d2_t.shape[0]:
        raise ValueError(f"sigma_t needs one width per layer: {d2_t.shape[0]} layers in d2_t, got "
                         f"{sigma_t.numel()} widths")
    sigma_x = check_sigma(sigma_x, "sigma_x")
    if sigma_x.numel() != 1:
        raise ValueError(f"sigma_x must be one width > 0, got {sigma_x.numel()} widths")
    sigma_x = float(sigma_x)
    alpha = check_alpha(alpha)
    _check_method(method)
    d2_t, d2_x = (d if d.is_floating_point() else d.to(torch.get_default_dtype()) for d in (d2_t, d2_x))
    return _information_plane(d2_t, d2_x, y, sigma_t, sigma_x, alpha, method)


def _information_plane(d2_t: Tensor, d2_x: Tensor, y: Tensor, sigma_t, sigma_x: float, alpha: float,
                       method: str) -> dict[str, Tensor]:
    """`information_plane` of checked arguments: floating distances, labels checked against N, L widths."""
    sigma_t = torch.as_tensor(sigma_t, dtype=torch.float64).reshape(-1)
    K_t = torch.stack([_gaussian_from_sq_dists(d2, float(s)) for d2, s in zip(d2_t, sigma_t)]).to(torch.float64)
    K_x = _gaussian_from_sq_dists(d2_x, float(sigma_x)).to(torch.float64)
    S = _renyi_entropy(torch.cat([K_t, K_t * K_x, K_x[None]]), alpha, method).cpu()
    H_TY = _joint_entropy_with_labels(K_t, y, alpha).cpu().to(torch.float64)
    H_Y = _label_entropy(y, alpha).cpu().to(torch.float64)
    L = len(K_t)
    H_T, H_XT, H_X = S[:L], S[L:2 * L], S[-1]
    return dict(H_T=H_T, I_XT=H_T + H_X - H_XT, I_TY=H_T + H_Y - H_TY, H_X=H_X, H_Y=H_Y)
