# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
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
# (Gaussian on the flattened H×W map) and the layer's entropy is the joint entropy of all C of them, i.e. the
# entropy of the Hadamard product K_1 ∘ … ∘ K_C (docs/method.md §2). Each channel has its own Silverman-type
# width **σ_c = γ · s_c · N^(−1/(4+H·W))**, s_c the channel's spread (the root mean variance over the samples of
# its H·W values; `ipkit.silverman_channel_sigmas`), so the widths differ from channel to channel.
#
# On a trained MNIST CNN and a (reduced-width) VGG-16 on CIFAR-10, this notebook shows
#
# 1. **the Hadamard special case**: with equal widths, ∏_c exp(−‖X_c − X'_c‖² / σ²) = exp(−‖X − X'‖_F² / σ²),
#    so the multivariate kernel *is* the tensor kernel — checked numerically on real activations;
# 2. **saturation**: at Yu et al.'s per-channel widths the off-diagonal entries of the product vanish, A → I/N,
#    and the entropy reaches its ceiling log2 N; the tensor kernel at its alignment width does not
#    (docs/method.md §6, item 5);
# 3. **the information plane under both estimators** during training: every saturated conv layer sits in the
#    corner (H(X), H(Y)) whatever the network does;
# 4. **the width rule and α**: the CNN's IP with alignment + EMA (the paper's rule), k-NN, Silverman-type and
#    fixed widths, and with α ∈ `alphas`;
# 5. **the structure-preserving kernel** of Signoretto et al. (2011), the alternative the paper names: the CNN's
#    conv layers in the information plane next to the tensor kernel, and what it costs.
#
# Each network is trained **once**: at every measured step one forward pass is shared by all settings
# (`ipkit.comparison.SettingsTracker`), which measure the *same* network snapshot on the *same* batch, so every
# difference between them is the estimator's.
#
# Choices recorded here (docs/method.md §1–4):
# - Every setting is the protocol `protocol` (the paper's, "wickstrom2019": α → 1, σ_X = 8 on inputs scaled to
#   [0, 1], softmax output, alignment widths on linspace(0.3, 10 · mean distance, 300 points for the first 21
#   steps, then 100), EMA β = 0.9, γ = 1, k = 10) with one setting changed; the rows record it (`overrides`).
# - Measured on the training stream only (the first `n` samples of the mini-batch just trained on), at every
#   step up to `dense_until`, then every `every`-th step; one seed.
# - Multivariate estimator (`estimator="multivariate"`): applied to layers with a channel axis, i.e. the conv
#   layers (`width_rule` "silverman-per-channel", `sigma_T` the mean of the σ_c); dense layers keep the tensor
#   kernel and the alignment width, so on them both estimators give identical numbers.
# - Width rules (`width_rule`, each smoothed over steps with β): "alignment" (the paper's), "knn" (mean distance
#   to the k-th nearest neighbour), "silverman" (σ = γ · N^(−1/(4+d)), d = the layer's whole size C·H·W), and
#   "fixed" (σ = `fixed_sigma` for every layer at every step, through `sigma_layers`).
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
protocol = "wickstrom2019"
alphas = [1.0, 1.01, 2.0]
width_rules = ["alignment", "knn", "silverman", "fixed"]
fixed_sigma = 10.0
channel_counts = [1, 2, 4, 8, 16, 32, 64, 128]
saturation_layers = ["conv2", "conv4", "conv7"]
saturation_margin = 0.01
tensor_gap = 0.25
cnn_accuracy_floor = 0.8
device = "auto"
threads = None
data_root = None
output_dir = "results/04_kernel_comparison"
progress = True

# %%
import json
import math
import time

import pandas as pd
import torch

import ipkit.plot as ipplot
from ipkit import alignment_sigma, estimation, label_gram, pairwise_sq_dists, silverman_channel_sigmas
from ipkit.comparison import (StructureKernelComparison, channel_saturation, comparison_problems, corner_distances,
                              entropy_figure, eval_activations, final_step, hadamard_special_case, planes_figure,
                              saturation_figure, structure_cost, structure_problems, train_with_settings,
                              training_summary)
