"""Kernel-width selection (docs/method.md §3): alignment with the label kernel [4], smoothed over training steps,
and the k-nearest-neighbour and Silverman-type [5] rules offered as alternatives.

All rules take the squared-distance matrix of a layer, so a width costs no second pass over the activations.
"""

import functools
import math

import torch
from torch import Tensor

from ipkit.checks import check_finite, check_gram, check_same_size, check_sigma

_CHUNK_ELEMENTS = 2**24  # bound on (candidates × N × N) held at once by the alignment search
_COARSE_STEP = 8  # the alignment search scores every 8th candidate first (see `_best_candidates`)
_BOUND_MARGIN = 1e-4  # relative margin on the bounds of the alignment search (see `_best_candidates`)


MEAN_DISTANCES = {"all": 0, "pairs": 1}  # how many diagonal entries per row the mean leaves out


def mean_distance(d2: Tensor, over: str = "all") -> Tensor:
    """Mean Euclidean distance of squared-distance matrices (..., N, N).

    Args:
        over: "all" averages the N² entries, zero diagonal included (the authors' `d.mean()`); "pairs" averages
            the N(N−1) off-diagonal pairs, which is larger by N/(N−1).
    """
    if over not in MEAN_DISTANCES:
        raise ValueError(f"unknown mean_distance {over!r}; valid: {', '.join(MEAN_DISTANCES)}")
    n = d2.shape[-1]
    return d2.clamp(min=0).sqrt().sum(dim=(-2, -1)) / (n * (n - MEAN_DISTANCES[over]))


def alignment_grid(d2: Tensor, n_candidates: int = 100, sigma_min: float = 0.3, scale: float = 10.0,
                   mean: str = "all") -> Tensor:
    """The paper's candidate widths: linspace(σ_min, scale · mean distance, n_candidates) (docs/method.md §3).

    Args:
        d2: (..., N, N) squared distances; one grid per matrix.
        mean: how the mean distance is taken (`mean_distance`).

    Returns:
        (..., n_candidates) widths; for constant activations every candidate is σ_min.
    """
    if n_candidates < 1:
        raise ValueError(f"n_candidates must be ≥ 1, got {n_candidates}")
    if not (sigma_min > 0 and scale > 0):
        raise ValueError(f"sigma_min and scale must be > 0, got sigma_min={sigma_min}, scale={scale}")
    upper = (scale * mean_distance(d2, mean)).clamp(min=sigma_min)  # (...)
    steps = torch.linspace(0.0, 1.0, n_candidates, dtype=d2.dtype, device=d2.device)
    return sigma_min + (upper - sigma_min).unsqueeze(-1) * steps


@functools.lru_cache(maxsize=16)
def _pair_index(n: int, device: torch.device) -> Tensor:
    """Flat indices (P,) of the P = N(N−1)/2 pairs i < j of an N×N matrix, row by row."""
    i, j = torch.triu_indices(n, n, offset=1, device=device)
    return i * n + j


