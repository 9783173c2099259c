# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 — Tensor kernel against the multivariate kernel; width rule and α
#
# Wickstrøm et al. (Entropy 2023) estimate the entropy of a convolutional layer with the **tensor kernel**: a
# sample's output X ∈ R^{C×H×W} is one point, κ(X, X') = exp(−‖X − X'‖_F² / σ²), one Gram matrix per layer,
# with a width σ_T chosen by kernel alignment with the labels. The baseline they argue against is the
# **multivariate approach** of Yu et al. (2019): every channel c is a variable with its own Gram matrix K_c
# (Gaussian on the flattened H×W map, Silverman-type width σ_c = γ · N^(−1/(4+H·W))), and the layer's entropy
# is the joint entropy of all C of them, i.e. the entropy of the Hadamard product K_1 ∘ … ∘ K_C (PAPER.md §2).
#
# On a trained MNIST CNN and a (reduced-width) VGG-16 on CIFAR-10, this notebook shows
#
# 1. **the Hadamard special case**: with equal widths, ∏_c exp(−‖X_c − X'_c‖² / σ²) = exp(−‖X − X'‖_F² / σ²),
#    so the multivariate kernel *is* the tensor kernel — checked numerically on real activations;
# 2. **saturation**: with per-channel widths that do not grow with the layer, the off-diagonal entries of the
#    product vanish as channels are added, A → I/N, and the entropy reaches its ceiling log2 N; the tensor
#    kernel at its alignment width does not (PAPER.md §6, item 5);
# 3. **the information plane under both estimators** during training: every saturated conv layer sits in the
#    corner (H(X), H(Y)) whatever the network does;
# 4. **the width rule and α**: the CNN's IP with alignment + EMA (the paper's rule), k-NN, Silverman-type and
#    fixed widths, and with α ∈ {1, 1.01, 2}.
#
# Each network is trained **once**; at every measured step several trackers (one per estimator, width rule or
# α) measure the *same* network snapshot on the *same* batch, so every difference between them is the
# estimator's.
#
# Choices recorded here (PAPER.md §1–4):
# - Measured on the training stream only (the first `n` samples of the mini-batch just trained on), at every
#   step up to `dense_until`, then every `every`-th step; one seed. σ_X = 8 on inputs scaled to [0, 1]; the
#   label kernel is the class-equality kernel; the output layer is measured after softmax.
# - Multivariate estimator (the tracker's `estimator="multivariate"`): applied to layers with a channel axis,
#   i.e. the conv layers; dense layers keep the tensor kernel and the alignment width, so on them both
#   estimators give identical numbers. All channels of a layer share N and H·W, so their Silverman-type widths
#   are equal (γ = `silverman_gamma`) and the multivariate kernel is the tensor kernel at σ_c ≈ γ: a width that
#   ignores the scale of the activations. How many channels saturate it therefore depends on that scale.
# - Width rules (the tracker's `width_rule`, every rule smoothed over steps with β = `beta`): "alignment" (the
#   paper's; grid linspace(0.3, 10 · mean distance, 300 points for a layer's first 20 measurements, then 100)),
#   "knn" (mean distance to the `knn_k`-th nearest neighbour), "silverman" (σ = γ · N^(−1/(4+d)), d = the
#   layer's whole size C·H·W), and "fixed" (σ = `fixed_sigma` for every layer at every step, through the
#   tracker's `sigma_layers`).
# - α = `alpha` (the paper's 1.01) everywhere except in the α comparison, which uses the alignment widths
#   (a width does not depend on α, so those trackers see identical Gram matrices).
# - Saturation sweep: `n` test samples through the trained networks in eval mode; the first C channels of a
#   layer for C in `channel_counts` and the layer's full width; the tensor kernel's width is the alignment
#   maximizer on a 300-point grid for that one snapshot (no smoothing).
#
# The defaults are the *quick* profile (a couple of minutes on a laptop CPU). On a CPU the VGG-16 gets only a
# few training steps; the estimators' behaviour, not the network's accuracy, is the subject here.

