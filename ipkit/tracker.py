"""Information-plane tracking (PAPER.md §4): per measured layer T, H(T), I(X;T), I(T;Y) and the width σ_T.

The model is run once per measurement with forward hooks; each layer's output is turned into a squared
distance matrix as soon as it is produced, and all layers' entropies are computed together in batched calls.
"""

import math
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import Tensor, nn

from ipkit.checks import all_finite, check_labels
from ipkit.entropy import joint_entropy_with_labels, label_entropy, renyi_entropy
from ipkit.hooks import capture, resolve_layers
from ipkit.kernels import _sq_dists, channel_sq_dists, gaussian_from_sq_dists, label_gram, pairwise_sq_dists
from ipkit.widths import KernelWidths, silverman_sigma

ESTIMATORS = ("tensor", "multivariate")
COLUMNS = ["run", "seed", "split", "epoch", "step", "layer", "layer_index", "H_T", "I_XT", "I_TY", "sigma_T",
           "H_X", "H_Y", "sigma_X", "alpha", "n", "estimator", "width_rule"]


class NonFiniteActivations(ValueError):
    """A measured layer's activations, or their squared distances, hold NaN or Inf: the network has diverged."""


@dataclass
class LayerKernel:
    """What one layer contributes to a measurement: its distances, or directly its Gram matrix."""
    d2: Tensor | None = None  # (N, N) squared distances (tensor kernel)
    K: Tensor | None = None  # (N, N) Gram matrix (multivariate kernel)
    sigma: float = math.nan
    dim: int = 1  # size of one sample, for the Silverman-type rule
    rule: str = ""  # how sigma was chosen: the width rule, "fixed" or "silverman" (multivariate)


