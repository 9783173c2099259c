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
# # 01 — Information plane of an MLP on MNIST
#
# Wickstrøm et al. (Entropy 2023), the MLP experiment: a 784-1024-20-20-20-10 network (each hidden block
# Linear → activation → BatchNorm) trained with plain SGD (lr 0.09, batch 100). At every measured training step
# we estimate, for each layer T, the matrix-based Rényi entropy H(T) and the mutual information I(X;T) and
# I(T;Y) on N = 100 samples, with the tensor (Gaussian) kernel whose width is chosen by kernel alignment with
# the labels and smoothed over steps (β = 0.9). The input kernel has the fixed width σ_X = 8 and the label
# kernel is the class-equality kernel.
#
# Two streams are measured: **train** — the mini-batch just trained on — and **test** — freshly drawn test
# samples. The paper's finding: on training data the IP shows a fitting phase (I(X;T) and I(T;Y) rise)
# followed by a compression phase (I(X;T) falls); on test data compression is weak or absent.
#
# The defaults below are the *quick* profile (a laptop CPU in a few minutes). `run_all.sh paper` passes the
# paper's settings: the full training set, 10 epochs, 10 runs, the first 500 steps measured at every step.
#
# Estimation follows the authors' protocol `wickstrom2019` (docs/method.md §3–4, `ipkit.protocol`): α → 1
# (von Neumann), σ_X = 8, the width grid linspace(0.3, 10 · mean distance, n) with the mean over all N² entries
# of the distance matrix, n = 300 for steps 1–21 (the authors' iterations 0–20) and 100 after; `estimation`
# overrides any of these and is recorded in every row. Choices of ours: eigenvalues in float64 with round-off
# negatives clamped; `val_fraction` of the training subset is held out as a validation split for the
# early-stopping bookkeeping.

# %% tags=["parameters"]
dataset = "mnist"
activation = "tanh"
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
output_dir = "results/01_mlp_mnist"
accuracy_floor = 0.85
progress = True

# %%
import ipkit.plot as ipplot
from ipkit.analysis import compression, dpi_fractions
from ipkit.experiment import (check_results, experiment_from_parameters, load_results, publish, run_experiment,
                              save_results, staging)

# every parameter above that is named like an Experiment field (epochs, seeds, estimation, ...) goes into it
exp = experiment_from_parameters(globals(), model="mlp", model_options={"activation": activation})
exp

# %% [markdown]
# ## Training with the information plane measured along the way
# (With `results_from` set to the output folder of an earlier run — e.g. one made on a GPU — the tables are
# read from there instead, and everything below is redrawn from them.)

# %%
results = load_results(results_from) if results_from else run_experiment(exp, scheduler=scheduler)
stage = staging(output_dir)  # written to output_dir only once the checks at the end pass
paths = save_results(results, stage, notebook="01_mlp_mnist")
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
