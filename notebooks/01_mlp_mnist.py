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
from ipkit.experiment import experiment_from_parameters, load_results, run_experiment
from ipkit.report import report_experiment

# every parameter above that is named like an Experiment field (epochs, seeds, estimation, ...) goes into it
exp = experiment_from_parameters(globals(), model="mlp", model_options={"activation": activation})
exp

# %% [markdown]
# ## Training the MLP, its five layers measured along the way
# fc1–fc4 and the output, each on the batch just trained on and on fresh test images at every due step. (With
# `results_from` set to the output folder of an earlier run, e.g. the paper profile's, the tables are read from
# there instead, and everything below is redrawn from them.)

# %%
results = load_results(results_from) if results_from else run_experiment(exp, scheduler=scheduler)
results.summary

# %% [markdown]
# ## The MLP's information plane
# Finding 1 is read here: each layer first moves right and up (fitting: I(X;T) and I(T;Y) rise), then left
# (compression: I(X;T) falls), on training data more than on test data. One point per (layer, step), the mean over
# runs; colour = training step, one colormap per layer; a marker per patience where early stopping on the
# validation loss would have stopped. Then I(X;T) of the five layers against the step (band: ±2 standard errors
# over runs; H(X) dotted), the data processing inequality, the widths σ_T and the training curves.
#
# The tables and figures go to a staging folder that replaces `output_dir` only once the checks pass; a broken run
# fails here, loudly: every estimate finite and within [0, log2 n], test accuracy above the floor for these sizes,
# the output layer's I(T;Y) on training data higher at the last measurement than at the first.

# %%
report = report_experiment(results, output_dir, notebook="01_mlp_mnist", splits=splits,
                           accuracy_floor=accuracy_floor)

# %% [markdown]
# ## Where fitting ends, and how much each layer compresses
# Per layer and split: the step at which I(X;T) peaks (the end of the fitting phase) and how far it falls after
# it; then how often I(X;T_1) ≥ I(X;T_2) ≥ … ≥ I(X;T_5) holds over the measured steps (finding 4).

# %%
report.compression

# %%
report.dpi

# %% [markdown]
# ## The paper's findings 1, 2 and 4, judged on this run
# The functions that write `results/findings.csv` (`ipkit.findings`; thresholds are their named parameters),
# applied to this run's tables: the verdict, the evidence in words and the numbers behind it. A quick-profile run
# is far shorter than the paper's, so its verdict says what these few steps show, not what the paper found.

# %%
report.findings