from ipkit.data import load_dataset
from ipkit.experiment import publish, resolve_device, staging
from ipkit.models import build_model
from ipkit.train import evaluate, seed_everything

start = time.perf_counter()
if threads is not None:
    torch.set_num_threads(threads)
dev = resolve_device(device)
est = estimation(protocol)  # the settings every comparison starts from
log2_n = math.log2(n)
stage = staging(output_dir)  # written to output_dir only once the checks at the end pass

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
conv = {name: [layer for layer in m.measured_layers() if layer.startswith("conv")] for name, m in
        (("cnn", cnn), ("vgg16", vgg))}
pd.DataFrame([dict(network=name, measured_layers=", ".join(m.measured_layers()),
                   parameters=sum(p.numel() for p in m.parameters())) for name, m in (("cnn", cnn), ("vgg16", vgg))])

# %% [markdown]
# ## Training, with every setting measuring the same snapshots
# CNN on MNIST: the tensor and the multivariate estimator, every width rule in `width_rules` and every α in
# `alphas`. VGG-16 on CIFAR-10: the tensor and the multivariate estimator. All σ used are in the tables
# (`sigma_T`), with the rule that produced them (`width_rule`). The CNN's conv layers are also measured, on the
# same batches and snapshots, by the tensor and the structure-preserving kernel side by side (section 5).

# %%
TENSOR, MULTIVARIATE = "tensor, alignment", "multivariate"
fixed = {"sigma_layers": dict.fromkeys(cnn.measured_layers(), fixed_sigma)}
rule_settings = {f"tensor, {rule}": fixed if rule == "fixed" else {"width_rule": rule}
                 for rule in width_rules if rule != "alignment"}
alpha_settings = {f"tensor, α={a:g}": {"alpha": a} for a in alphas}
vgg_settings = {TENSOR: {}, MULTIVARIATE: {"estimator": "multivariate"}}
cnn_settings = {**vgg_settings, **rule_settings, **alpha_settings}
shared = dict(protocol=protocol, lr=lr, batch_size=batch_size, seed=seed, device=dev, n=n, every=every,
              dense_until=dense_until, progress=progress)

structure = StructureKernelComparison(cnn, conv["cnn"], protocol=protocol)
t0 = time.perf_counter()
cnn_log, cnn_ip = train_with_settings(cnn, x_mnist, y_mnist, cnn_settings, epochs=cnn_epochs, also=[structure],
                                      **shared)
t1 = time.perf_counter()
vgg_log, vgg_ip = train_with_settings(vgg, x_cifar, y_cifar, vgg_settings, epochs=vgg_epochs, **shared)
t2 = time.perf_counter()
cnn_ip, vgg_ip = cnn_ip.assign(network="cnn"), vgg_ip.assign(network="vgg16")

summary = pd.DataFrame([
    training_summary("cnn", cnn_log, cnn_ip, seconds=t1 - t0, test_accuracy=evaluate(cnn, xt_mnist, yt_mnist)[1]),
    training_summary("vgg16", vgg_log, vgg_ip, seconds=t2 - t1, test_accuracy=evaluate(vgg, xt_cifar, yt_cifar)[1])])
for name, table in (("ip_cnn", cnn_ip), ("ip_vgg16", vgg_ip), ("summary", summary)):
    table.to_csv(stage / f"{name}.csv", index=False)
summary

# %% [markdown]
# ## 1. The Hadamard special case
# The trained CNN's `conv2` output for `n` test samples (8 channels of 24×24), one width σ for every channel —
# the layer's alignment width, so that the kernel is far from both the identity and the all-ones matrix: the
# multivariate kernel `multivariate_gram(x, σ·1_C)` and the tensor kernel `gaussian_gram(x, σ)` agree to
# round-off, in float32 (~1e-7) and in float64 (~1e-14), and so do their entropies. Yu et al.'s own widths for
# this layer are not equal: they follow each channel's spread (printed below), so the special case is not theirs.

