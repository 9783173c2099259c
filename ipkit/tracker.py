"""Information-plane tracking (docs/method.md §4): per measured layer T, H(T), I(X;T), I(T;Y) and the width σ_T.

The model is run once per measurement with forward hooks; each layer's output is turned into a squared
distance matrix as soon as it is produced, and `ipkit.plane.information_plane` computes all layers' entropies
in batched calls. The tracker keeps what lives across measurements: the widths smoothed over steps and the rows.

Inputs are checked once, where they enter (`prepare_batch`: the labels and the batch size; `estimate`: the
distances of the layers and of the input, finite); from there the tracker calls the unchecked cores of
`ipkit.plane`, `ipkit.widths` and `ipkit.entropy`.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ipkit.baselines import binning_information, kde_information
from ipkit.checks import all_finite, check_distances, check_labels
from ipkit.entropy import _label_entropy
from ipkit.hooks import capture, eval_mode, resolve_layers
from ipkit.kernels import _channel_sq_dists, _sq_dists
from ipkit.plane import _information_plane
from ipkit.protocol import Estimation, estimation
from ipkit.train import model_device
from ipkit.widths import KernelWidths, _silverman_channel_sigmas

COLUMNS = ["run", "seed", "split", "epoch", "step", "layer", "layer_index", "H_T", "I_XT", "I_TY", "sigma_T",
           "H_X", "H_Y", "sigma_X", "alpha", "n", "estimator", "width_rule", "protocol", "overrides", "flags"]
BASELINES = ("binning", "kde")
SATURATION_TOL = 0.01  # bits: an entropy this close to log2 N or to 0 is flagged


class NonFiniteActivations(ValueError):
    """A measured layer's activations, or their squared distances, hold NaN or Inf: the network has diverged."""


class DegenerateMeasurement(UserWarning):
    """A measurement that is numerically meaningless: a width at its grid's bound, a kernel that is the identity
    or all ones. Given once per tracker, layer and kind; the rows say it in their `flags` column."""


@dataclass
class LayerOutput:
    """What one layer's output is reduced to as the forward pass produces it."""
    d2: Tensor  # (N, N) squared distances (for the multivariate kernel: Σ_c D_c / σ_c², used at σ = 1)
    dim: int  # size of one sample, for the Silverman-type rule
    sigma: float | None = None  # a width fixed before the search (sigma_layers, multivariate), else chosen
    rule: str | None = None  # how that width was fixed
    reported_sigma: float | None = None  # the width recorded in the rows, when it is not `sigma`
    t: Tensor | None = None  # (N, D) activations, kept for the baseline estimators


