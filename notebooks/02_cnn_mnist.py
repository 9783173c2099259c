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
# # 02 — Information plane of a small CNN on MNIST
#
# Wickstrøm et al. (Entropy 2023), the CNN experiment: Conv(1→4) → Conv(4→8) → MaxPool → Conv(8→16) → MaxPool →
# FC-256 → FC-10, 3×3 kernels, trained with plain SGD (lr 0.09, batch 100). Two variants exist in the authors'
# code: `"2019"` (padding 1, no BatchNorm) and `"2023"` (no padding, BatchNorm after each activation); both are
# available through `variant`.
#
# The point of the paper: a convolutional layer's output for one sample is a tensor X ∈ R^{C×H×W}, and the
# **tensor kernel** κ(X, X') = exp(−‖X − X'‖_F² / σ²) gives one Gram matrix per layer whatever its shape, so
# H(T), I(X;T) and I(T;Y) are estimated for conv layers exactly as for dense ones. Widths σ_T are chosen by
# kernel alignment with the labels and smoothed over steps (β = 0.9); σ_X = 8; α → 1 (protocol
# `wickstrom2019`, docs/method.md §3–4; `estimation` overrides it); N = 100 training
# samples (the mini-batch just trained on) and 200 fresh test samples per measurement.
#
# Expected (docs/method.md §6): fitting then compression on training data, weak or no compression on test data.
# The defaults below are the *quick* profile; `run_all.sh paper` passes the paper's settings.

# %% tags=["parameters"]
dataset = "mnist"
variant = "2023"
activation = "relu"
epochs = 3
lr = 0.09
batch_size = 100
seeds = [0, 1]
n = 100
n_test = 200
protocol = "wickstrom2019"
estimation = {}
every = 4
dense_until = 100
splits = ["train", "test"]
train_size = 10000
test_size = 2000
subset = "random"
val_fraction = 0.1
eval_every = 10
test_every = None
patience = [50, 100, 200]
device = "auto"
threads = None
scheduler = None
checkpoint_dir = None
checkpoint_every = 0
data_root = None
results_from = ""
output_dir = "results/02_cnn_mnist"
accuracy_floor = 0.85
progress = True

# %%
import ipkit.plot as ipplot
from ipkit.analysis import compression, dpi_fractions
from ipkit.experiment import (check_results, experiment_from_parameters, load_results, publish, run_experiment,
                              save_results, staging)

# every parameter above that is named like an Experiment field (epochs, seeds, estimation, ...) goes into it
exp = experiment_from_parameters(globals(), model="cnn", model_options={"variant": variant, "activation": activation})
exp

# %% [markdown]
# ## Training with the information plane measured along the way
# (With `results_from` set to the output folder of an earlier run — e.g. one made on a GPU — the tables are
# read from there instead, and everything below is redrawn from them.)

# %%
results = load_results(results_from) if results_from else run_experiment(exp, scheduler=scheduler)
stage = staging(output_dir)  # written to output_dir only once the checks at the end pass
paths = save_results(results, stage, notebook="02_cnn_mnist")
results.summary

# %% [markdown]
# ## The information plane, its phases and the widths
# The IP per split: one point per (layer, step), averaged over runs; colour = training step, one colormap per
# layer; markers where early stopping on the validation loss would have stopped, for each patience (in steps).
# Then I(X;T) of every layer against the step (mean and band of ±2 standard errors over runs, H(X) dotted), the
# data processing inequality along depth, every width σ_T used (all in `ip.csv.gz`) and the training curves.

# %%
figures = ipplot.experiment_report(results, stage, splits=splits)

# %% [markdown]
# ## Fitting and compression, and the data processing inequality
# Per layer: the step at which I(X;T) peaks (the boundary between the fitting and the compression phase) and how
# much it falls afterwards, on training and on test data; then how often I(X;T_1) ≥ I(X;T_2) ≥ … holds.

# %%
compression(results.ip)

# %%
dpi = dpi_fractions(results.ip)
dpi[dpi.pair == "all"]

# %% [markdown]
# ## Checks
# A broken run fails here, loudly: every estimate finite and within [0, log2 n]; test accuracy above the floor
# for these sizes; the output layer's I(T;Y) on training data higher at the last measurement than at the first.

# %%
check_results(results, accuracy_floor=accuracy_floor)
print("all checks passed:", publish(stage, output_dir))
