"""Several estimator settings on one training run, and the tensor kernel against Yu et al.'s multivariate kernel
(docs/method.md §2, §6 item 5; notebook 04).

`SettingsTracker` measures one network with several estimation settings at once: one forward pass per
measurement, whose layer outputs every setting's `InformationPlaneTracker` reduces and estimates from, so the
settings differ only in the estimator. Its table is the trackers' rows with a `setting` column.
The other functions are notebook 04's analyses: the Hadamard special case (equal widths: the multivariate
kernel *is* the tensor kernel), the saturation of the multivariate kernel at Yu et al.'s per-channel widths as
channels are added, how far saturated layers sit from the corner (H(X), H(Y)) of the information plane, and
the conv layers' IP under the structure-preserving kernel of Signoretto et al. [9] against the tensor kernel
(`StructureKernelComparison`).
Figures import matplotlib inside the functions, so `import ipkit.comparison` does not load it.
"""

import math
import time

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ipkit.entropy import renyi_entropy
from ipkit.hooks import activations, capture, eval_mode
from ipkit.kernels import gaussian_from_sq_dists, gaussian_gram, label_gram, multivariate_gram, pairwise_sq_dists
from ipkit.plane import information_plane
from ipkit.protocol import estimation
from ipkit.structure_kernel import structure_sq_dists
from ipkit.tracker import InformationPlaneTracker, chain_callbacks, prepare_batch, tracking_callback
from ipkit.train import train
from ipkit.widths import KernelWidths, alignment_sigma, mean_distance, silverman_channel_sigmas


class SettingsTracker:
    """Measures the information plane of `model` under several estimation settings, one forward pass each time.

    Args:
        model: any `nn.Module` (as for `InformationPlaneTracker`).
        num_classes: number of classes of the labels.
        settings: setting name -> estimation settings that override the protocol's (any field of
            `ipkit.protocol.Estimation`), e.g. {"tensor": {}, "multivariate": {"estimator": "multivariate"},
            "α=2": {"alpha": 2.0}}.
        layers, protocol, run, seed: as for `InformationPlaneTracker`, shared by all settings.

    Attributes:
        trackers_: setting name -> its `InformationPlaneTracker` (widths smoothed per setting).
        layers_: the measured layer names.

    Example:
        >>> from ipkit.models import build_model
        >>> model = build_model("mlp", seed=0)
        >>> tracker = SettingsTracker(model, 10, {"tensor": {}, "α=2": {"alpha": 2.0}})
        >>> x, y = torch.rand(20, 1, 28, 28), torch.arange(20) % 10
        >>> rows = tracker.measure(x, y, step=1)
        >>> tracker.table().groupby("setting")["alpha"].first().to_dict()
        {'tensor': 1.0, 'α=2': 2.0}
    """

    def __init__(self, model: nn.Module, num_classes: int, settings: dict, layers=None, protocol="wickstrom2019",
                 *, run: int = 0, seed: int = 0):
        if not isinstance(settings, dict) or not settings or \
                not all(isinstance(name, str) and isinstance(s, dict) for name, s in settings.items()):
            raise ValueError("settings must be a non-empty dict of setting name -> dict of estimation settings, e.g. "
                             f"{{'tensor': {{}}, 'multivariate': {{'estimator': 'multivariate'}}}}; got {settings!r}")
        self.model, self.num_classes, self.settings, self.layers = model, num_classes, settings, layers
        self.protocol, self.run, self.seed = protocol, run, seed
        self.trackers_ = {name: InformationPlaneTracker(model, num_classes, layers, protocol, run=run, seed=seed,
                                                        **overrides) for name, overrides in settings.items()}
        self.layers_ = next(iter(self.trackers_.values())).layers_

    @torch.no_grad()
    def measure(self, x, y, *, step: int, epoch: int = 0, split: str = "train") -> list[dict]:
        """Run the model once on (x, y) and measure every layer under every setting.

        Each layer's output is reduced by every setting's tracker as the forward pass produces it (a later module
        that works in place cannot change it), then each tracker estimates from its reductions, exactly as its own
        `measure` would. Args as `InformationPlaneTracker.measure`.

        Returns:
            The new rows of all settings, each with its `setting`.
        """
        x, y = prepare_batch(self.model, x, y, self.num_classes)
        reduced: dict[str, dict] = {name: {} for name in self.trackers_}

        def reduce(layer: str, out: Tensor) -> None:
            for name, tracker in self.trackers_.items():
                reduced[name][layer] = tracker.reduce_output(layer, out)

        with eval_mode(self.model), capture(self.model, self.layers_, reduce):
            self.model(x)
        new = []
        with torch.inference_mode():
            for name, tracker in self.trackers_.items():
                rows = tracker.estimate(reduced[name], x, y, step=step, epoch=epoch, split=split)
                new.extend({"setting": name, **row} for row in rows)
        return new

    def table(self) -> pd.DataFrame:
        """The rows of all settings: a `setting` column, then `ipkit.tracker.COLUMNS`."""
        return pd.concat([tracker.table().assign(setting=name) for name, tracker in self.trackers_.items()],
                         ignore_index=True).pipe(lambda t: t[["setting", *t.columns[:-1]]])