# %% tags=["parameters"]
seed = 0
lr = 0.09
batch_size = 100
cnn_variant = "2023"
cnn_train_size = 5000
cnn_epochs = 2
vgg_width = 0.25
vgg_train_size = 2000
vgg_epochs = 1
test_size = 500
n = 100
every = 5
dense_until = 10
alpha = 1.01
alphas = [1.0, 1.01, 2.0]
width_rules = ["alignment", "knn", "silverman", "fixed"]
beta = 0.9
knn_k = 10
fixed_sigma = 10.0
silverman_gamma = 1.0
sigma_x = 8.0
channel_counts = [1, 2, 4, 8, 16, 32, 64, 128]
saturation_layers = ["conv2", "conv4", "conv7"]
saturation_margin = 0.01
tensor_gap = 0.25
cnn_accuracy_floor = 0.8
device = "auto"
data_root = None
output_dir = "results/04_kernel_comparison"
progress = True

# %%
import json
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

import ipkit.plot as ipplot
from ipkit import (InformationPlaneTracker, activations, alignment_sigma, gaussian_from_sq_dists, gaussian_gram,
                   label_gram, mean_distance, multivariate_gram, pairwise_sq_dists, renyi_entropy, silverman_sigma)
from ipkit.data import load_dataset
from ipkit.experiment import resolve_device
from ipkit.models import build_model
from ipkit.tracker import measurement_due
from ipkit.train import evaluate, seed_everything, train

start = time.perf_counter()
out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
dev = resolve_device(device)
log2_n = math.log2(n)
NUM_CLASSES = 10


def write_csv(table, name):
    """Write a table into output_dir under a temporary name, then rename it: never a half-written file."""
    path = out / f"{name}.csv"
    tmp = out / f".{name}.csv.tmp"
    table.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def conv_layers(model):
    return [layer for layer in model.measured_layers() if layer.startswith("conv")]


def setting_name(estimator, rule, a):
    return f"{estimator}, {rule}, α={a:g}"


def make_tracker(model, estimator="tensor", rule="alignment", a=alpha):
    """A tracker for one setting; rule "fixed" means σ = fixed_sigma for every layer (the tracker's sigma_layers)."""
    fixed = rule == "fixed"
    return InformationPlaneTracker(
        model, NUM_CLASSES, sigma_x=sigma_x, alpha=a, estimator=estimator,
        width_rule="alignment" if fixed else rule, beta=beta, width_options={"k": knn_k, "gamma": silverman_gamma},
        sigma_layers={layer: fixed_sigma for layer in model.measured_layers()} if fixed else {},
        silverman_gamma=silverman_gamma, seed=seed)


def train_measured(model, x, y, settings, epochs):
    """Train `model` once; at every due step each setting's tracker measures the same snapshot on the same batch.

    Args:
        settings: dict name -> (estimator, width rule, α).

    Returns:
        The training log, and the IP table of all settings with a column `setting` and the width rule actually
        used in `width_rule`.
    """
    trackers = {name: make_tracker(model, *setting) for name, setting in settings.items()}

    def on_step(step, epoch, xb, yb):
        if measurement_due(step, every, dense_until):
            for tracker in trackers.values():
                tracker.measure(xb[:n], yb[:n], step=step, epoch=epoch, split="train")

    log = train(model, x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=dev, on_step=on_step,
                progress=progress)
    tables = []
    for name, (estimator, rule, a) in settings.items():
        table = trackers[name].table().assign(setting=name)
        if estimator == "multivariate":  # its conv layers use Silverman-type widths, its dense layers the rule
            table.loc[table["layer"].isin(conv_layers(model)), "width_rule"] = "silverman"
        if rule == "fixed":  # the tracker records its rule, which sigma_layers bypassed
            table["width_rule"] = "fixed"
        tables.append(table)
    return log, pd.concat(tables, ignore_index=True)