@dataclass
class InformationPlaneTracker:
    """Measures the information plane of `model` and collects one row per (split, step, layer).

    Args:
        model: any `nn.Module`; it is measured in eval mode under no_grad and put back in its previous mode.
        num_classes: number of classes of the labels.
        layers: module names in depth order; default `model.measured_layers()`.
        softmax_output: apply softmax to the last layer's output (the logits) before its kernel.
        sigma_x: fixed input width (8 in the paper), or a width rule name for the input too.
        alpha: Rényi order α.
        estimator: "tensor" (one Gram matrix per layer, the paper's method) or "multivariate"
            (Yu et al.: per-channel Gram matrices at Silverman-type widths, joined by Hadamard product;
            used for layers with a channel axis, i.e. outputs of shape (N, C, H, W)).
        width_rule, beta, width_options: how σ_T is chosen: `KernelWidths(width_rule, beta, **width_options)`,
            one instance per split so train and test widths are smoothed separately.
        sigma_layers: fixed widths {layer: σ} that bypass the rule.
        silverman_gamma: γ of the Silverman-type per-channel widths of the multivariate estimator.
        run, seed: copied into every row.

    Attributes:
        rows_: the collected rows (see `COLUMNS`).
        widths_: split -> KernelWidths.
    """

    model: nn.Module
    num_classes: int
    layers: list[str] | None = None
    softmax_output: bool = True
    sigma_x: float | str = 8.0
    alpha: float = 1.01
    estimator: str = "tensor"
    width_rule: str = "alignment"
    beta: float = 0.9
    width_options: dict = field(default_factory=dict)
    sigma_layers: dict = field(default_factory=dict)
    silverman_gamma: float = 1.0
    run: int = 0
    seed: int = 0
    rows_: list = field(default_factory=list, init=False)
    widths_: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        if self.layers is None:
            if not hasattr(self.model, "measured_layers"):
                raise ValueError(f"{type(self.model).__name__} has no measured_layers(); pass layers=[...] "
                                 "with names from model.named_modules()")
            self.layers = list(self.model.measured_layers())
        resolve_layers(self.model, self.layers)
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; valid: {', '.join(ESTIMATORS)}")
        KernelWidths(self.width_rule, self.beta, **self.width_options)  # validates the rule early

    def _widths(self, split: str) -> KernelWidths:
        if split not in self.widths_:
            self.widths_[split] = KernelWidths(self.width_rule, self.beta, **self.width_options)
        return self.widths_[split]

    def _layer_kernel(self, name: str, out: Tensor) -> LayerKernel:
        """Reduce a layer's output at once to its (N, N) squared distances (or Gram matrix)."""
        if name == self.layers[-1] and self.softmax_output:
            out = torch.softmax(out.flatten(1), dim=1)
        multivariate = self.estimator == "multivariate" and out.dim() >= 3
        d2 = channel_sq_dists(out).sum(dim=0) if multivariate else _sq_dists(out.flatten(1))  # (N, N)
        lk = LayerKernel(d2=d2, dim=out[0].numel())
        if multivariate:
            # Silverman-type widths are equal for all channels (same H·W), so the Hadamard product of the
            # channel kernels is exp(−Σ_c D_c / σ²), the Gaussian kernel of the summed distances.
            lk.sigma = silverman_sigma(out.shape[0], out[0, 0].numel(), self.silverman_gamma)
            lk.rule = "silverman"
            lk.K = gaussian_from_sq_dists(d2, lk.sigma)
        return lk

    def _check_finite(self, kernels: dict[str, LayerKernel]) -> None:
        """One device sync for all layers: NaN/Inf activations, or distances that overflow, make d2 non-finite.
        Only when some layer's sum is not finite are its entries looked at: a sum can overflow on its own."""
        finite = torch.stack([torch.isfinite(kernels[name].d2.sum()) for name in self.layers])
        if bool(finite.all()):
            return
        for name in self.layers:
            if not all_finite(kernels[name].d2):
                raise NonFiniteActivations(f"layer {name!r} produced NaN or Inf activations (or distances that "
                                           "overflow its dtype); the network has diverged (lower the learning "
                                           "rate) or its input holds non-finite values")

    @torch.no_grad()
    def measure(self, x: Tensor, y: Tensor, *, step: int, epoch: int = 0, split: str = "train") -> list[dict]:
        """Measure every layer on samples (x, y) and append one row per layer to `rows_`.

        Args:
            x: (N, ...) inputs, moved to the model's device.
            y: (N,) integer labels.
            step: training step t (recorded; also drives the width grid schedule).
            epoch: recorded in the rows.
            split: "train" (the batch just trained on) or "test" (fresh held-out samples); widths are kept
                per split.

        Returns:
            The new rows.
        """
        check_labels(y, self.num_classes, n=len(x))  # before the forward pass: an empty or mismatched batch
        device = next(self.model.parameters()).device
        x, y = x.to(device), y.to(device)
        kernels: dict[str, LayerKernel] = {}
        was_training = self.model.training
        self.model.eval()
        try:
            def reduce(name: str, out: Tensor) -> None:
                kernels[name] = self._layer_kernel(name, out)

            with capture(self.model, self.layers, reduce):
                self.model(x)
        finally:
            self.model.train(was_training)
        with torch.inference_mode():  # the estimate touches no model state: spare autograd's bookkeeping
            return self._estimate(kernels, x, y, step=step, epoch=epoch, split=split)

    def _estimate(self, kernels: dict[str, LayerKernel], x: Tensor, y: Tensor, *, step: int, epoch: int,
                  split: str) -> list[dict]:
        """Widths, kernels and entropies of all layers from their distances; appends and returns the rows."""
        K_y = label_gram(y, self.num_classes)
        widths = self._widths(split)
        d2_x = pairwise_sq_dists(x)
        if isinstance(self.sigma_x, str):
            sigma_x = widths.update("__input__", d2_x, K_y.to(d2_x.dtype), dim=x[0].numel(), step=step)
        else:
            sigma_x = float(self.sigma_x)
        K_x = gaussian_from_sq_dists(d2_x, sigma_x)

        self._check_finite(kernels)
        free = [n for n in self.layers if kernels[n].K is None and n not in self.sigma_layers]
        if free:  # one batched width search for all layers
            d2 = torch.stack([kernels[n].d2 for n in free])
            sigmas = widths.update_all(free, d2, K_y.to(d2.dtype), dims=[kernels[n].dim for n in free], step=step)
            for name, sigma in zip(free, sigmas):
                kernels[name].sigma, kernels[name].rule = sigma, self.width_rule
        K_t = []
        for name in self.layers:
            lk = kernels[name]
            if lk.K is None:
                lk.sigma, lk.rule = self.sigma_layers.get(name, lk.sigma), lk.rule or "fixed"
                lk.K = gaussian_from_sq_dists(lk.d2, lk.sigma)
            K_t.append(lk.K.to(torch.float64))
        K_t = torch.stack(K_t)  # (L, N, N)
        K_x = K_x.to(torch.float64)
        # One batched call for H(T) of all layers, H(X,T) and H(X); H(T,Y) by class blocks, H(Y) from class counts.
        S = renyi_entropy(torch.cat([K_t, K_t * K_x, K_x[None]]), self.alpha).cpu()
        H_TY = joint_entropy_with_labels(K_t, y, self.alpha).cpu()
        H_Y = float(label_entropy(y, self.alpha))
        L = len(self.layers)
        H_T, H_XT, H_X = S[:L], S[L:2 * L], float(S[-1])

        new = [
            dict(run=self.run, seed=self.seed, split=split, epoch=epoch, step=step, layer=name, layer_index=i,
                 H_T=float(H_T[i]), I_XT=float(H_T[i] + H_X - H_XT[i]), I_TY=float(H_T[i] + H_Y - H_TY[i]),
                 sigma_T=kernels[name].sigma, H_X=H_X, H_Y=H_Y, sigma_X=sigma_x, alpha=self.alpha, n=x.shape[0],
                 estimator=self.estimator, width_rule=kernels[name].rule)
            for i, name in enumerate(self.layers)
        ]
        self.rows_.extend(new)
        return new

    def table(self) -> pd.DataFrame:
        """The collected rows as a long-format DataFrame with columns `COLUMNS`."""
        return pd.DataFrame(self.rows_, columns=COLUMNS)


