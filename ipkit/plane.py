"""The information plane of one measurement as a pure function (docs/method.md §1, §4): every layer's H(T),
I(X;T) and I(T;Y) from the layers' and the input's squared distances, the labels and the widths.

`ipkit.InformationPlaneTracker` keeps what lives across measurements (the widths smoothed over steps, the rows)
and calls this; so do the benchmarks.
"""

import torch
from torch import Tensor

from ipkit.entropy import joint_entropy_with_labels, label_entropy, renyi_entropy
from ipkit.kernels import gaussian_from_sq_dists


def information_plane(d2_t: Tensor, d2_x: Tensor, y: Tensor, sigma_t, sigma_x: float,
                      alpha: float = 1.0) -> dict[str, Tensor]:
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

    Returns:
        dict with H_T, I_XT, I_TY of shape (L,) and H_X, H_Y of shape (), float64 on the CPU.

    Example:
        >>> d2 = torch.cdist(torch.eye(4), torch.eye(4)) ** 2  # four equidistant samples
        >>> out = information_plane(d2[None], d2, torch.tensor([0, 0, 1, 1]), [1.0], 1.0)
        >>> float(out["H_Y"]), bool(out["I_TY"][0] <= out["H_Y"])
        (1.0, True)
    """
    sigma_t = torch.as_tensor(sigma_t, dtype=torch.float64).reshape(-1)
    K_t = torch.stack([gaussian_from_sq_dists(d2, float(s)) for d2, s in zip(d2_t, sigma_t)]).to(torch.float64)
    K_x = gaussian_from_sq_dists(d2_x, float(sigma_x)).to(torch.float64)
    S = renyi_entropy(torch.cat([K_t, K_t * K_x, K_x[None]]), alpha).cpu()
    H_TY = joint_entropy_with_labels(K_t, y, alpha).cpu().to(torch.float64)
    H_Y = label_entropy(y, alpha).cpu().to(torch.float64)
    L = len(K_t)
    H_T, H_XT, H_X = S[:L], S[L:2 * L], S[-1]
    return dict(H_T=H_T, I_XT=H_T + H_X - H_XT, I_TY=H_T + H_Y - H_TY, H_X=H_X, H_Y=H_Y)
