"""Estimation settings in one object, and the authors' protocols as named presets (docs/method.md §4).

Every number an information-plane estimate depends on, besides the network and the data, is a field of
`Estimation`. A protocol fixes all of them as the authors did; a setting given explicitly overrides its preset and
is recorded, so every row of a table says which protocol and which overrides produced it.

- "wickstrom2019": the paper's experiments (the authors' python/network.py with the MLP, CNN and VGG-16 scripts):
  α → 1 (von Neumann), σ_X = 8, softmax on the output, width grid linspace(0.3, 10 · mean d, n) with n = 300 while
  the authors' iteration counter (from 0) is ≤ 20 and 100 after, the mean taken over all N² entries of the distance
  matrix (zero diagonal included), EMA β = 0.9 per iteration.
- "wickstrom2023": the authors' 2023 notebook (cnnMI.ipynb): the same, but grid linspace(0.1, 10 · mean d, n) with
  n = 75 while the iteration is ≤ 40 and 50 after.

Steps count training iterations from 1 (the authors' iteration i is step i + 1), so "iteration ≤ 20" is
`early_steps = 21`. Both protocols use the class-equality label kernel (the Gaussian on one-hot labels with
σ_Y = 0.1, whose off-class entries exp(−200) are 0 in the authors' float32).
"""

import math
from dataclasses import dataclass, field, fields, replace

ESTIMATORS = ("tensor", "multivariate")
WIDTH_RULES = ("alignment", "knn", "silverman")
MEAN_DISTANCES = ("all", "pairs")


@dataclass(frozen=True)
class Estimation:
    """Every setting of one information-plane estimate.

    Args:
        alpha: Rényi order α (1: the von Neumann limit, exactly).
        sigma_x: input kernel width (a number), or a width rule name ("alignment", "knn", "silverman") for the input.
        softmax_output: apply softmax to the last measured layer (the logits) before its kernel.
        estimator: "tensor" (one Gram matrix per layer, the paper's method) or "multivariate" (Yu et al.'s
            per-channel kernels joined by Hadamard product, for layers with a channel axis).
        width_rule: how the hidden layers' widths σ_T are chosen: "alignment", "knn" or "silverman".
        beta: EMA factor of the widths per training step.
        sigma_min, scale: the alignment grid runs from sigma_min to scale × the mean pairwise distance.
        n_candidates_early, n_candidates, early_steps: the grid has n_candidates_early points while the training
            step is ≤ early_steps, then n_candidates.
        mean_distance: "all" averages the N² entries of the distance matrix, zero diagonal included (the authors'
            `d.mean()`); "pairs" averages the N(N−1) off-diagonal pairs (a grid longer by N/(N−1)).
        k: neighbour rank of the "knn" rule.
        gamma: scale γ of the "silverman" rule and of the multivariate estimator's per-channel widths.
        sigma_layers: fixed widths {layer: σ} that bypass the rule.
        protocol: the preset these settings started from.
        overrides: the names of the settings given explicitly against that preset.
    """

    alpha: float = 1.0
    sigma_x: float | str = 8.0
    softmax_output: bool = True
    estimator: str = "tensor"
    width_rule: str = "alignment"
    beta: float = 0.9
    sigma_min: float = 0.3
    scale: float = 10.0
    n_candidates_early: int = 300
    n_candidates: int = 100
    early_steps: int = 21
    mean_distance: str = "all"
    k: int = 10
    gamma: float = 1.0
    sigma_layers: dict = field(default_factory=dict)
    protocol: str = "wickstrom2019"
    overrides: tuple = ()

    def __post_init__(self):
        _check_choice("estimator", self.estimator, ESTIMATORS)
        _check_choice("width_rule", self.width_rule, WIDTH_RULES)
        _check_choice("mean_distance", self.mean_distance, MEAN_DISTANCES)
        if isinstance(self.sigma_x, str):
            _check_choice("sigma_x", self.sigma_x, WIDTH_RULES, "a width > 0 or a width rule name")
        elif not _positive(self.sigma_x):
            raise ValueError(f"sigma_x must be a width > 0 or a width rule name {WIDTH_RULES}, got {self.sigma_x!r}")
        if not _positive(self.alpha):
            raise ValueError(f"alpha must be finite and > 0, got {self.alpha!r}")
        if not (isinstance(self.beta, (int, float)) and 0.0 <= self.beta < 1.0):
            raise ValueError(f"beta must lie in [0, 1), got {self.beta!r}")
        for name in ("sigma_min", "scale", "gamma"):
            if not _positive(getattr(self, name)):
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("n_candidates_early", "n_candidates", "k"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be an integer ≥ 1, got {getattr(self, name)!r}")
        if not (isinstance(self.early_steps, int) and self.early_steps >= 0):
            raise ValueError(f"early_steps must be an integer ≥ 0, got {self.early_steps!r}")
        if not isinstance(self.sigma_layers, dict) or not all(_positive(s) for s in self.sigma_layers.values()):
            raise ValueError(f"sigma_layers must map layer names to widths > 0, got {self.sigma_layers!r}")

    def describe_overrides(self) -> str:
        """The overridden settings as "name=value;…" ("" when the preset is used as it is)."""
        return ";".join(f"{name}={getattr(self, name)!r}" for name in self.overrides)


PROTOCOLS = {
    "wickstrom2019": dict(alpha=1.0, sigma_x=8.0, softmax_output=True, estimator="tensor", width_rule="alignment",
                          beta=0.9, sigma_min=0.3, scale=10.0, n_candidates_early=300, n_candidates=100,
                          early_steps=21, mean_distance="all"),
    "wickstrom2023": dict(alpha=1.0, sigma_x=8.0, softmax_output=True, estimator="tensor", width_rule="alignment",
                          beta=0.9, sigma_min=0.1, scale=10.0, n_candidates_early=75, n_candidates=50,
                          early_steps=41, mean_distance="all"),
}
SETTINGS = tuple(f.name for f in fields(Estimation) if f.name not in ("protocol", "overrides"))


def estimation(protocol="wickstrom2019", **overrides) -> Estimation:
    """The settings of `protocol` with `overrides` applied and recorded.

    Args:
        protocol: a preset name from `PROTOCOLS`, or an `Estimation` to start from (its overrides are kept).
        **overrides: any field of `Estimation` (see `SETTINGS`).

    Example:
        >>> est = estimation("wickstrom2019", alpha=1.01)
        >>> est.alpha, est.sigma_min, est.describe_overrides()
        (1.01, 0.3, 'alpha=1.01')
    """
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown estimation setting(s) {unknown}; valid settings: {', '.join(SETTINGS)}")
    if isinstance(protocol, Estimation):
        named = tuple(sorted(set(protocol.overrides) | set(overrides)))
        return replace(protocol, **overrides, overrides=named)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
    return Estimation(**{**PROTOCOLS[protocol], **overrides}, protocol=protocol, overrides=tuple(sorted(overrides)))


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _check_choice(name: str, value, valid: tuple, what: str | None = None) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}" + (f" ({what})" if what else ""))