# %%
cnn_acts = eval_activations(cnn, xt_mnist[:n].to(dev), conv["cnn"])
vgg_acts = eval_activations(vgg, xt_cifar[:n].to(dev), saturation_layers)
conv2 = cnn_acts["conv2"]
sigma_h = alignment_sigma(pairwise_sq_dists(conv2.double()), label_gram(yt_mnist[:n].to(dev), 10).double(),
                          n_candidates=300)
hadamard = hadamard_special_case(conv2, sigma_h, est.alpha)
hadamard.to_csv(stage / "hadamard.csv", index=False)
print("Yu et al.'s widths σ_c of conv2:", silverman_channel_sigmas(conv2.double(), est.gamma).cpu().numpy().round(3))
hadamard

# %% [markdown]
# ## 2. Saturation of the multivariate kernel with the number of channels
# For a conv layer and its first C channels: the entropy under the multivariate kernel at Yu et al.'s
# per-channel widths σ_c = γ · s_c · N^(−1/(4+H·W)) (solid) and under the tensor kernel at its alignment width
# (dashed). A channel's width scales with its spread s_c, but its squared distances are sums over H·W positions:
# on average ‖X_c − X'_c‖² ≈ 2 · H·W · s_c² while σ_c² ≈ γ² s_c² N^(−2/(4+H·W)), so each factor exp(−D_c / σ_c²)
# is already nearly the identity for a large map, and every channel added makes the product closer to it:
# A → I/N and H → log2 N. The rule is invariant to the activations' scale, so what saturates it is the map
# size H·W and the number of channels, not the values. The alignment width grows with the distances (column
# `sigma_tensor`), so the tensor kernel keeps the structure and stays below. Left: the CNN's conv layers, on
# log2 N from one channel on; right: the VGG-16 layers `saturation_layers`, where one channel of a sparse ReLU
# map can still keep some structure (column `offdiag_multivariate`, the product's mean off-diagonal entry) and
# a few channels suffice to saturate it.

# %%
saturation = pd.concat([channel_saturation(acts, y[:n], channel_counts, protocol=protocol).assign(network=network)
                        for network, acts, y in (("cnn", cnn_acts, yt_mnist), ("vgg16", vgg_acts, yt_cifar))],
                       ignore_index=True)
saturation.to_csv(stage / "saturation.csv", index=False)
ipplot.save_figure(saturation_figure(saturation), stage / "saturation.png")
saturation.drop(columns="log2_n").round(4)

# %% [markdown]
# ## 3. The information plane under both estimators
# The same training runs, measured by both estimators on the same batches. Dense layers (fc…, out) use the
# tensor kernel in both, so their points coincide; only the conv layers differ. Where the multivariate kernel
# saturates, A_T = I/N, so H(T) = H(X, T) = H(T, Y) = log2 N and hence I(X;T) = H(X), I(T;Y) = H(Y): the layer
# sits in the corner (H(X), H(Y)) at every step, at initialization as after training, and the IP says nothing
# about it. (The corner is the batch's H(X) and H(Y), so it wobbles a little from batch to batch.) Deepest layer
# drawn first, so that the early layers stay visible on top.

# %%
networks = (("CNN, MNIST", "cnn", cnn_ip), (f"VGG-16 (width {vgg_width:g}), CIFAR-10", "vgg16", vgg_ip))
fig = planes_figure([[(f"{title}: {setting.split(',')[0]} kernel", ip[ip["setting"] == setting])
                      for setting in (TENSOR, MULTIVARIATE)] for title, _, ip in networks])
ipplot.save_figure(fig, stage / "ip_tensor_vs_multivariate.png")

# %% [markdown]
# H(T) of the conv layers over training: the multivariate kernel (right) on log2 N at every step, the tensor
# kernel (left) below it and moving with training. At lr 0.09 the VGG-16 can go through a transient in its first
# steps (column `max_loss` above) in which the deep layers' pairwise distances grow by orders of magnitude
# before shrinking back; the alignment widths follow, and their smoothing (β = 0.9) then lags behind with σ_T
# far above the distances, so in a short run the deep layers' tensor-kernel H(T) drops towards 0 (see `sigma_T`
# in ip_vgg16.csv). The per-channel widths follow every channel's spread at once, so the multivariate estimator
# sees none of this: its layers stay at log2 N through the blow-up and after it, except the smallest maps (2×2,
# the last block), which can leave it for a few steps.
#
# The table gives, per conv layer and estimator, the range over all measured steps of H(T) and of the distance
# to the corner, H(X) − I(X;T) and H(Y) − I(T;Y).