def ip_panel(table, ax, colorbar=False):
    """`ipkit.plot.information_plane`, deepest layer drawn first so that the early layers stay visible on top."""
    depth = table.groupby("layer")["layer_index"].min().sort_values().index.tolist()
    ipplot.information_plane(table, ax=ax, layers=depth[::-1], colorbar=colorbar)
    handles = ax.get_legend().legend_handles[::-1]  # back to depth order
    ax.legend(handles=handles, loc="lower right", fontsize="small", ncol=1 if len(handles) <= 8 else 2)
    return ax


# %% [markdown]
# ## Data and the two networks
# Seeded subsets of MNIST and CIFAR-10, pixels scaled to [0, 1]. The CNN is the paper's small MNIST CNN
# (variant `cnn_variant`); VGG-16 with BN has `vgg_width` of the paper's channels (0.25: 16…128 channels and a
# 1024-unit classifier). Plain SGD, lr 0.09, batch 100.

# %%
x_mnist, y_mnist = load_dataset("mnist", "train", data_root, n=cnn_train_size, seed=seed)
xt_mnist, yt_mnist = load_dataset("mnist", "test", data_root, n=test_size, seed=seed)
x_cifar, y_cifar = load_dataset("cifar10", "train", data_root, n=vgg_train_size, seed=seed)
xt_cifar, yt_cifar = load_dataset("cifar10", "test", data_root, n=test_size, seed=seed)

seed_everything(seed)
cnn = build_model("cnn", variant=cnn_variant).to(dev)
seed_everything(seed)
vgg = build_model("vgg16", width=vgg_width).to(dev)
pd.DataFrame([dict(network=name, measured_layers=", ".join(m.measured_layers()),
                   parameters=sum(p.numel() for p in m.parameters())) for name, m in (("cnn", cnn), ("vgg16", vgg))])

# %% [markdown]
# ## Training, with every setting measuring the same snapshots
# CNN on MNIST: the tensor and the multivariate estimator, every width rule in `width_rules` (at α = `alpha`)
# and every α in `alphas` (alignment widths). VGG-16 on CIFAR-10: the tensor and the multivariate estimator.
# All σ used are in the tables (`sigma_T`), with the rule that produced them (`width_rule`).

# %%
cnn_settings = {setting_name("tensor", "alignment", alpha): ("tensor", "alignment", alpha),
                setting_name("multivariate", "silverman", alpha): ("multivariate", "alignment", alpha)}
for rule in width_rules:
    cnn_settings.setdefault(setting_name("tensor", rule, alpha), ("tensor", rule, alpha))
for a in alphas:
    cnn_settings.setdefault(setting_name("tensor", "alignment", a), ("tensor", "alignment", a))
vgg_settings = dict(list(cnn_settings.items())[:2])
TENSOR, MULTIVARIATE = list(vgg_settings)

t0 = time.perf_counter()
cnn_log, cnn_ip = train_measured(cnn, x_mnist, y_mnist, cnn_settings, cnn_epochs)
t1 = time.perf_counter()
vgg_log, vgg_ip = train_measured(vgg, x_cifar, y_cifar, vgg_settings, vgg_epochs)
t2 = time.perf_counter()

summary = pd.DataFrame([
    dict(network=name, steps=int(log["step"].max()), measurements=ip["step"].nunique(), settings=ip["setting"].nunique(),
         seconds=seconds, max_loss=log["loss"].max(), final_loss=log["loss"].tail(10).mean(),
         test_accuracy=evaluate(model, xt, yt)[1])
    for name, log, ip, seconds, model, xt, yt in (("cnn", cnn_log, cnn_ip, t1 - t0, cnn, xt_mnist, yt_mnist),
                                                  ("vgg16", vgg_log, vgg_ip, t2 - t1, vgg, xt_cifar, yt_cifar))])
write_csv(cnn_ip.assign(network="cnn"), "ip_cnn")
write_csv(vgg_ip.assign(network="vgg16"), "ip_vgg16")
write_csv(summary, "summary")
summary