class InformationPlaneTracker:
    """Measures the information plane of `model` and collects one row per (split, step, layer).

    Args:
        model: any `nn.Module`; it is measured in eval mode under no_grad and put back in its previous mode.
        num_classes: number of classes of the labels.
        layers: module names in depth order (a list; "name[i]" picks element i of a tuple output); default
            `model.measured_layers()`.
        protocol: a preset name from `ipkit.protocol.PROTOCOLS` ("wickstrom2019", the paper's; "wickstrom2023",
            the authors' 2023 notebook) or an `ipkit.protocol.Estimation`.
        run, seed: copied into every row.
        **settings: estimation settings that override the protocol's (any field of `Estimation`, e.g. alpha=1.01,
            width_rule="knn", sigma_layers={"fc1": 2.0}); recorded in the rows' `overrides` column.

    Attributes:
        estimation_: the `Estimation` in use.
        layers_: the measured layer names.
        rows_: the collected rows (see `COLUMNS`).
        widths_: split -> KernelWidths of the layers; ("input", split) -> that of the input when σ_X is a rule.
        warned_: the (layer, flag) pairs already warned about.

    Example:
        >>> from ipkit.models import build_model
        >>> tracker = InformationPlaneTracker(build_model("mlp"), 10, protocol="wickstrom2023", alpha=1.01)
        >>> tracker.estimation_.sigma_min, tracker.estimation_.describe_overrides()
        (0.1, 'alpha=1.01')
    """

    def __init__(self, model: nn.Module, num_classes: int, layers=None, protocol="wickstrom2019", *, run: int = 0,
                 seed: int = 0, **settings):
        self.model, self.num_classes, self.layers, self.protocol = model, num_classes, layers, protocol
        self.run, self.seed, self.settings = run, seed, settings
        self.estimation_: Estimation = estimation(protocol, **settings)
        self.layers_ = _layer_names(model, layers)
        unknown = sorted(set(self.estimation_.sigma_layers) - set(self.layers_))
        if unknown:
            raise ValueError(f"sigma_layers names {unknown}, which are not measured layers; measured: {self.layers_}")
        self.rows_: list[dict] = []
        self.widths_: dict = {}
        self.warned_: set = set()

    def _widths(self, key, rule: str) -> KernelWidths:
        if key not in self.widths_:
            self.widths_[key] = KernelWidths.from_estimation(rule, self.estimation_)
        return self.widths_[key]

    def reduce_output(self, name: str, out: Tensor) -> LayerOutput:
        """A layer's output reduced at once to its (N, N) squared distances."""
        e = self.estimation_
        if name == self.layers_[-1] and e.softmax_output:
            out = torch.softmax(out.flatten(1).to(torch.promote_types(out.dtype, torch.float32)), dim=1)
        if e.estimator in BASELINES:
            t = out.flatten(1).to(torch.promote_types(out.dtype, torch.float32))
            return LayerOutput(_sq_dists(t), t.shape[1], t=t)
        if e.estimator == "multivariate" and out.dim() >= 3:
            d2, sigma_c = _multivariate_sq_dists(out, e.gamma)
            return LayerOutput(d2, out[0].numel(), 1.0, "silverman-per-channel", float(sigma_c.mean()))
        sigma = e.sigma_layers.get(name)
        return LayerOutput(_sq_dists(out.flatten(1)), out[0].numel(), sigma, None if sigma is None else "fixed")

    @torch.no_grad()
    def measure(self, x, y, *, step: int, epoch: int = 0, split: str = "train") -> list[dict]:
        """Measure every layer on samples (x, y) and append one row per layer to `rows_`.

        Args:
            x: (N, ...) inputs (a tensor or a NumPy array), moved to the model's device.
            y: (N,) integer labels.
            step: training step t, counted from 1 (recorded; also drives the width grid schedule and smoothing).
            epoch: recorded in the rows.
            split: "train" (the batch just trained on) or "test" (fresh held-out samples); widths are kept
                per split.

        Returns:
            The new rows.
        """
        x, y = prepare_batch(self.model, x, y, self.num_classes)
        reduced: dict[str, LayerOutput] = {}

        def reduce(name: str, out: Tensor) -> None:
            reduced[name] = self.reduce_output(name, out)

        with eval_mode(self.model), capture(self.model, self.layers_, reduce):
            self.model(x)
        with torch.inference_mode():  # the estimate touches no model state: spare autograd's bookkeeping
            return self.estimate(reduced, x, y, step=step, epoch=epoch, split=split)

    def estimate(self, reduced: dict, x: Tensor, y: Tensor, *, step: int, epoch: int, split: str) -> list[dict]:
        """Widths of all layers from their distances, then `information_plane`; appends and returns the rows.

        `reduced` holds `reduce_output` of every layer, and (x, y) come from `prepare_batch`: the labels are
        checked there; the distances are checked here, once for all layers.
        """
        e = self.estimation_
        layers = [reduced[name] for name in self.layers_]
        d2 = torch.stack([layer.d2 for layer in layers])  # (L, N, N)
        _check_finite(d2, self.layers_)
        if e.estimator in BASELINES:  # no kernels, no widths
            return self._baseline_rows(layers, x, y, step=step, epoch=epoch, split=split)
        K_y = (y[:, None] == y[None, :]).to(d2.dtype)
        flat_x = x.reshape(x.shape[0], -1)
        flat_x = flat_x if flat_x.is_floating_point() else flat_x.to(torch.get_default_dtype())  # (N, D)
        d2_x = check_distances(_sq_dists(flat_x), flat_x, "x")
        if isinstance(e.sigma_x, str):
            sigma_x = self._widths(("input", split), e.sigma_x)._update_all(
                ["input"], d2_x[None], K_y.to(d2_x.dtype), [x[0].numel()], step)[0]
        else:
            sigma_x = float(e.sigma_x)
        sigmas = [layer.sigma for layer in layers]
        free = [i for i, sigma in enumerate(sigmas) if sigma is None]
        widths = self._widths(split, e.width_rule)
        if free:  # one batched width search for all layers
            found = widths._update_all([self.layers_[i] for i in free], d2[free], K_y,
                                       [layers[i].dim for i in free], step)
            for i, sigma in zip(free, found):
                sigmas[i] = sigma
        out = _information_plane(d2, d2_x, y, sigmas, sigma_x, e.alpha, e.entropy_method)
        n, new = x.shape[0], []
        for i, (name, layer) in enumerate(zip(self.layers_, layers)):
            flags = self._flags(name, i, out, n, widths if i in free else None, split, step)
            sigma = sigmas[i] if layer.reported_sigma is None else layer.reported_sigma
            new.append(self._row(split, epoch, step, i, flags, H_T=float(out["H_T"][i]), I_XT=float(out["I_XT"][i]),
                                 I_TY=float(out["I_TY"][i]), sigma_T=float(sigma), H_X=float(out["H_X"]),
                                 H_Y=float(out["H_Y"]), sigma_X=sigma_x, alpha=e.alpha, n=n,
                                 width_rule=layer.rule or e.width_rule))
        self.rows_.extend(new)
        return new

    def _row(self, split: str, epoch: int, step: int, i: int, flags: list[str], **values) -> dict:
        """One row of layer i: the measurement's keys, `values` (estimates, widths) and the settings behind them."""
        e = self.estimation_
        return dict(run=self.run, seed=self.seed, split=split, epoch=epoch, step=step, layer=self.layers_[i],
                    layer_index=i, **values, estimator=e.estimator, protocol=e.protocol,
                    overrides=e.describe_overrides(), flags=";".join(flags))

    def _baseline_rows(self, layers: list, x: Tensor, y: Tensor, *, step: int, epoch: int, split: str) -> list[dict]:
        """Rows of a baseline estimator (`ipkit.baselines`), in the same schema. Binning: H(X) = log2 N (distinct
        inputs), no widths. KDE: H_T is the entropy above the noise's, H(T+ε) − H(ε) = I(X;T), so that it lies in
        [0, log2 N] as the other estimators' H_T; σ_T is the noise's standard deviation."""
        e, n = self.estimation_, x.shape[0]
        if e.estimator == "binning":
            found = [binning_information(layer.t, y, e.n_bins) for layer in layers]
            sigma, h_x = math.nan, math.log2(n)
        else:
            found = [kde_information(layer.t, y, e.noise_variance) for layer in layers]
            found = [(i_xt, i_xt, i_ty) for _, i_xt, i_ty in found]
            sigma, h_x = math.sqrt(e.noise_variance), math.nan
        h_y = float(_label_entropy(y, 1.0))
        out = dict(H_T=torch.tensor([f[0] for f in found]), H_X=torch.tensor(math.nan))
        new = []
        for i, (name, (h_t, i_xt, i_ty)) in enumerate(zip(self.layers_, found)):
            flags = self._flags(name, i, out, n, None, split, step)
            new.append(self._row(split, epoch, step, i, flags, H_T=h_t, I_XT=i_xt, I_TY=i_ty, sigma_T=sigma,
                                 H_X=h_x, H_Y=h_y, sigma_X=math.nan, alpha=1.0, n=n, width_rule="none"))
        self.rows_.extend(new)
        return new

    def _flags(self, name: str, i: int, out: dict, n: int, widths: KernelWidths | None, split: str,
               step: int) -> list[str]:
        """The degenerate conditions of layer i's row; warns once per layer and kind (`DegenerateMeasurement`)."""
        top, where = math.log2(n), f"(run {self.run}, split {split}, step {step})"
        H_T, H_X = float(out["H_T"][i]), float(out["H_X"])
        found = {}
        if widths is not None and widths.at_bound_.get(name):
            e, raw = self.estimation_, widths.raw_[name]
            end = "lowest" if raw <= e.sigma_min * (1 + 1e-5) else "highest"  # a float32 σ_min is σ_min(1 + 4e-8)
            found["sigma_at_bound"] = (
                f"layer {name!r} {where}: the best-aligned width σ* = {raw:.4g} is the {end} candidate of its grid "
                f"(sigma_min = {e.sigma_min:g}, top = scale {e.scale:g} × mean distance), so the alignment maximum may "
                "lie outside the grid; widen it (settings sigma_min / scale) or use width_rule='knn'")
        if H_T >= top - SATURATION_TOL:
            found["saturated"] = (
                f"layer {name!r} {where}: H(T) = {H_T:.4f} bits is log2 N = {top:.4f}: its kernel is numerically the "
                "identity, so I(X;T) = H(X) and I(T;Y) = H(Y) whatever the layer holds; use a wider width")
        elif H_T <= SATURATION_TOL:
            found["collapsed"] = (
                f"layer {name!r} {where}: H(T) = {H_T:.4f} bits: its kernel is numerically all ones (a width far "
                "wider than the distances, or constant activations), so I(X;T) = I(T;Y) = 0")
        if H_X >= top - SATURATION_TOL:
            found["input_saturated"] = (
                f"{where}: the input kernel is numerically the identity (H(X) = {H_X:.4f} bits = log2 N at "
                f"σ_X = {self.estimation_.sigma_x}), so I(X;T) = H(T) for every layer. σ_X = 8 suits pixels scaled "
                "to [0, 1]; for other inputs pass sigma_x='alignment' or sigma_x='knn', or rescale the inputs")
        for flag, message in found.items():
            key = ("input" if flag == "input_saturated" else name, flag)
            if key not in self.warned_:
                self.warned_.add(key)
                warnings.warn(message, DegenerateMeasurement, stacklevel=5)  # the caller of measure
        return list(found)

    def table(self) -> pd.DataFrame:
        """The collected rows as a long-format DataFrame with columns `COLUMNS`."""
        return pd.DataFrame(self.rows_, columns=COLUMNS)