def _label_pairs(d2: Tensor, K_y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The squared distances (..., P) and label kernel entries (P,) of the P = N(N−1)/2 pairs i < j, and tr(K_Y)."""
    pairs = _pair_index(d2.shape[-1], d2.device)
    y = K_y.to(d2.dtype)
    return d2.flatten(-2)[..., pairs], y.flatten()[pairs], y.diagonal().sum()


def _exponent_factors(sigmas: Tensor, dtype: torch.dtype) -> Tensor:
    """−1/(σ² ln 2) for widths σ, in `dtype`: K_σ = 2^(factor · D), as exp2 runs twice as fast as exp on the CPU
    (0.53 against 1.0 ns a float32, measured). Kept within the dtype's range as in `gaussian_from_sq_dists`: for a
    valid, tiny σ the factor would be −∞, and a zero distance between two equal samples would give 0 · (−∞) = NaN
    instead of the kernel's 1."""
    return sigmas.to(dtype).pow(-2).mul_(-1.0 / math.log(2.0)).clamp_(min=-torch.finfo(dtype).max)


def _inner_and_norm(d_pairs: Tensor, y_pairs: Tensor, y_trace: Tensor, factors: Tensor) -> tuple[Tensor, Tensor]:
    """⟨K_σ, K_Y⟩ and ‖K_σ‖ (..., g) for the widths given by their exponent factors (..., g)
    (`_exponent_factors`), from the pairs of `_label_pairs`.

    Uses symmetry and the unit diagonal of K_σ: with e_p = exp(−d_p / σ²), ⟨K_σ, K_Y⟩ = tr(K_Y) + 2 Σ_p e_p (K_Y)_p
    and ‖K_σ‖² = N + 2 Σ_p e_p², so the candidates cost one (g, P) exponential and no N×N matrix each.
    """
    n = (1 + math.isqrt(1 + 8 * d_pairs.shape[-1])) // 2  # P = N(N−1)/2
    d_pairs = d_pairs.unsqueeze(-2)  # (..., 1, P)
    chunk = max(1, _CHUNK_ELEMENTS // d_pairs.numel())
    # 2^x below the dtype's smallest normal number is < 1e−38 against sums ≥ N: clamping there changes nothing,
    # and spares the CPU's subnormal path (measured 12–36× slower than a normal exp).
    lowest = math.log2(torch.finfo(d_pairs.dtype).tiny) + 1.0
    inner, norm = [], []
    for u in factors.split(chunk, dim=-1):
        e = torch.mul(d_pairs, u.unsqueeze(-1)).clamp_(min=lowest).exp2_()  # (..., g, P), one temporary
        inner.append(torch.matmul(e, y_pairs).mul_(2.0).add_(y_trace))
        norm.append(torch.linalg.vector_norm(e, dim=-1).square_().mul_(2.0).add_(n).sqrt_())  # one pass, no e ∘ e
    if len(inner) == 1:
        return inner[0], norm[0]
    return torch.cat(inner, dim=-1), torch.cat(norm, dim=-1)


def _check_search(d2: Tensor, K_y: Tensor) -> None:
    check_gram(K_y, "K_y")
    check_same_size(d2, K_y, names=("d2", "K_y"))
    check_finite(d2, "d2")


def alignment_scores(d2: Tensor, K_y: Tensor, sigmas: Tensor) -> Tensor:
    """Kernel alignment A(K_σ, K_Y) for every candidate σ, from the distance matrix alone (see `_inner_and_norm`).

    Args:
        d2: (..., N, N) squared distances, e.g. one matrix per layer.
        K_y: (N, N) label Gram matrix.
        sigmas: (..., G) candidate widths for each matrix of d2.

    Returns:
        (..., G) alignments.
    """
    _check_search(d2, K_y)
    check_sigma(sigmas, "sigmas")
    inner, norm = _inner_and_norm(*_label_pairs(d2, K_y), _exponent_factors(sigmas, d2.dtype))
    return inner / (norm * torch.linalg.matrix_norm(K_y.to(d2.dtype)))


@functools.lru_cache(maxsize=16)
def _coarse_split(grid: int, step: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Indices of a grid's coarse candidates (every step-th and the last), of the candidates between them, and
    of the gap between two coarse candidates that each of these lies in."""
    coarse = [*range(0, grid - 1, step), grid - 1]
    between = [g for g in range(grid) if g % step and g != grid - 1]
    gap_of = [g // step for g in between]
    return tuple(torch.tensor(v, dtype=torch.long, device=device) for v in (coarse, between, gap_of))


def _best_candidates(d2: Tensor, K_y: Tensor, sigmas: Tensor) -> Tensor:
    """Index (...) of the best-aligned width in each ascending grid sigmas (..., G): the first argmax of
    `alignment_scores`, found without scoring every candidate.

    Every e_p = exp(−d_p / σ²) grows with σ, so along the grid ⟨K_σ, K_Y⟩ and ‖K_σ‖ both grow when d2 and K_Y
    are non-negative: between two scored candidates a < b, no alignment exceeds ⟨K_b, K_Y⟩ / (‖K_a‖ ‖K_Y‖). The
    grid is scored at every `_COARSE_STEP`-th candidate and the last; then the candidates between, in the gaps
    whose bound reaches the best score so far (less `_BOUND_MARGIN`, far above the sums' round-off). On the
    paper's networks this scores ~70 of 300 candidates. With a negative entry in d2 or K_Y there is no bound,
    and every candidate is scored.
    """
    grid = sigmas.shape[-1]
    d_pairs, y_pairs, y_trace = _label_pairs(d2, K_y)
    d_pairs = d_pairs.reshape(-1, d_pairs.shape[-1])  # (L, P)
    u = _exponent_factors(sigmas, d_pairs.dtype).reshape(-1, grid)  # (L, G)
    bounded = float(d_pairs.amin()) >= 0 and float(y_pairs.amin()) >= 0
    coarse, between, gap_of = _coarse_split(grid, _COARSE_STEP if bounded else 1, d2.device)
    inner, norm = _inner_and_norm(d_pairs, y_pairs, y_trace, u[:, coarse])
    scores = u.new_full(u.shape, -math.inf)  # ∝ alignment (‖K_Y‖ is common to all); −∞: not scored
    scores[:, coarse] = inner / norm
    best = scores.amax(dim=-1, keepdim=True)
    wanted = (inner[:, 1:] / norm[:, :-1] >= best * (1.0 - _BOUND_MARGIN))[:, gap_of]  # (L, B)
    count = int(wanted.sum(dim=-1).max()) if between.numel() else 0
    if count:
        # Each grid's wanted candidates first, then others to fill up to the same count (scored all the same).
        pick = between[torch.sort((~wanted).to(torch.uint8), dim=-1, stable=True).indices[:, :count]]
        inner, norm = _inner_and_norm(d_pairs, y_pairs, y_trace, u.gather(-1, pick))
        scores.scatter_(-1, pick, inner / norm)
    return scores.argmax(dim=-1).reshape(d2.shape[:-2])  # the first maximum, as over the whole grid


def alignment_sigmas(
    d2: Tensor, K_y: Tensor, n_candidates: int = 100, sigma_min: float = 0.3, scale: float = 10.0, mean: str = "all"
) -> Tensor:
    """The width σ* on the paper's grid that maximizes kernel alignment with the label kernel (docs/method.md §3),
    for a stack of distance matrices at once (all layers of a network in one batched search).

    .. math:: σ^* = \\arg\\max_σ \\frac{⟨K_σ, K_Y⟩_F}{\\|K_σ\\|_F \\|K_Y\\|_F}

    The maximum is the grid's, found by bounds without scoring every candidate (`_best_candidates`).

    Args:
        d2: (..., N, N) squared distances of the layers' activations.
        K_y: (N, N) label Gram matrix.
        n_candidates: grid size; the paper uses 300 for the first 20 steps, then 100.
        sigma_min: smallest candidate (0.3 in the paper).
        scale: the largest candidate is scale × mean pairwise distance (10 in the paper).
        mean: how the mean distance is taken (`mean_distance`; the authors': "all").

    Returns:
        (...) widths, on d2's device.
    """
    _check_search(d2, K_y)
    sigmas = alignment_grid(d2, n_candidates, sigma_min, scale, mean)
    return sigmas.gather(-1, _best_candidates(d2, K_y, sigmas).unsqueeze(-1)).squeeze(-1)


def alignment_sigma(
    d2: Tensor, K_y: Tensor, n_candidates: int = 100, sigma_min: float = 0.3, scale: float = 10.0, mean: str = "all"
) -> float:
    """`alignment_sigmas` for one (N, N) distance matrix, as a float."""
    return float(alignment_sigmas(d2, K_y, n_candidates, sigma_min, scale, mean))


def knn_sigma(d2: Tensor, k: int = 10) -> float:
    """Mean distance to the k-th nearest neighbour (the authors' earlier rule).

    Args:
        d2: (N, N) squared distances.
        k: neighbour rank, 1 ≤ k ≤ N − 1 (each sample itself is rank 0).
    """
    check_finite(d2, "d2")
    return _knn_sigma(d2, k)


def _knn_sigma(d2: Tensor, k: int) -> float:
    """`knn_sigma` of finite squared distances d2 (N, N); the rank k is checked against N here."""
    n = d2.shape[-1]
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must lie in [1, N−1] = [1, {n - 1}], got {k}")
    d = d2.clamp(min=0).sqrt().sort(dim=-1).values[:, k].mean()
    return max(float(d), torch.finfo(d2.dtype).tiny)  # identical samples: distance 0 is not a width


def silverman_sigma(n: int, dim: int, gamma: float = 1.0) -> float:
    """Silverman-type width σ = γ · N^(−1/(4+d)) used by Yu et al. for the multivariate approach.

    Args:
        n: number of samples N.
        dim: dimension d of one variable (for a channel, H·W).
        gamma: scale γ > 0.
    """
    if n < 2 or dim < 1 or not gamma > 0:
        raise ValueError(f"need n ≥ 2, dim ≥ 1 and gamma > 0, got n={n}, dim={dim}, gamma={gamma}")
    return gamma * n ** (-1.0 / (4 + dim))


def silverman_channel_sigmas(x: Tensor, gamma: float = 1.0) -> Tensor:
    """Yu et al.'s per-channel Silverman-type widths σ_c = γ · s_c · N^(−1/(4+d)) of a conv layer's outputs.

    As in Silverman's rule, each width scales with its variable's spread: s_c is the root mean variance, over the
    samples, of channel c's d = H·W values, so channels of different spread get different widths.

    Args:
        x: (N, C, ...) activations.
        gamma: scale γ > 0.

    Returns:
        (C,) widths in x's floating dtype (at least float32); a channel constant over the samples gets the
        smallest normal number instead of 0.
    """
    if not isinstance(x, Tensor) or x.dim() < 3 or x.shape[0] < 2:
        raise ValueError(f"x must be (N, C, H, ...) with N ≥ 2, got shape {tuple(getattr(x, 'shape', ()))}")
    x = x.flatten(2).to(torch.promote_types(x.dtype, torch.float32))  # (N, C, d)
    check_finite(x, "x")
    return _silverman_channel_sigmas(x, gamma)


def _silverman_channel_sigmas(x: Tensor, gamma: float) -> Tensor:
    """`silverman_channel_sigmas` of activations x (N, C, d), N ≥ 2, in float32 or wider, unchecked; non-finite
    activations give non-finite widths."""
    spread = x.var(dim=0).mean(dim=-1).sqrt()  # (C,)
    return gamma * spread.clamp(min=torch.finfo(x.dtype).tiny) * silverman_sigma(x.shape[0], x.shape[-1], 1.0)


class KernelWidths:
    """Per-layer kernel widths chosen by a rule and smoothed over training steps (docs/method.md §3, step 4).

    .. math:: σ_t = β σ_{t−1} + (1 − β) σ^*_t, \\quad σ_1 = σ^*_1

    β is per training step, as in the paper, which measures every step. When updates come with their
    step and Δt steps apart (a sparser measurement schedule), the previous width is weighted by β^Δt: the
    smoothing then forgets at the same rate per step whatever the schedule.

    Args:
        rule: "alignment" (the paper's), "knn" or "silverman".
        beta: smoothing factor β in [0, 1); 0 disables smoothing.
        n_candidates_early, n_candidates, early_steps: the alignment grid has n_candidates_early points while the
            training step is ≤ early_steps, then n_candidates (the authors: 300 and 100 while their iteration
            counter, which starts at 0, is ≤ 20, i.e. steps 1–21). Updates without a step count as steps 1, 2, …
        sigma_min, scale, mean_distance: the alignment grid (see `alignment_grid`).
        k: neighbour rank for "knn".
        gamma: scale for "silverman".

    Attributes:
        sigmas_: dict layer -> current smoothed width.
        raw_: dict layer -> the rule's last width σ*_t before smoothing.
        at_bound_: dict layer -> whether that σ*_t is the grid's first or last candidate (alignment rule).
        updates_: dict layer -> number of updates so far.
        steps_: dict layer -> training step of the last update.
    """

    RULES = ("alignment", "knn", "silverman")

    def __init__(self, rule="alignment", beta=0.9, n_candidates_early=300, n_candidates=100, early_steps=21,
                 sigma_min=0.3, scale=10.0, k=10, gamma=1.0, mean_distance="all"):
        if rule not in self.RULES:
            raise ValueError(f"unknown width rule {rule!r}; valid rules: {', '.join(self.RULES)}")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must lie in [0, 1), got {beta}")
        if mean_distance not in MEAN_DISTANCES:
            raise ValueError(f"unknown mean_distance {mean_distance!r}; valid: {', '.join(MEAN_DISTANCES)}")
        self.rule, self.beta = rule, beta
        self.n_candidates_early, self.n_candidates, self.early_steps = n_candidates_early, n_candidates, early_steps
        self.sigma_min, self.scale, self.k, self.gamma = sigma_min, scale, k, gamma
        self.mean_distance = mean_distance
        self.sigmas_: dict[str, float] = {}
        self.raw_: dict[str, float] = {}
        self.at_bound_: dict[str, bool] = {}
        self.updates_: dict[str, int] = {}
        self.steps_: dict[str, int] = {}

    @classmethod
    def from_estimation(cls, rule: str, e) -> "KernelWidths":
        """KernelWidths with rule `rule` and the width settings of an `ipkit.protocol.Estimation` `e`."""
        return cls(rule, e.beta, e.n_candidates_early, e.n_candidates, e.early_steps, e.sigma_min, e.scale, e.k,
                   e.gamma, e.mean_distance)

    def _step(self, layer: str, step: int | None) -> int:
        return self.updates_.get(layer, 0) + 1 if step is None else step

    def _n_candidates(self, layer: str, step: int | None = None) -> int:
        return self.n_candidates_early if self._step(layer, step) <= self.early_steps else self.n_candidates

    def _check(self, d2: Tensor, K_y: Tensor | None, dims: list[int] | None) -> None:
        """Check what the rule reads: d2 (L, N, N) finite, and K_y (alignment) or dims (silverman) given."""
        if self.rule == "alignment":
            if K_y is None:
                raise ValueError("the alignment rule needs the label Gram matrix K_y")
            _check_search(d2, K_y)
        elif self.rule == "knn":
            check_finite(d2, "d2")
        elif dims is None:
            raise ValueError("the silverman rule needs the dimension of one sample (dim)")

    def raw_sigmas(self, layers: list[str], d2: Tensor, K_y: Tensor | None = None,
                   dims: list[int] | None = None, step: int | None = None) -> tuple[list[float], list[bool]]:
        """The rule's widths σ*_t for this step, before smoothing, for layers with distances d2 (L, N, N), and
        whether each lies at its grid's first or last candidate (always False for the other rules)."""
        self._check(d2, K_y, dims)
        return self._raw_sigmas(layers, d2, K_y, dims, step)

    def _raw_sigmas(self, layers: list[str], d2: Tensor, K_y: Tensor | None, dims: list[int] | None,
                    step: int | None) -> tuple[list[float], list[bool]]:
        """`raw_sigmas` of checked arguments."""
        if self.rule == "alignment":
            raw, at_bound = [math.nan] * len(layers), [False] * len(layers)
            sizes = [self._n_candidates(layer, step) for layer in layers]
            for n in set(sizes):  # one batched search per grid size
                idx = [i for i, size in enumerate(sizes) if size == n]
                grid = alignment_grid(d2[idx], n, self.sigma_min, self.scale, self.mean_distance)
                best = _best_candidates(d2[idx], K_y, grid)
                found = grid.gather(-1, best.unsqueeze(-1)).squeeze(-1).tolist()
                edge = ((best == 0) | (best == n - 1)).tolist() if n > 1 else [True] * len(idx)
                for i, sigma, bound in zip(idx, found, edge):
                    raw[i], at_bound[i] = sigma, bound
            return raw, at_bound
        if self.rule == "knn":
            return [_knn_sigma(d, self.k) for d in d2], [False] * len(layers)
        return [silverman_sigma(d2.shape[-1], dim, self.gamma) for dim in dims], [False] * len(layers)

    def update_all(self, layers: list[str], d2: Tensor, K_y: Tensor | None = None,
                   dims: list[int] | None = None, step: int | None = None) -> list[float]:
        """Choose this step's widths for several layers at once (d2: (L, N, N)), smooth, store and return them."""
        self._check(d2, K_y, dims)
        return self._update_all(layers, d2, K_y, dims, step)

    def _update_all(self, layers: list[str], d2: Tensor, K_y: Tensor | None, dims: list[int] | None,
                    step: int | None) -> list[float]:
        """`update_all` of checked arguments (the tracker's: its distances and labels are checked already)."""
        out = []
        for layer, raw, bound in zip(layers, *self._raw_sigmas(layers, d2, K_y, dims, step)):
            prev = self.sigmas_.get(layer)
            gap = 1 if step is None or layer not in self.steps_ else max(1, step - self.steps_[layer])
            beta = self.beta**gap
            sigma = raw if prev is None else beta * prev + (1.0 - beta) * raw
            if not math.isfinite(sigma) or sigma <= 0:
                raise ValueError(f"layer {layer!r}: width rule {self.rule!r} gave σ = {sigma}")
            self.sigmas_[layer], self.raw_[layer], self.at_bound_[layer] = sigma, raw, bound
            self.updates_[layer] = self.updates_.get(layer, 0) + 1
            if step is not None:
                self.steps_[layer] = step
            out.append(sigma)
        return out

    def raw_sigma(self, layer: str, d2: Tensor, K_y: Tensor | None = None, dim: int | None = None,
                  step: int | None = None) -> float:
        """The rule's width σ*_t for one layer (d2: (N, N)), before smoothing."""
        return self.raw_sigmas([layer], d2[None], K_y, None if dim is None else [dim], step)[0][0]

    def update(self, layer: str, d2: Tensor, K_y: Tensor | None = None, dim: int | None = None,
               step: int | None = None) -> float:
        """Choose this step's width for `layer`, smooth it with the previous one, store and return it."""
        return self.update_all([layer], d2[None], K_y, None if dim is None else [dim], step)[0]