def train_with_settings(model: nn.Module, x: Tensor, y: Tensor, settings: dict, *, num_classes: int = 10,
                        protocol="wickstrom2019", epochs: int, lr: float = 0.09, batch_size: int = 100, seed: int = 0,
                        device=None, n: int = 100, every: int = 1, dense_until: int = 0, progress: bool = True,
                        also=()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train `model` once (`ipkit.train.train`) with every setting measuring the same snapshots on the same batches.

    At each due step (`ipkit.tracker.measurement_due`) the first `n` samples of the mini-batch just trained on are
    measured (split "train") by a `SettingsTracker`, then by each of `also` (objects with the trackers'
    `measure(x, y, step=, epoch=, split=)`, e.g. a `StructureKernelComparison`; they keep their own rows). Measuring
    runs the model in eval mode without gradients, so it does not change training.

    Returns:
        The training log and the IP table of all settings (`SettingsTracker.table`).
    """
    tracker = SettingsTracker(model, num_classes, settings, protocol=protocol, seed=seed)
    on_step = chain_callbacks(tracking_callback(t, n=n, every=every, dense_until=dense_until, splits=("train",))
                              for t in (tracker, *also))
    log = train(model, x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device,
                on_step=on_step, progress=progress)
    return log, tracker.table()


def training_summary(network: str, log: pd.DataFrame, ip: pd.DataFrame, *, seconds: float,
                     test_accuracy: float) -> dict:
    """One network's row of notebook 04's summary: how it trained and how often it was measured.

    Args:
        network: the network's name.
        log: its training log (`ipkit.train.train`: ``step, loss, ...``).
        ip: its IP table of all settings (`SettingsTracker.table`: ``setting, step, ...``).
        seconds: the wall time of its training run, measurements included.
        test_accuracy: its accuracy on test data (e.g. `ipkit.train.evaluate`).

    Returns:
        dict network, steps (the last training step), measurements (measured steps), settings (how many),
        seconds, max_loss, final_loss (mean loss of the last 10 logged steps), test_accuracy.

    Example:
        >>> log = pd.DataFrame(dict(step=[1, 2, 3], loss=[2.3, 2.5, 1.0]))
        >>> ip = pd.DataFrame(dict(setting=["a", "b", "a", "b"], step=[1, 1, 3, 3]))
        >>> row = training_summary("cnn", log, ip, seconds=4.0, test_accuracy=0.9)
        >>> row["steps"], row["measurements"], row["settings"], float(row["max_loss"]), float(row["final_loss"])
        (3, 2, 2, 2.5, 1.9333333333333333)
    """
    return dict(network=network, steps=int(log["step"].max()), measurements=ip["step"].nunique(),
                settings=ip["setting"].nunique(), seconds=seconds, max_loss=log["loss"].max(),
                final_loss=log["loss"].tail(10).mean(), test_accuracy=test_accuracy)


@torch.no_grad()
def eval_activations(model: nn.Module, x: Tensor, layers) -> dict[str, Tensor]:
    """The named layers' outputs of `model` on `x` (`ipkit.activations`) in eval mode and without gradients; the
    model's train/eval mode is restored.

    Args:
        model: the network. x: (N, ...) inputs on the model's device. layers: names of its modules.

    Returns:
        layer name -> its (N, ...) output, detached.
    """
    with eval_mode(model):
        return activations(model, x, layers)


class StructureKernelComparison:
    """The IP of conv layers under the tensor kernel and under the structure-preserving kernel of Signoretto et al.
    [9] (`ipkit.structure_kernel`), on the same activations, and what each kernel's measurement costs.

    Each measurement runs the model once (eval mode, no gradients) and, per kernel, times the layers' squared
    distances, the widths (label alignment on the kernel's own distances, smoothed over steps by β, one
    `KernelWidths` per kernel and split, as the tracker does for the tensor kernel) and `information_plane`. The input
    keeps its Gaussian kernel at the fixed σ_X of the estimation settings, so only the layers' kernel differs.

    Args:
        model: the network; layers: the names of its measured layers with (N, C, H, W) outputs.
        num_classes: number of classes of the labels.
        protocol, **settings: the estimation settings (α, σ_X, β and the alignment grid are used).

    Attributes:
        rows_: one dict per (kernel, step, layer): setting ("tensor kernel" or "structure-preserving kernel"),
            estimator, split, epoch, step, layer, layer_index, sigma_T, H_T, I_XT, I_TY, H_X, H_Y, sigma_X, alpha, n,
            seconds (the kernel's time for the whole measurement of all layers).
    """

    KERNELS = {"tensor": pairwise_sq_dists, "structure-preserving": structure_sq_dists}

    def __init__(self, model: nn.Module, layers, num_classes: int = 10, protocol="wickstrom2019", **settings):
        e = estimation(protocol, **settings)
        if isinstance(e.sigma_x, str):
            raise ValueError(f"sigma_x must be a number here (both kernels share the input's kernel), got {e.sigma_x!r}")
        if not layers:
            raise ValueError("layers must name at least one conv layer of the model")
        self.model, self.layers, self.num_classes, self.estimation_ = model, list(layers), num_classes, e
        self.widths_: dict[tuple[str, str], KernelWidths] = {}
        self.rows_: list[dict] = []

    def _widths(self, kernel: str, split: str) -> KernelWidths:
        if (kernel, split) not in self.widths_:
            self.widths_[kernel, split] = KernelWidths.from_estimation("alignment", self.estimation_)
        return self.widths_[kernel, split]

    @torch.no_grad()
    def measure(self, x, y, *, step: int, epoch: int = 0, split: str = "train") -> list[dict]:
        """Measure the layers on (x, y) under both kernels; appends and returns the rows."""
        x, y = prepare_batch(self.model, x, y, self.num_classes)
        outputs = eval_activations(self.model, x, self.layers)
        for layer, a in outputs.items():
            if a.dim() != 4:
                raise ValueError(f"layer {layer!r} must give (N, C, H, W) outputs, got shape {tuple(a.shape)}")
        e, d2_x, new = self.estimation_, pairwise_sq_dists(x), []
        for kernel, distances in self.KERNELS.items():
            start = time.perf_counter()
            d2 = torch.stack([distances(outputs[layer]) for layer in self.layers])  # (L, N, N)
            K_y = (y[:, None] == y[None, :]).to(d2.dtype)
            sigmas = self._widths(kernel, split).update_all(self.layers, d2, K_y, step=step)
            out = information_plane(d2, d2_x, y, sigmas, e.sigma_x, e.alpha)
            seconds = time.perf_counter() - start
            new.extend(dict(setting=f"{kernel} kernel", estimator=kernel, split=split, epoch=epoch, step=step,
                            layer=layer, layer_index=i, sigma_T=sigmas[i], H_T=float(out["H_T"][i]),
                            I_XT=float(out["I_XT"][i]), I_TY=float(out["I_TY"][i]), H_X=float(out["H_X"]),
                            H_Y=float(out["H_Y"]), sigma_X=float(e.sigma_x), alpha=e.alpha, n=len(x), seconds=seconds)
                       for i, layer in enumerate(self.layers))
        self.rows_.extend(new)
        return new

    def table(self) -> pd.DataFrame:
        """The rows (`rows_`) as a table."""
        return pd.DataFrame(self.rows_)


def structure_cost(table: pd.DataFrame) -> pd.DataFrame:
    """Seconds per measurement of each kernel (from `StructureKernelComparison.table`): measurements, layers,
    mean, median and max seconds, and the mean against the tensor kernel's."""
    per = table.groupby(["setting", "split", "step"], sort=False).agg(seconds=("seconds", "first"),
                                                                      layers=("layer", "nunique"))
    cost = per.groupby("setting", sort=False).agg(measurements=("seconds", "size"), layers=("layers", "first"),
                                                  mean_s=("seconds", "mean"), median_s=("seconds", "median"),
                                                  max_s=("seconds", "max"))
    return cost.assign(vs_tensor=cost["mean_s"] / cost.loc["tensor kernel", "mean_s"]).reset_index()


def structure_problems(structure_ip: pd.DataFrame, tensor_ip: pd.DataFrame, *, atol: float = 1e-4,
                       agreement: float = 1e-6) -> list[str]:
    """Checks of the structure-kernel comparison; returns the failed ones as sentences (empty: all passed).

    Every H_T, I_XT, I_TY finite and within [0, log2 n] (up to `atol`); both kernels measured the same (step, layer)
    pairs; the comparison's tensor-kernel rows equal the same layers' rows of the training run's tracker
    (`tensor_ip`, e.g. the notebook's "tensor, alignment" setting) within `agreement` bits, so that the two planes
    differ only by the kernel.
    """
    problems = []
    values = structure_ip[["H_T", "I_XT", "I_TY"]]
    top = math.log2(structure_ip["n"].max())
    if not np.isfinite(values.to_numpy(float)).all():
        problems.append("structure comparison: NaN or Inf estimates")
    elif ((values < -atol) | (values > top + atol)).any().any():
        problems.append(f"structure comparison: estimates outside [0, log2 n = {top:.3f}]")
    pairs = structure_ip.groupby("setting")[["step", "layer"]].apply(lambda g: set(map(tuple, g.to_numpy())))
    if len(pairs) != 2 or pairs.iloc[0] != pairs.iloc[1]:
        problems.append("structure comparison: the two kernels did not measure the same steps and layers")
    mine = structure_ip[structure_ip["estimator"] == "tensor"]
    both = mine.merge(tensor_ip, on=["split", "step", "layer"], suffixes=("", "_tracker"))
    gap = (both[["H_T", "I_XT", "I_TY"]].to_numpy() - both[["H_T_tracker", "I_XT_tracker", "I_TY_tracker"]].to_numpy())
    if len(both) != len(mine) or not len(both) or abs(gap).max() > agreement:
        problems.append(f"structure comparison: its tensor-kernel rows differ from the tracker's "
                        f"({len(both)} of {len(mine)} matched, max gap {abs(gap).max() if len(both) else math.nan})")
    return problems


def hadamard_special_case(x: Tensor, sigma: float, alpha: float = 1.0) -> pd.DataFrame:
    """The multivariate kernel with one width σ for every channel against the tensor kernel at σ.

    .. math:: \\prod_c \\exp(−\\|X_c − X'_c\\|^2 / σ^2) = \\exp(−\\|X − X'\\|_F^2 / σ^2)

    Args:
        x: (N, C, ...) activations of one layer.
        sigma: the common width.
        alpha: Rényi order of the entropies compared.

    Returns:
        One row per dtype (float32, float64): channels, sigma, max_abs_difference of the Gram matrices,
        entropy_difference, mean_off_diagonal of the tensor kernel (how far it is from the identity).
    """
    rows = []
    for dtype in (torch.float32, torch.float64):
        a = x.to(dtype)
        K_mv = multivariate_gram(a, torch.full((a.shape[1],), sigma, dtype=dtype))
        K_ten = gaussian_gram(a, sigma)
        off_diagonal = ~torch.eye(len(a), dtype=torch.bool, device=a.device)
        rows.append(dict(dtype=str(dtype).removeprefix("torch."), channels=a.shape[1], sigma=sigma,
                         max_abs_difference=float((K_mv - K_ten).abs().max()),
                         entropy_difference=float(renyi_entropy(K_mv, alpha) - renyi_entropy(K_ten, alpha)),
                         mean_off_diagonal=float(K_ten[off_diagonal].mean())))
    return pd.DataFrame(rows)


@torch.no_grad()
def channel_saturation(outputs: dict[str, Tensor], y: Tensor, channel_counts, *, num_classes: int = 10,
                       protocol="wickstrom2019", **settings) -> pd.DataFrame:
    """Entropy of a conv layer's first C channels: multivariate kernel at Yu et al.'s per-channel widths against
    the tensor kernel at its alignment width (docs/method.md §2; the paper's finding 5).

    Per-channel widths σ_c = γ · s_c · N^(−1/(4+H·W)) (`silverman_channel_sigmas`); a channel's width depends only
    on its own values, so the first C channels keep the widths they have in the whole layer. The tensor kernel's
    width maximizes the alignment with the labels on one grid of `n_candidates_early` points (no smoothing).
    Computed in float64.

    Args:
        outputs: layer name -> (N, C, H, W) activations, e.g. from `ipkit.activations`.
        y: (N,) labels of the samples.
        channel_counts: the C to use (those below a layer's channel count), and always the layer's full width.
        protocol, **settings: the estimation settings (α, γ and the alignment grid are used).

    Returns:
        One row per (layer, C): layer, channels, layer_channels, map_size, sigma_c_min, sigma_c_max (the C
        per-channel widths), offdiag_multivariate (mean off-diagonal entry of the multivariate kernel),
        H_multivariate, sigma_tensor, H_tensor, mean_distance, log2_n.
    """
    e = estimation(protocol, **settings)
    rows = []
    for layer, a in outputs.items():
        if a.dim() != 4:
            raise ValueError(f"outputs[{layer!r}] must be (N, C, H, W) activations, got shape {tuple(a.shape)}")
        a = a.double()
        n, C, H, W = a.shape
        K_y = label_gram(y.to(a.device), num_classes).double()
        sigma_c = silverman_channel_sigmas(a, e.gamma)  # (C,)
        off_diagonal = ~torch.eye(n, dtype=torch.bool, device=a.device)
        for c in sorted({c for c in channel_counts if c < C} | {C}):
            part = a[:, :c]  # (N, c, H, W): the first c channels
            K_mv = multivariate_gram(part, sigma_c[:c])
            d2 = pairwise_sq_dists(part)
            sigma_t = alignment_sigma(d2, K_y, n_candidates=e.n_candidates_early, sigma_min=e.sigma_min,
                                      scale=e.scale, mean=e.mean_distance)
            rows.append(dict(layer=layer, channels=c, layer_channels=C, map_size=f"{H}×{W}",
                             sigma_c_min=float(sigma_c[:c].min()), sigma_c_max=float(sigma_c[:c].max()),
                             offdiag_multivariate=float(K_mv[off_diagonal].mean()),
                             H_multivariate=float(renyi_entropy(K_mv, e.alpha)), sigma_tensor=sigma_t,
                             H_tensor=float(renyi_entropy(gaussian_from_sq_dists(d2, sigma_t), e.alpha)),
                             mean_distance=float(mean_distance(d2)), log2_n=math.log2(n)))
    return pd.DataFrame(rows)


def corner_distances(ip: pd.DataFrame, *, sigma: bool = False) -> pd.DataFrame:
    """Per (setting, layer): the range over measured steps of H(T) and of the distances to the corner (H(X), H(Y))
    of the information plane, H(X) − I(X;T) and H(Y) − I(T;Y). A saturated layer (A_T = I/N) sits at 0, 0.

    Args:
        ip: an IP table with a `setting` column (`SettingsTracker.table`), optionally a `network` column.
        sigma: also the range of the layer's width σ_T (columns sigma_T_min, sigma_T_max, last).

    Returns:
        Columns [network,] setting, layer, estimator, H_T_min, H_T_max, corner_XT_min, corner_XT_max,
        corner_TY_min, corner_TY_max[, sigma_T_min, sigma_T_max], in depth order.
    """
    keys = [k for k in ("network",) if k in ip.columns] + ["setting", "layer_index", "layer", "estimator"]
    rows = ip.assign(corner_XT=ip["H_X"] - ip["I_XT"], corner_TY=ip["H_Y"] - ip["I_TY"])
    values = ["H_T", "corner_XT", "corner_TY", *(["sigma_T"] if sigma else [])]
    table = rows.groupby(keys, sort=False)[values].agg(["min", "max"])
    table.columns = [f"{value}_{stat}" for value, stat in table.columns]
    return table.reset_index().sort_values(keys[:-3] + ["layer_index"], kind="stable").drop(columns="layer_index")


FINAL_STEP_COLUMNS = ("setting", "estimator", "width_rule", "alpha", "step", "layer_index", "layer", "sigma_T", "H_T",
                      "I_XT", "I_TY", "H_X", "H_Y")


def final_step(ip: pd.DataFrame) -> pd.DataFrame:
    """The rows of the last measured step: every setting's estimate of every layer on the same batch and network
    snapshot, with the columns `FINAL_STEP_COLUMNS`, by setting then depth.

    Args:
        ip: an IP table of several settings (`SettingsTracker.table`).

    Example:
        >>> ip = pd.DataFrame(dict(setting=["b", "b", "a", "a", "b"], step=[1, 2, 2, 2, 2],
        ...                        layer_index=[0, 1, 1, 0, 0])).reindex(columns=[*FINAL_STEP_COLUMNS, "seconds"])
        >>> t = final_step(ip)
        >>> list(zip(t["setting"], t["step"], t["layer_index"]))
        [('a', 2, 0), ('a', 2, 1), ('b', 2, 0), ('b', 2, 1)]
    """
    last = ip[ip["step"] == ip["step"].max()]
    return last[list(FINAL_STEP_COLUMNS)].sort_values(["setting", "layer_index"], kind="stable")


def saturation_figure(saturation: pd.DataFrame):
    """H(T) against the number of channels C: multivariate kernel at per-channel widths (solid) and tensor
    kernel at its alignment width (dashed), one panel per `network`, log2 N dotted (from `channel_saturation`
    rows with a `network` column)."""
    import matplotlib.pyplot as plt

    networks = list(dict.fromkeys(saturation["network"]))
    fig, axes = plt.subplots(1, len(networks), figsize=(5.5 * len(networks), 4.2), sharey=True,
                             layout="constrained", squeeze=False)
    for ax, network in zip(axes[0], networks):
        rows = saturation[saturation["network"] == network]
        for i, (layer, g) in enumerate(rows.groupby("layer", sort=False)):
            name = f"{layer} ({g['layer_channels'].iloc[0]}×{g['map_size'].iloc[0]})"
            ax.plot(g["channels"], g["H_multivariate"], "o-", color=f"C{i}", label=f"{name}, multivariate")
            ax.plot(g["channels"], g["H_tensor"], "s--", color=f"C{i}", mfc="white", label=f"{name}, tensor")
        log2_n = rows["log2_n"].iloc[0]
        ax.axhline(log2_n, color="black", lw=0.8, ls=":", label=f"log2 N = {log2_n:.2f}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("channels C used (the first C)")
        ax.set_title(f"{network}: multivariate (solid) vs tensor (dashed)")
        ax.legend(fontsize="x-small")
    axes[0, 0].set_ylabel("H(T) [bits]")
    return fig


def comparison_problems(ip: pd.DataFrame, saturation: pd.DataFrame, hadamard: pd.DataFrame, *, tensor: str,
                        multivariate: str, alpha_settings=(), in_corner=(), saturation_margin: float = 0.01,
                        tensor_gap: float = 0.25, summary: pd.DataFrame | None = None, accuracy_floors=None,
                        atol: float = 1e-4) -> list[str]:
    """Notebook 04's checks of its own results; returns the failed ones as sentences (empty: all passed).

    Checks: every H_T, I_XT, I_TY and saturation entropy finite and within [0, log2 n] (up to `atol`); the
    Hadamard identity to round-off (float32 < 1e-5, float64 < 1e-12); at each swept layer's full width the
    multivariate entropy within `saturation_margin` bits of log2 N and the tensor kernel's at least `tensor_gap`
    below; the conv layers of the networks `in_corner` under `multivariate` within `saturation_margin` of the
    corner (H(X), H(Y)) at every step; dense layers identical under `tensor` and `multivariate`; H_T
    non-increasing in α over the `alpha_settings`; each network of `accuracy_floors` trained (its
    `test_accuracy` in `summary` at least its floor).

    Args:
        ip: IP rows of all networks and settings, with columns `network` and `setting`.
        saturation: `channel_saturation` rows with a `network` column. hadamard: `hadamard_special_case` rows.
        tensor, multivariate: the setting names of the two estimators (otherwise alike).
        summary: one row per network with `network` and `test_accuracy` (`training_summary` rows); needed
            with `accuracy_floors`, a dict network -> lowest acceptable test accuracy.
        atol: slack of the bounds: near-rank-one kernels (K ≈ all ones) give MI of about −5e-6 bits.
    """
    problems = []
    top = ip["n"].map(math.log2).max()
    for what, values in (("IP", ip[["H_T", "I_XT", "I_TY"]]), ("saturation", saturation[["H_multivariate",
                                                                                           "H_tensor"]])):
        if not np.isfinite(values.to_numpy(float)).all():
            problems.append(f"{what}: NaN or Inf estimates")
        elif ((values < -atol) | (values > top + atol)).any().any():
            problems.append(f"{what}: estimates outside [0, log2 n = {top:.3f}]: "
                            f"{values.min().min():.6f} .. {values.max().max():.6f}")
    difference = hadamard.set_index("dtype")["max_abs_difference"]
    if not (difference["float32"] < 1e-5 and difference["float64"] < 1e-12):
        problems.append(f"Hadamard special case: multivariate and tensor kernel differ by {difference.to_dict()}")
    for r in saturation[saturation["channels"] == saturation["layer_channels"]].itertuples():
        if not r.log2_n - r.H_multivariate <= saturation_margin:
            problems.append(f"{r.network} {r.layer}: multivariate H = {r.H_multivariate:.4f} at C = {r.channels} "
                            f"is not within {saturation_margin} bits of log2 N = {r.log2_n:.4f}")
        if not r.log2_n - r.H_tensor >= tensor_gap:
            problems.append(f"{r.network} {r.layer}: tensor H = {r.H_tensor:.4f} at C = {r.channels} is not "
                            f"{tensor_gap} bits below log2 N = {r.log2_n:.4f}")
    conv = ip["estimator"].eq("multivariate") & ip["width_rule"].eq("silverman-per-channel")
    for network in in_corner:
        rows = ip[conv & ip["network"].eq(network) & ip["setting"].eq(multivariate)]
        gap = max((rows["H_X"] - rows["I_XT"]).abs().max(), (rows["H_Y"] - rows["I_TY"]).abs().max())
        if rows.empty:
            problems.append(f"{network}: no multivariate conv-layer rows")
        elif not gap <= saturation_margin:
            problems.append(f"{network}: multivariate conv layers up to {gap:.4f} bits away from the corner "
                            "(H(X), H(Y))")
    # the multivariate setting's dense layers, matched with the same layers of the tensor setting
    dense = ip[~conv & ip["setting"].isin([tensor, multivariate])]
    both = dense[dense["setting"] == tensor].merge(dense[dense["setting"] == multivariate],
                                                   on=["network", "split", "step", "layer"])
    gap = both[["H_T_x", "I_XT_x", "I_TY_x"]].to_numpy() - both[["H_T_y", "I_XT_y", "I_TY_y"]].to_numpy()
    if both.empty or abs(gap).max() > 1e-9:
        problems.append(f"dense layers differ between the {tensor!r} and the {multivariate!r} settings")
    by_alpha = ip[ip["setting"].isin(alpha_settings)].pivot_table(
        index=["network", "split", "step", "layer"], columns="alpha", values="H_T")
    if (by_alpha[sorted(by_alpha.columns)].diff(axis=1).iloc[:, 1:] > atol).any().any():
        problems.append("Rényi entropy increased with α somewhere (it is non-increasing in α)")
    if accuracy_floors:
        accuracy = summary.set_index("network")["test_accuracy"]
        problems += [f"{network} test accuracy {accuracy[network]:.3f} is below the floor {floor}"
                     for network, floor in accuracy_floors.items() if not accuracy[network] >= floor]
    return problems


def planes_figure(panels: list[list[tuple[str, pd.DataFrame]]], colorbar: bool = True):
    """A grid of information planes (`ipkit.plot.information_plane`), one per (title, IP table), a row per list;
    the panels of a row share their limits; the deepest layer is drawn first so that early layers stay visible,
    the legend in depth order (each panel's, or with `colorbar=False` the first panel's only)."""
    import matplotlib.pyplot as plt

    import ipkit.plot as ipplot

    cols = max(len(row) for row in panels)
    fig, axes = plt.subplots(len(panels), cols, figsize=(4.5 * cols, 4.2 * len(panels)), layout="constrained",
                             squeeze=False)
    for row, axs in zip(panels, axes):
        for col, ax in enumerate(axs):
            if col >= len(row):
                ax.set_visible(False)
                continue
            title, table = row[col]
            depth = table.groupby("layer")["layer_index"].min().sort_values().index.tolist()
            ipplot.information_plane(table, ax=ax, layers=depth[::-1], colorbar=colorbar and col == len(row) - 1,
                                     legend=False)
            if colorbar or ax is axes[0, 0]:
                ax.legend(handles=ax.collections[:len(depth)][::-1], loc="lower right", fontsize="x-small",
                          ncol=1 if len(depth) <= 8 else 2)
            ax.set_title(title, fontsize="medium")
        shown = axs[:len(row)]
        for ax in shown:
            ax.set_xlim(min(a.get_xlim()[0] for a in shown), max(a.get_xlim()[1] for a in shown))
            ax.set_ylim(min(a.get_ylim()[0] for a in shown), max(a.get_ylim()[1] for a in shown))
    return fig


def entropy_figure(panels: list[list[tuple[str, pd.DataFrame, list]]], log2_n: float):
    """H(T) over training steps (`ipkit.plot.information_over_steps`), one panel per (title, IP table, layers),
    a row per list, log2 N dotted; the panels share their y axis."""
    import matplotlib.pyplot as plt

    import ipkit.plot as ipplot

    cols = max(len(row) for row in panels)
    fig, axes = plt.subplots(len(panels), cols, figsize=(6 * cols, 4 * len(panels)), sharey=True,
                             layout="constrained", squeeze=False)
    for row, axs in zip(panels, axes):
        for ax, (title, table, layers) in zip(axs, row):
            ipplot.information_over_steps(table, "H_T", ax=ax, layers=layers, errorbar=None)
            ax.axhline(log2_n, color="black", lw=0.8, ls=":", label=f"log2 N = {log2_n:.2f}")
            ax.set_title(title)
            ax.legend(fontsize="x-small", ncol=2 if len(layers) > 6 else 1, loc="lower left")
    return fig