# %% [markdown]
# ## 1. The Hadamard special case
# The trained CNN's `conv2` output for `n` test samples (8 channels of 24×24), one width σ for every channel —
# the layer's alignment width, so that the kernel is far from both the identity and the all-ones matrix: the
# multivariate kernel `multivariate_gram(x, σ·1_C)` and the tensor kernel `gaussian_gram(x, σ)` agree to
# round-off, in float32 (~1e-7) and in float64 (~1e-14), and so do their entropies.

# %%
cnn.eval()
with torch.no_grad():
    conv2 = activations(cnn, xt_mnist[:n].to(dev), ["conv2"])["conv2"]
K_y_mnist = label_gram(yt_mnist[:n].to(dev), NUM_CLASSES)
sigma_h = alignment_sigma(pairwise_sq_dists(conv2.double()), K_y_mnist.double(), n_candidates=300)
hadamard = []
for dtype in (torch.float32, torch.float64):
    a = conv2.to(dtype)
    K_mv = multivariate_gram(a, torch.full((a.shape[1],), sigma_h, dtype=dtype))
    K_ten = gaussian_gram(a, sigma_h)
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=a.device)
    hadamard.append(dict(dtype=str(dtype).removeprefix("torch."), channels=a.shape[1], sigma=sigma_h,
                         max_abs_difference=float((K_mv - K_ten).abs().max()),
                         entropy_difference=float(renyi_entropy(K_mv, alpha) - renyi_entropy(K_ten, alpha)),
                         mean_off_diagonal=float(K_ten[off_diagonal].mean())))
hadamard = pd.DataFrame(hadamard)
write_csv(hadamard, "hadamard")
print("max |K_multivariate − K_tensor|:", dict(zip(hadamard["dtype"], hadamard["max_abs_difference"])))
hadamard

# %% [markdown]
# ## 2. Saturation of the multivariate kernel with the number of channels
# For a conv layer and its first C channels: the entropy under the multivariate kernel at the Silverman-type
# widths σ_c = γ · N^(−1/(4+H·W)) (solid) and under the tensor kernel at its alignment width (dashed).
# The product K_1 ∘ … ∘ K_C = exp(−Σ_c D_c / σ_c²) has an exponent that grows with every channel added while
# σ_c stays ≈ γ: the off-diagonal entries vanish, A → I/N and H → log2 N. The alignment width grows with the
# distances (column `sigma_tensor`, roughly ∝ √C), so the tensor kernel keeps the structure and stays below.
#
# How fast the multivariate kernel saturates depends on how large one channel's distances are against σ_c ≈ γ:
# a whole 26×26 or 32×32 map already gives D_c ≫ γ², so one channel suffices (all CNN curves lie on log2 N);
# small maps of deep layers (4×4, 2×2) need many channels. Left: the CNN's conv layers; right: the VGG-16
# layers `saturation_layers`.

# %%
def saturation_sweep(model, x, y, layers, network):
    if not layers:
        return []
    model.eval()
    with torch.no_grad():
        acts = activations(model, x[:n].to(dev), layers)
    K_y = label_gram(y[:n].to(dev), NUM_CLASSES)
    rows = []
    for layer, a in acts.items():
        a = a.double()
        C, H, W = a.shape[1:]
        for c in sorted({c for c in channel_counts if c < C} | {C}):
            part = a[:, :c]  # (N, c, H, W): the first c channels
            sigma_c = silverman_sigma(n, H * W, silverman_gamma)
            d2 = pairwise_sq_dists(part)
            sigma_t = alignment_sigma(d2, K_y.to(d2.dtype), n_candidates=300)
            K_mv = multivariate_gram(part, torch.full((c,), sigma_c))
            rows.append(dict(network=network, layer=layer, channels=c, layer_channels=C, map_size=f"{H}×{W}",
                             sigma_multivariate=sigma_c, H_multivariate=float(renyi_entropy(K_mv, alpha)),
                             sigma_tensor=sigma_t,
                             H_tensor=float(renyi_entropy(gaussian_from_sq_dists(d2, sigma_t), alpha)),
                             mean_distance=float(mean_distance(d2)), log2_n=log2_n))
    return rows


