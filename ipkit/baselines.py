"""Baseline estimators of the information plane from the literature, in bits: binning and the KDE upper bound.

Both take a layer's activations T (N, ...) and integer labels Y (N,), and return (H(T), I(X;T), I(T;Y)) as floats,
so their values sit in the same table as the matrix-based estimates. Each sample is its own input: the network
is deterministic and the N inputs are distinct, so H(T|X) is 0 for binning and the noise's entropy for KDE.

- Binning (Shwartz-Ziv & Tishby, "Opening the black box of deep neural networks via information", 2017):
  every activation is put in one of `n_bins` equal-width bins spanning the layer's range [min T, max T]; a sample's
  pattern of bins over the layer's neurons is a discrete symbol. H(T) is the entropy of the symbols,
  I(X;T) = H(T) − H(T|X) = H(T), and I(T;Y) = H(T) − Σ_c p_c H(T | Y = c).
- KDE upper bound (Kolchinsky & Tracey, "Estimating mixture entropy with pairwise distances", Entropy 19(7):361,
  2017; used by Saxe et al., "On the information bottleneck theory of deep learning", ICLR 2018): T plus Gaussian
  noise Z ~ N(0, σ² I_d) is a mixture of N Gaussians of equal weight centred on the samples; with the KL divergence
  ‖t_i − t_j‖² / (2σ²) between two of them, its entropy is at most

  .. math:: \\hat H(T + Z) = \\frac{d}{2} \\ln(2π e σ^2) − \\frac{1}{N} \\sum_i \\ln \\frac{1}{N}
            \\sum_j \\exp\\left(−\\frac{\\|t_i − t_j\\|^2}{2σ^2}\\right)  \\quad (nats),

  H(T+Z | X) = d/2 ln(2πeσ²) (the noise), so I(X;T) = Ĥ − d/2 ln(2πeσ²) ≤ ln N, and
  I(T;Y) = Ĥ − Σ_c p_c Ĥ_c, with Ĥ_c the bound on the samples of class c (the noise term cancels).
"""

import math

import torch
from torch import Tensor

from ipkit.checks import check_finite, check_labels, check_width, flatten_samples
from ipkit.kernels import pairwise_sq_dists


def _check_inputs(t: Tensor, y: Tensor | None) -> Tensor:
    """t (N, ...) as (N, D) float64 after checking t and y; y may be None."""
    x = flatten_samples(t, "t").to(torch.float64)
    check_finite(x, "t")
    if y is not None:
        check_labels(y, n=x.shape[0])
    return x


def _bin_symbols(x: Tensor, n_bins: int) -> Tensor:
    """The bin of every activation of x (N, D): n_bins equal-width bins over [min x, max x], as (N, D) int64."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer ≥ 1, got {n_bins!r}")
    lo, hi = float(x.min()), float(x.max())
    if hi == lo:  # a constant layer: one bin, one symbol
        return torch.zeros_like(x, dtype=torch.int64)
    index = torch.floor((x - lo) / (hi - lo) * n_bins).to(torch.int64)
    return index.clamp(max=n_bins - 1)  # max x falls on the last bin's right edge


def _symbol_entropy(symbols: Tensor) -> float:
    """Entropy in bits of the rows of symbols (N, D) as discrete symbols (their empirical distribution)."""
    _, counts = torch.unique(symbols, dim=0, return_counts=True)
    p = counts.to(torch.float64) / symbols.shape[0]
    return float(-(p * torch.log2(p)).sum())


def _class_average(value, y: Tensor) -> float:
    """Σ_c p_c value(mask_c) over the classes c present in y, p_c the class proportions."""
    classes, counts = torch.unique(y, return_counts=True)
    return sum(float(n) / y.shape[0] * value(y == c) for c, n in zip(classes, counts))


def binned_entropy(t: Tensor, n_bins: int = 30) -> float:
    """Entropy H(T) in bits of a binned layer (Shwartz-Ziv & Tishby 2017): each sample's bins form a symbol.

    Args:
        t: (N, ...) activations of N samples (flattened per sample).
        n_bins: equal-width bins spanning the layer's range [min t, max t], the same for every neuron.

    Returns:
        H(T) in bits, between 0 (a constant layer) and log2 N (every sample its own symbol).

    Example:
        >>> binned_entropy(torch.tensor([[0.0], [1.0], [2.0], [3.0]]), n_bins=4)  # four symbols
        2.0
    """
    return _symbol_entropy(_bin_symbols(_check_inputs(t, None), n_bins))


def binning_information(t: Tensor, y: Tensor, n_bins: int = 30) -> tuple[float, float, float]:
    """H(T), I(X;T) and I(T;Y) in bits of a binned layer of a deterministic network (Shwartz-Ziv & Tishby 2017).

    .. math:: I(X;T) = H(T), \\quad I(T;Y) = H(T) − \\sum_c p_c H(T \\mid Y = c)

    The bins are the layer's (`binned_entropy`), the same for the whole batch and for each class.

    Args:
        t: (N, ...) activations.
        y: (N,) integer labels.
        n_bins: equal-width bins over the layer's range.

    Returns:
        (H_T, I_XT, I_TY), with 0 ≤ I(T;Y) ≤ min(H(T), H(Y)).
    """
    symbols = _bin_symbols(_check_inputs(t, y), n_bins)
    h_t = _symbol_entropy(symbols)
    h_t_given_y = _class_average(lambda mask: _symbol_entropy(symbols[mask]), y)
    return h_t, h_t, h_t - h_t_given_y


def _kde_entropy_nats(x: Tensor, noise_variance: float) -> float:
    """The pairwise-distance (KL) upper bound on H(x + Z), Z ~ N(0, σ² I), in nats (module docstring)."""
    n, d = x.shape
    d2 = pairwise_sq_dists(x).clamp(min=0.0)  # (N, N)
    log_mean = torch.logsumexp(-d2 / (2.0 * noise_variance), dim=1) - math.log(n)  # (N,) ln (1/N) Σ_j ...
    return d / 2.0 * math.log(2.0 * math.pi * math.e * noise_variance) - float(log_mean.mean())


def kde_information(t: Tensor, y: Tensor, noise_variance: float = 0.1) -> tuple[float, float, float]:
    """H(T), I(X;T) and I(T;Y) in bits by the KDE upper bound (Kolchinsky & Tracey 2017; Saxe et al. 2018).

    T is taken with additive Gaussian noise of variance σ² per unit; H(T) is the pairwise-distance upper bound
    on its entropy (module docstring), H(T|X) = d/2 log2(2πeσ²), H(T|Y=c) the bound within class c.
    H(T) is a differential entropy: it can be negative, and it grows with d.

    Args:
        t: (N, ...) activations (d values per sample).
        y: (N,) integer labels.
        noise_variance: σ² of the added noise (Saxe et al. use 0.1).

    Returns:
        (H_T, I_XT, I_TY), with 0 ≤ I(X;T) ≤ log2 N.
    """
    x = _check_inputs(t, y)
    noise_variance = check_width(noise_variance, "noise_variance")
    h_t = _kde_entropy_nats(x, noise_variance)
    h_t_given_x = x.shape[1] / 2.0 * math.log(2.0 * math.pi * math.e * noise_variance)
    # A class of one sample: its bound is the noise's entropy (the j = i term alone).
    h_t_given_y = _class_average(lambda mask: _kde_entropy_nats(x[mask], noise_variance)
                                 if int(mask.sum()) > 1 else h_t_given_x, y)
    bits = 1.0 / math.log(2.0)
    return h_t * bits, (h_t - h_t_given_x) * bits, (h_t - h_t_given_y) * bits