# %%
fig = entropy_figure([[(f"{title}: conv layers, {setting.split(',')[0]} kernel", ip[ip["setting"] == setting],
                        conv[network]) for setting in (TENSOR, MULTIVARIATE)] for title, network, ip in networks],
                     log2_n)
ipplot.save_figure(fig, stage / "entropy_conv_layers.png")

ips = pd.concat([cnn_ip, vgg_ip], ignore_index=True)
corner = corner_distances(ips[ips["setting"].isin([TENSOR, MULTIVARIATE]) & ips["layer"].str.startswith("conv")])
corner.to_csv(stage / "corner.csv", index=False)
corner.round(3)

# %% [markdown]
# ## 4. Width rule and α (CNN on MNIST)
# Top row: the tensor kernel under each width rule at the protocol's α. Bottom row: α ∈ `alphas`, alignment
# widths. Colour = training step, one colormap per layer (legend in the first panel); below, σ_T over training
# per rule.
#
# What to look for: a Silverman-type width for the whole layer ignores the scale of the activations — for the
# high-dimensional hidden layers σ ≈ γ is far below their pairwise distances, and they saturate (all in the
# corner); one fixed σ cannot suit layers whose distances range from below 1 (softmax output) to ~100 (conv
# layers): with σ = 10 the conv layers saturate and the output collapses to I ≈ 0; k-NN widths follow the
# activations' scale (same order as the alignment widths, somewhat larger here, hence lower estimates) but not
# the labels. Rényi entropy falls with α (S_2 ≤ S_1.01 ≤ S_1): α = 2 moves every point down and to the left,
# while α = 1 and 1.01 differ by a few hundredths of a bit.

# %%
panels = ([TENSOR, *rule_settings], list(alpha_settings))
fig = planes_figure([[(setting.removeprefix("tensor, "), cnn_ip[cnn_ip["setting"] == setting]) for setting in row]
                     for row in panels], colorbar=False)
ipplot.save_figure(fig, stage / "ip_width_rules_alpha.png")

fig = ipplot.sigma_panels([(s.removeprefix("tensor, "), cnn_ip[cnn_ip["setting"] == s]) for s in panels[0]])
ipplot.save_figure(fig, stage / "widths.png")

# %% [markdown]
# The final measured step, every setting on the same batch and the same network snapshot (one mini-batch
# estimate each, so differences of a few hundredths of a bit are within noise). H(X) and H(Y) of that batch
# bound I(X;T) and I(T;Y); the multivariate kernel's conv layers reach both bounds.

# %%
final = final_step(cnn_ip)
final.to_csv(stage / "final_step.csv", index=False)
print(f"step {final['step'].iloc[0]}: H(X) = {final['H_X'].iloc[0]:.3f}, H(Y) = {final['H_Y'].iloc[0]:.3f} bits")
final.pivot(index=["layer_index", "layer"], columns="setting", values=["I_XT", "I_TY"]).round(3)

# %% [markdown]
# ## 5. The structure-preserving kernel (CNN on MNIST)
# Signoretto, De Lathauwer and Suykens (2011; docs/method.md §2, [9]) compare two tensors mode by mode: the
# mode-n unfolding X_<n> of a C×H×W output (C × HW, H × CW, W × CH) has a thin SVD U S Vᵀ, P_n(X) = V Vᵀ
# projects onto its row space, and κ(X, Y) = ∏_n exp(−‖P_n(X) − P_n(Y)‖_F² / σ²)
# (`ipkit.structure_kernel.structure_preserving_gram`; no factor 2, as every kernel here). Choices: the full
# numerical rank of each unfolding (no fixed truncation; singular values below max(I_n, J_n) · eps of the
# activations' dtype times the largest count as zero, so all-zero ReLU channels and all-zero samples are
# handled deterministically); one σ for all modes, chosen like the tensor kernel's (label alignment on the
# kernel's own distances, EMA β = 0.9); the input keeps its Gaussian kernel at σ_X. The kernel sees only
# row spaces: it ignores a sample's scale altogether, and with at most 2 Σ_n min(I_n, J_n) its distances are
# bounded. Both kernels measure the conv layers on the same activations (`StructureKernelComparison`), and
# each measurement (distances, widths, `information_plane`) is timed; the tensor kernel's rows equal the
# training run's tracker's (checked below), so the two planes differ only by the kernel.