saturation = pd.DataFrame(saturation_sweep(cnn, xt_mnist, yt_mnist, conv_layers(cnn), "cnn")
                          + saturation_sweep(vgg, xt_cifar, yt_cifar, saturation_layers, "vgg16"))
write_csv(saturation, "saturation")

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
for ax, (network, rows) in zip(axes, saturation.groupby("network", sort=False)):
    for i, (layer, g) in enumerate(rows.groupby("layer", sort=False)):
        name = f"{layer} ({g['layer_channels'].iloc[0]}×{g['map_size'].iloc[0]})"
        ax.plot(g["channels"], g["H_multivariate"], "o-", color=f"C{i}", label=f"{name}, multivariate")
        ax.plot(g["channels"], g["H_tensor"], "s--", color=f"C{i}", mfc="white", label=f"{name}, tensor")
    ax.axhline(log2_n, color="black", lw=0.8, ls=":", label=f"log2 N = {log2_n:.2f}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("channels C used (the first C)")
    ax.set_title(f"{network}: multivariate (solid) vs tensor (dashed)")
    ax.legend(fontsize="x-small")
axes[0].set_ylabel(f"H_α(T) [bits], α = {alpha:g}")
ipplot.save_figure(fig, out / "saturation.png")
saturation.drop(columns="log2_n").round(3)

# %% [markdown]
# ## 3. The information plane under both estimators
# The same training runs, measured by both estimators on the same batches. Dense layers (fc…, out) use the
# tensor kernel in both, so their points coincide; only the conv layers differ. Where the multivariate kernel
# saturates, A_T = I/N, so H(T) = H(X, T) = H(T, Y) = log2 N and hence I(X;T) = H(X), I(T;Y) = H(Y): the layer
# sits in the corner (H(X), H(Y)) at every step, at initialization as after training, and the IP says nothing
# about it. (The corner is the batch's H(X) and H(Y), so it wobbles a little from batch to batch.)

# %%
fig, axes = plt.subplots(2, 2, figsize=(12, 10), layout="constrained")
for row, (network, ip) in enumerate((("CNN, MNIST", cnn_ip), (f"VGG-16 (width {vgg_width:g}), CIFAR-10", vgg_ip))):
    for col, setting in enumerate((TENSOR, MULTIVARIATE)):
        ax = ip_panel(ip[ip["setting"] == setting], ax=axes[row, col], colorbar=col == 1)
        ax.set_title(f"{network}: {setting.split(',')[0]} kernel")
    for ax in axes[row]:  # the same limits for both estimators
        ax.set_xlim(min(a.get_xlim()[0] for a in axes[row]), max(a.get_xlim()[1] for a in axes[row]))
        ax.set_ylim(min(a.get_ylim()[0] for a in axes[row]), max(a.get_ylim()[1] for a in axes[row]))
ipplot.save_figure(fig, out / "ip_tensor_vs_multivariate.png")

# %% [markdown]
# In the CNN's plane the conv layers crowd the upper right under both estimators: on MNIST these few-channel
# layers are close to the upper bound with the tensor kernel as well (the paper finds the same for early conv
# layers). The difference is clearer in H(T) over training (below): multivariate (solid) exactly on log2 N at
# every step, tensor (dashed) below it and moving with training.
#
# At lr 0.09 the VGG-16 can go through a transient in its first steps (in the quick run it does: the loss
# jumps to ~44 at step 2, column `max_loss` above) in which the deep layers' pairwise distances grow by orders
# of magnitude before shrinking back within ~10 steps. The alignment widths follow, and their exponential
# smoothing (β = 0.9) then lags behind for tens of steps with σ_T far above the distances, so in a short run the
# deep layers' tensor-kernel H(T) drops towards 0 (see `sigma_T` in ip_vgg16.csv). The multivariate estimator sees none of this in the conv layers it saturates: they stay at
# log2 N through the blow-up and after it. Its deepest layers (4×4 and 2×2 maps) are *not* saturated when the
# activations are small: saturation is a matter of scale against γ, not of information.
#
# The table gives, per conv layer and estimator, the range over all measured steps of H(T) and of the distance
# to the corner, H(X) − I(X;T) and H(Y) − I(T;Y).

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
for ax, (network, ip, model) in zip(axes, (("CNN, MNIST", cnn_ip, cnn),
                                           (f"VGG-16 (width {vgg_width:g}), CIFAR-10", vgg_ip, vgg))):
    layers = conv_layers(model)
    for i, layer in enumerate(layers):
        colour = plt.cm.viridis(i / max(len(layers) - 1, 1))
        for setting, style in ((MULTIVARIATE, "-"), (TENSOR, "--")):
            curve = ip[(ip["setting"] == setting) & (ip["layer"] == layer)].sort_values("step")
            ax.plot(curve["step"], curve["H_T"], style, color=colour, lw=1.4,
                    label=layer if setting == TENSOR else None)
    ax.axhline(log2_n, color="black", lw=0.8, ls=":")
    ax.plot([], [], "k-", label="multivariate")
    ax.plot([], [], "k--", label="tensor")
    ax.plot([], [], "k:", label=f"log2 N = {log2_n:.2f}")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"H_α(T) [bits], α = {alpha:g}")
    ax.set_title(f"{network}: conv layers")
    ax.legend(fontsize="x-small", ncol=2 if len(layers) > 6 else 1, loc="lower left")