def prepare_batch(model: nn.Module, x, y, num_classes: int) -> tuple[Tensor, Tensor]:
    """A measurement's samples checked before the forward pass (an empty or mismatched batch, bad labels) and
    moved to the model's device; a NumPy x becomes a tensor of the default dtype."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x).to(torch.get_default_dtype())
    y = torch.as_tensor(y)
    check_labels(y, num_classes, n=len(x))
    device = model_device(model)
    return x.to(device), y.to(device)


def _layer_names(model: nn.Module, layers) -> list[str]:
    """The measured layer names: `layers` (a list, checked) or `model.measured_layers()`."""
    if layers is None:
        if not hasattr(model, "measured_layers"):
            raise ValueError(f"{type(model).__name__} has no measured_layers(); pass layers=[...] "
                             "with names from model.named_modules()")
        layers = model.measured_layers()
    if isinstance(layers, str) or not all(isinstance(name, str) for name in layers):
        raise ValueError(f"layers must be a list of module names, got {layers!r}; e.g. layers=[{layers!r}]"
                         if isinstance(layers, str) else f"layers must be a list of module names, got {layers!r}")
    layers = list(layers)
    twice = sorted({name for name in layers if layers.count(name) > 1})
    if twice:
        raise ValueError(f"layers lists {twice} more than once; list each layer once")
    resolve_layers(model, layers)
    return layers


def _multivariate_sq_dists(out: Tensor, gamma: float) -> tuple[Tensor, Tensor]:
    """Yu et al.'s multivariate kernel exp(−Σ_c D_c / σ_c²) of outputs (N, C, ...) as the distances
    Σ_c D_c / σ_c² (N, N) of a Gaussian at σ = 1, and the widths σ_c (C,).

    Each channel has its own Silverman-type width (`silverman_channel_sigmas`), so the widths differ by channel
    (docs/method.md §2).
    """
    flat = out.flatten(2).to(torch.promote_types(out.dtype, torch.float32))  # (N, C, H·W)
    d2_c = _channel_sq_dists(flat)  # (C, N, N); non-finite activations are caught in `estimate`
    sigma_c = _silverman_channel_sigmas(flat, gamma).to(d2_c.dtype)
    return (d2_c / sigma_c[:, None, None] / sigma_c[:, None, None]).sum(dim=0), sigma_c


def _check_finite(d2: Tensor, layers: list[str]) -> None:
    """One check for all layers: NaN/Inf activations, or distances that overflow, make d2 non-finite."""
    if all_finite(d2):
        return
    for name, d in zip(layers, d2):
        if not all_finite(d):
            raise NonFiniteActivations(f"layer {name!r} produced NaN or Inf activations (or distances that "
                                       "overflow its dtype); the network has diverged (lower the learning "
                                       "rate) or its input holds non-finite values")


def measurement_due(step: int, every: int = 1, dense_until: int = 0) -> bool:
    """Whether step t is measured: every step up to `dense_until`, then every `every`-th step."""
    if every < 1:
        raise ValueError(f"every must be ≥ 1, got {every}")
    return step <= dense_until or step % every == 0


def tracking_callback(tracker: InformationPlaneTracker, *, n: int = 100, x_test: Tensor | None = None,
                      y_test: Tensor | None = None, n_test: int = 200, every: int = 1, dense_until: int = 0,
                      splits=None, seed: int = 0, x_train: Tensor | None = None, y_train: Tensor | None = None):
    """An `on_step(step, epoch, xb, yb)` callback for `ipkit.train.train` that measures the IP (docs/method.md §4).

    At each due step (`measurement_due`) it measures, for split "train", the first `n` samples of the
    mini-batch just trained on and, for split "test", `n_test` test samples freshly drawn with a seeded
    generator from (x_test, y_test). `splits` defaults to both when test data are given, else to ("train",).
    For large-N estimates pass (x_train, y_train): when `n` exceeds the batch, the "train" split then measures `n`
    training samples freshly drawn from them instead (seeded with seed + 1), with the model in eval mode as always;
    without them it measures the whole batch.
    """
    splits = (("train", "test") if x_test is not None else ("train",)) if splits is None else tuple(splits)
    if (x_train is None) != (y_train is None):
        raise ValueError("pass x_train and y_train together")
    unknown = set(splits) - {"train", "test"}
    if unknown or not splits:
        raise ValueError(f"splits must be a non-empty subset of ('train', 'test'), got {splits}")
    if "test" in splits and (x_test is None or y_test is None):
        raise ValueError("split 'test' needs x_test and y_test")
    generator = torch.Generator().manual_seed(seed)
    train_generator = torch.Generator().manual_seed(seed + 1)

    def on_step(step: int, epoch: int, xb: Tensor, yb: Tensor) -> None:
        if not measurement_due(step, every, dense_until):
            return
        if "train" in splits and n > len(yb) and x_train is not None:
            idx = torch.randperm(len(y_train), generator=train_generator)[:n].to(y_train.device)
            tracker.measure(x_train[idx], y_train[idx], step=step, epoch=epoch, split="train")
        elif "train" in splits:
            tracker.measure(xb[:n], yb[:n], step=step, epoch=epoch, split="train")
        if "test" in splits:
            idx = torch.randperm(len(y_test), generator=generator)[:n_test].to(y_test.device)
            tracker.measure(x_test[idx], y_test[idx], step=step, epoch=epoch, split="test")

    on_step.generators = {"test": generator, "train": train_generator}  # what a checkpoint saves and restores
    return on_step


def chain_callbacks(callbacks):
    """One `on_step(step, epoch, xb, yb)` that calls each of `callbacks` in turn (several trackers, one training)."""
    callbacks = list(callbacks)

    def on_step(step: int, epoch: int, xb: Tensor, yb: Tensor) -> None:
        for callback in callbacks:
            callback(step, epoch, xb, yb)

    return on_step
