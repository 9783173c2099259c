"""Input validation shared by the estimator: every bad input raises a ValueError that names the argument.

The public functions check their arguments here, where data enters; the pipeline behind them
(`ipkit.InformationPlaneTracker.measure` → `ipkit.plane._information_plane` → the private cores of kernels, widths
and entropy) is handed checked data and does not check it again.
"""

import math

import torch
from torch import Tensor


def flatten_samples(x: Tensor, name: str = "x") -> Tensor:
    """Check the shape of a batch of samples (N, ...) and return it flattened to (N, D), floating.

    Finiteness is left to `check_distances`, which looks at the N × N result instead of the N × D input.

    Raises:
        ValueError: not a tensor, fewer than 2 samples, or no features.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 1 or x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples along dim 0, got shape {tuple(x.shape)}")
    x = x.reshape(x.shape[0], -1)
    if x.shape[1] == 0:
        raise ValueError(f"{name} has no features per sample (shape {tuple(x.shape)})")
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


def check_distances(d2: Tensor, x: Tensor, name: str = "x") -> Tensor:
    """Return the squared distances d2 of samples x after checking they are finite.

    NaN or Inf anywhere in x makes d2 non-finite, so one reduction over d2 checks x too; only on failure is x
    searched, to say which of the two went wrong.

    Raises:
        ValueError: x holds NaN or Inf (with how many), or its squared distances overflow x's dtype.
    """
    if all_finite(d2):
        return d2
    check_finite(x, name)
    raise ValueError(
        f"the squared distances of {name} overflow {x.dtype} (largest |value| {float(x.abs().max()):.3g}); "
        f"rescale {name} or pass it in float64"
    )


def all_finite(t: Tensor) -> bool:
    """Whether every entry of `t` is finite: one reduction without a temporary (NaN and ±Inf propagate to the
    sum), and an entry-wise look only when the sum is not finite, which may also be an overflow of the sum."""
    return math.isfinite(t.sum()) or bool(torch.isfinite(t).all())


def check_finite(t: Tensor, name: str) -> None:
    """Raise if `t` holds a NaN or an Inf, saying how many."""
    if all_finite(t):
        return
    bad = ~torch.isfinite(t)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or Inf) out of {t.numel()}; "
            "check the activations or inputs that produced it"
        )


def check_sigma(sigma, name: str = "sigma") -> Tensor:
    """Return `sigma` as a tensor after checking every entry is finite and > 0.

    A Python number becomes a float64 tensor, so a float64 computation keeps σ's full precision.
    """
    try:
        s = sigma if isinstance(sigma, Tensor) else torch.as_tensor(sigma, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a number or a tensor of widths > 0, got {sigma!r}") from None
    if not s.is_floating_point():
        s = s.to(torch.get_default_dtype())
    if s.numel() == 0 or not torch.isfinite(s).all() or (s <= 0).any():
        raise _bad_width(sigma, name)
    return s


def check_width(sigma: float, name: str = "sigma") -> float:
    """Return the number `sigma` as a float after checking it is finite and > 0 (`check_sigma` for a number,
    without tensors)."""
    s = float(sigma)
    if not (math.isfinite(s) and s > 0):
        raise _bad_width(sigma, name)
    return s


def _bad_width(sigma, name: str) -> ValueError:
    return ValueError(f"{name} must be finite and > 0, got {sigma!r}")


def check_alpha(alpha: float) -> float:
    """Return `alpha` as a float after checking 0 < alpha < inf."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number > 0, got {alpha!r}") from None
    if not math.isfinite(a) or a <= 0:
        raise ValueError(f"alpha must be finite and > 0, got {alpha!r}")
    return a


def check_gram(K: Tensor, name: str = "K") -> tuple[float, float]:
    """Check a Gram matrix or a stack of them: (..., N, N), N ≥ 2, finite, positive diagonal.

    Returns:
        The smallest and the largest diagonal entry (both 1 for a unit-diagonal kernel).
    """
    if not isinstance(K, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(K).__name__}")
    if K.dim() < 2 or K.shape[-1] != K.shape[-2]:
        raise ValueError(f"{name} must be square (..., N, N), got shape {tuple(K.shape)}")
    if K.shape[-1] < 2:
        raise ValueError(f"{name} needs at least 2 samples, got shape {tuple(K.shape)}")
    check_finite(K, name)
    lo, hi = (float(v) for v in torch.aminmax(K.diagonal(dim1=-2, dim2=-1)))
    if lo <= 0:
        raise ValueError(f"{name} must have a positive diagonal (a kernel has κ(x, x) > 0)")
    return lo, hi


def check_labels(y: Tensor, num_classes: int | None = None, n: int | None = None, name: str = "y") -> None:
    """Check integer labels: a 1-D integer tensor of ≥ 2 samples (exactly n if given), values in
    [0, num_classes) (or ≥ 0 when num_classes is None)."""
    if not isinstance(y, Tensor) or y.dim() != 1 or y.is_floating_point() or y.is_complex():
        raise ValueError(f"{name} must be a 1-D tensor of integer labels, got {getattr(y, 'dtype', type(y))} "
                         f"of shape {tuple(getattr(y, 'shape', ()))}")
    if y.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples, got {y.shape[0]}")
    if n is not None and y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} labels for {n} samples; pass one label per sample")
    if num_classes is not None and int(num_classes) < 1:
        raise ValueError(f"num_classes must be ≥ 1, got {num_classes}")
    lo, hi = (int(v) for v in torch.aminmax(y))
    if lo < 0 or (num_classes is not None and hi >= num_classes):
        bounds = f"[0, {num_classes})" if num_classes is not None else "[0, ∞)"
        raise ValueError(f"labels must lie in {bounds}, got values from {lo} to {hi}")


def check_sq_dists(d2: Tensor, name: str = "d2", dim: int | None = None) -> None:
    """Check squared distances: a tensor (..., N, N) (exactly `dim` dimensions if given), N ≥ 2, finite, ≥ 0.

    Raises:
        ValueError: not a tensor, the wrong shape, NaN or Inf (with how many), or a negative entry.
    """
    if not isinstance(d2, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(d2).__name__}")
    if d2.dim() < 2 or d2.shape[-1] != d2.shape[-2] or (dim is not None and d2.dim() != dim):
        want = "(N, N)" if dim == 2 else "(L, N, N)" if dim == 3 else "(..., N, N)"
        raise ValueError(f"{name} must be {want} squared distances, got shape {tuple(d2.shape)}")
    if d2.shape[-1] < 2:
        raise ValueError(f"{name} needs at least 2 samples, got shape {tuple(d2.shape)}")
    check_finite(d2, name)
    low = float(d2.amin()) if d2.numel() else 0.0
    if low < 0:
        raise ValueError(f"{name} must hold squared distances ≥ 0, got {low:.3g}; clamp round-off with "
                         f"{name}.clamp(min=0)")


def check_same_size(*Ks: Tensor, names=None) -> None:
    """Raise if Gram matrices disagree on the number of samples N; `names` label them in the message."""
    sizes = [K.shape[-1] for K in Ks]
    if len(set(sizes)) > 1:
        names = names or [f"Ks[{i}]" for i in range(len(Ks))]
        got = ", ".join(f"{n} has N = {s}" for n, s in zip(names, sizes))
        raise ValueError(f"Gram matrices must share the sample count N: {got}")