ipplot.save_figure(fig, out / "entropy_conv_layers.png")

conv_rows = pd.concat([cnn_ip.assign(network="cnn"), vgg_ip.assign(network="vgg16")])
conv_rows = conv_rows[conv_rows["setting"].isin([TENSOR, MULTIVARIATE]) & conv_rows["layer"].str.startswith("conv")]
conv_rows = conv_rows.assign(corner_XT=conv_rows["H_X"] - conv_rows["I_XT"],
                             corner_TY=conv_rows["H_Y"] - conv_rows["I_TY"])
corner = (conv_rows.groupby(["network", "layer_index", "layer", "estimator"])[["H_T", "corner_XT", "corner_TY"]]
          .agg(["min", "max"]))
corner.columns = [f"{value}_{stat}" for value, stat in corner.columns]
corner = corner.reset_index().drop(columns="layer_index")
write_csv(corner, "corner")
corner.round(3)

# %% [markdown]
# ## 4. Width rule and α (CNN on MNIST)
# Top row: the tensor kernel under each width rule at α = `alpha`. Bottom row: α ∈ `alphas`, alignment widths.
# Colour = training step, one colormap per layer (legend in the last panel); below, σ_T over training per rule.
#
# What to look for: a Silverman-type width ignores the scale of the activations — for the high-dimensional
# hidden layers σ ≈ γ is far below their pairwise distances, and they saturate exactly as under the multivariate
# kernel (all in the corner); one fixed σ cannot suit layers whose distances range from below 1 (softmax output)
# to ~100 (conv layers): with σ = 10 the conv layers saturate and the output collapses to I ≈ 0; k-NN widths
# follow the activations' scale (same order as the alignment widths, somewhat larger here, hence lower
# estimates) but not the labels. Rényi entropy falls
# with α (S_2 ≤ S_1.01 ≤ S_1): α = 2 moves every point down and to the left, while α = 1 and 1.01 differ by a few
# hundredths of a bit.

# %%
rule_settings = [setting_name("tensor", rule, alpha) for rule in width_rules]
alpha_settings = [setting_name("tensor", "alignment", a) for a in alphas]
cols = max(len(rule_settings), len(alpha_settings) + 1)
fig, axes = plt.subplots(2, cols, figsize=(3.6 * cols, 7.4), sharex=True, sharey=True, layout="constrained",
                         squeeze=False)