# %%
structure_ip = structure.table()
structure_ip.to_csv(stage / "ip_structure_kernel.csv", index=False)
fig = planes_figure([[(f"CNN, MNIST, conv layers: {kernel}", structure_ip[structure_ip["setting"] == kernel])
                      for kernel in ("tensor kernel", "structure-preserving kernel")]])
ipplot.save_figure(fig, stage / "ip_structure_kernel.png")
cost = structure_cost(structure_ip)
cost.to_csv(stage / "structure_cost.csv", index=False)
cost.round(4)

# %% [markdown]
# Per conv layer and kernel, the range over the measured steps of H(T), σ_T and the distance to the corner
# (H(X), H(Y)): a layer on log2 N and in the corner has saturated.

# %%
structure_corner = corner_distances(structure_ip, sigma=True)
structure_corner.to_csv(stage / "corner_structure_kernel.csv", index=False)
structure_corner.round(3)

# %% [markdown]
# ## Checks
# A broken run fails here, loudly: every estimate finite and within [0, log2 n]; the Hadamard identity to
# round-off; at every swept layer's full width the multivariate entropy (per-channel widths) within
# `saturation_margin` bits of log2 N while the tensor kernel's is at least `tensor_gap` bits below; the CNN's
# multivariate conv layers in the corner (H(X), H(Y)) at every step; dense layers identical under both
# estimators; Rényi entropy non-increasing in α; the structure-kernel comparison finite, within bounds, both
# kernels at the same steps, its tensor rows equal to the tracker's; the CNN trained (test accuracy ≥
# `cnn_accuracy_floor`). Then the staging folder replaces `output_dir`.

# %%
problems = comparison_problems(ips, saturation, hadamard, tensor=TENSOR, multivariate=MULTIVARIATE,
                               alpha_settings=alpha_settings, in_corner=["cnn"], saturation_margin=saturation_margin,
                               tensor_gap=tensor_gap, summary=summary, accuracy_floors={"cnn": cnn_accuracy_floor})
problems += structure_problems(structure_ip, cnn_ip[cnn_ip["setting"] == TENSOR])

parameters = dict(seed=seed, lr=lr, batch_size=batch_size, cnn_variant=cnn_variant, cnn_train_size=cnn_train_size,
                  cnn_epochs=cnn_epochs, vgg_width=vgg_width, vgg_train_size=vgg_train_size, vgg_epochs=vgg_epochs,
                  test_size=test_size, n=n, every=every, dense_until=dense_until, protocol=protocol, alphas=alphas,
                  width_rules=width_rules, fixed_sigma=fixed_sigma, channel_counts=channel_counts,
                  saturation_layers=saturation_layers, saturation_margin=saturation_margin, tensor_gap=tensor_gap,
                  cnn_accuracy_floor=cnn_accuracy_floor, device=str(dev), data_root=data_root)
(stage / "run.json").write_text(json.dumps(dict(
    notebook="04_kernel_comparison", parameters=parameters, settings=dict(cnn=cnn_settings, vgg16=vgg_settings),
    problems=problems, torch=torch.__version__, threads=torch.get_num_threads(),
    seconds=time.perf_counter() - start), indent=2))

assert not problems, "result checks failed:\n- " + "\n- ".join(problems)
print(f"all checks passed in {time.perf_counter() - start:.0f} s:", publish(stage, output_dir).resolve())