def measurement_due(step: int, every: int = 1, dense_until: int = 0) -> bool:
    """Whether step t is measured: every step up to `dense_until`, then every `every`-th step."""
    if every < 1:
        raise ValueError(f"every must be ≥ 1, got {every}")
    return step <= dense_until or step % every == 0


def tracking_callback(tracker: InformationPlaneTracker, *, n: int = 100, x_test: Tensor | None = None,
                      y_test: Tensor | None = None, n_test: int = 200, every: int = 1, dense_until: int = 0,
                      splits=("train", "test"), seed: int = 0):
    """An `on_step(step, epoch, xb, yb)` callback for `ipkit.train.train` that measures the IP (PAPER.md §4).

    At each due step (`measurement_due`) it measures, for split "train", the first `n` samples of the
    mini-batch just trained on and, for split "test", `n_test` test samples freshly drawn with a seeded
    generator from (x_test, y_test).
    """
    unknown = set(splits) - {"train", "test"}
    if unknown or not splits:
        raise ValueError(f"splits must be a non-empty subset of ('train', 'test'), got {tuple(splits)}")
    if "test" in splits and (x_test is None or y_test is None):
        raise ValueError("split 'test' needs x_test and y_test")
    generator = torch.Generator().manual_seed(seed)

    def on_step(step: int, epoch: int, xb: Tensor, yb: Tensor) -> None:
        if not measurement_due(step, every, dense_until):
            return
        if "train" in splits:
            tracker.measure(xb[:n], yb[:n], step=step, epoch=epoch, split="train")
        if "test" in splits:
            idx = torch.randperm(len(y_test), generator=generator)[:n_test].to(y_test.device)
            tracker.measure(x_test[idx], y_test[idx], step=step, epoch=epoch, split="test")

    return on_step