for ax in axes.flat:
    ax.set_visible(False)
for row, settings in enumerate((rule_settings, alpha_settings)):
    for ax, setting in zip(axes[row], settings):
        ax.set_visible(True)
        ip_panel(cnn_ip[cnn_ip["setting"] == setting], ax=ax)
        ax.set_title(setting.removeprefix("tensor, "), fontsize="medium")
        ax.tick_params(labelbottom=True)
handles = axes[0, 0].get_legend().legend_handles
for ax in axes.flat:
    if ax.get_legend() is not None:
        ax.get_legend().remove()
legend_ax = axes[1, -1]
legend_ax.set_visible(True)
legend_ax.axis("off")
legend_ax.legend(handles=handles, title="layer (colour darkens\nwith training step)", loc="center")
ipplot.save_figure(fig, out / "ip_width_rules_alpha.png")

fig, axes = plt.subplots(1, len(rule_settings), figsize=(3.6 * len(rule_settings), 3.4), sharey=True,
                         layout="constrained", squeeze=False)
for ax, setting in zip(axes[0], rule_settings):
    ipplot.sigma_plot(cnn_ip[cnn_ip["setting"] == setting], ax=ax)
    ax.set_title(setting.removeprefix("tensor, "), fontsize="medium")
    ax.get_legend().set_visible(ax is axes[0, 0])
ipplot.save_figure(fig, out / "widths.png")

# %% [markdown]
# The final measured step, every setting on the same batch and the same network snapshot (one mini-batch
# estimate each, so differences of a few hundredths of a bit are within noise). H(X) and H(Y) of that batch
# bound I(X;T) and I(T;Y); the multivariate kernel's conv layers reach both bounds.

# %%
last = cnn_ip[cnn_ip["step"] == cnn_ip["step"].max()]
final = last[["setting", "estimator", "width_rule", "alpha", "step", "layer_index", "layer", "sigma_T", "H_T",
              "I_XT", "I_TY", "H_X", "H_Y"]].sort_values(["setting", "layer_index"], kind="stable")
write_csv(final, "final_step")
print(f"step {int(last['step'].iloc[0])}: H(X) = {last['H_X'].iloc[0]:.3f}, H(Y) = {last['H_Y'].iloc[0]:.3f} bits")
final.pivot(index=["layer_index", "layer"], columns="setting", values=["I_XT", "I_TY"]).round(3)

# %% [markdown]
# ## Checks
# A broken run fails here, loudly: every estimate finite and within [0, log2 n]; the Hadamard identity to
# round-off; at every swept layer's full width the multivariate entropy within `saturation_margin` bits of
# log2 N while the tensor kernel's is at least `tensor_gap` bits below; the CNN's multivariate conv layers in
# the corner (H(X), H(Y)) at every step; dense layers identical under both estimators; Rényi entropy
# non-increasing in α; the CNN trained (test accuracy ≥ `cnn_accuracy_floor`).

# %%
atol = 1e-4  # near-rank-one kernels (K ≈ all ones) give MI of about −5e-6 bits from round-off
problems = []
ips = pd.concat([cnn_ip.assign(network="cnn"), vgg_ip.assign(network="vgg16")], ignore_index=True)
for what, table, columns in (("IP", ips, ["H_T", "I_XT", "I_TY"]),
                             ("saturation", saturation, ["H_multivariate", "H_tensor"])):
    values = table[columns]
    if not values.apply(lambda c: c.map(math.isfinite)).all().all():
        problems.append(f"{what}: NaN or Inf estimates")
    if ((values < -atol) | (values > log2_n + atol)).any().any():
        problems.append(f"{what}: estimates outside [0, log2 n = {log2_n:.3f}]: "
                        f"{values.min().min():.6f} .. {values.max().max():.6f}")

difference = hadamard.set_index("dtype")["max_abs_difference"]
if not (difference["float32"] < 1e-5 and difference["float64"] < 1e-12):
    problems.append(f"Hadamard special case: multivariate and tensor kernel differ by {difference.to_dict()}")

for r in saturation[saturation["channels"] == saturation["layer_channels"]].itertuples():
    if not log2_n - r.H_multivariate <= saturation_margin:
        problems.append(f"{r.network} {r.layer}: multivariate H = {r.H_multivariate:.4f} at C = {r.channels} is "
                        f"not within {saturation_margin} bits of log2 N = {log2_n:.4f}")
    if not log2_n - r.H_tensor >= tensor_gap:
        problems.append(f"{r.network} {r.layer}: tensor H = {r.H_tensor:.4f} at C = {r.channels} is not "
                        f"{tensor_gap} bits below log2 N = {log2_n:.4f}")

mv_conv = cnn_ip[(cnn_ip["setting"] == MULTIVARIATE) & cnn_ip["layer"].isin(conv_layers(cnn))]
corner_gap = max((mv_conv["H_X"] - mv_conv["I_XT"]).abs().max(), (mv_conv["H_Y"] - mv_conv["I_TY"]).abs().max())
if not corner_gap <= saturation_margin:
    problems.append(f"CNN: multivariate conv layers up to {corner_gap:.4f} bits away from the corner (H(X), H(Y))")

for network, ip in (("cnn", cnn_ip), ("vgg16", vgg_ip)):
    dense = ip[~ip["layer"].str.startswith("conv")]
    both = dense[dense["setting"] == TENSOR].merge(dense[dense["setting"] == MULTIVARIATE], on=["step", "layer"])
    gap = both[["H_T_x", "I_XT_x", "I_TY_x"]].to_numpy() - both[["H_T_y", "I_XT_y", "I_TY_y"]].to_numpy()
    if both.empty or abs(gap).max() > 1e-9:
        problems.append(f"{network}: dense layers differ between the tensor and the multivariate tracker")

by_alpha = cnn_ip[cnn_ip["setting"].isin(alpha_settings)].pivot_table(index=["step", "layer"], columns="alpha",
                                                                        values="H_T")
if (by_alpha[sorted(by_alpha.columns)].diff(axis=1).iloc[:, 1:] > atol).any().any():
    problems.append("Rényi entropy increased with α somewhere (it is non-increasing in α)")

accuracy = summary.set_index("network")["test_accuracy"]
if accuracy["cnn"] < cnn_accuracy_floor:
    problems.append(f"CNN test accuracy {accuracy['cnn']:.3f} is below the floor {cnn_accuracy_floor}")

parameters = dict(seed=seed, lr=lr, batch_size=batch_size, cnn_variant=cnn_variant, cnn_train_size=cnn_train_size,
                  cnn_epochs=cnn_epochs, vgg_width=vgg_width, vgg_train_size=vgg_train_size, vgg_epochs=vgg_epochs,
                  test_size=test_size, n=n, every=every, dense_until=dense_until, alpha=alpha, alphas=alphas,
                  width_rules=width_rules, beta=beta, knn_k=knn_k, fixed_sigma=fixed_sigma,
                  silverman_gamma=silverman_gamma, sigma_x=sigma_x, channel_counts=channel_counts,
                  saturation_layers=saturation_layers, saturation_margin=saturation_margin, tensor_gap=tensor_gap,
                  cnn_accuracy_floor=cnn_accuracy_floor, device=str(dev), data_root=data_root)
tmp = out / ".run.json.tmp"
tmp.write_text(json.dumps(dict(notebook="04_kernel_comparison", parameters=parameters, problems=problems,
                               torch=torch.__version__, threads=torch.get_num_threads(),
                               seconds=time.perf_counter() - start), indent=2))
tmp.replace(out / "run.json")

assert not problems, "result checks failed:\n- " + "\n- ".join(problems)
print(f"all checks passed in {time.perf_counter() - start:.0f} s:", out)
