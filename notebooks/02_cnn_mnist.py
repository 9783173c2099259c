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
from ipkit.experiment import experiment_from_parameters, load_results, run_experiment
from ipkit.report import report_experiment

# every parameter above that is named like an Experiment field (epochs, seeds, estimation, ...) goes into it
exp = experiment_from_parameters(globals(), model="cnn", model_options={"variant": variant, "activation": activation})
exp

# %% [markdown]
# ## Training the CNN, conv and dense layers measured along the way
# The conv layers' C×H×W outputs are compared through the tensor kernel, the dense layers' vectors through the
# same Gaussian kernel, both at widths from label alignment. (With `results_from` set to the output folder of an
# earlier run the tables are read from there instead, and everything below is redrawn from them.)

# %%
results = load_results(results_from) if results_from else run_experiment(exp, scheduler=scheduler)
results.summary

# %% [markdown]
# ## The CNN's information plane
# Finding 1 for the CNN: fitting, then compression on training data, weaker or absent on test data. Conv layers
# and dense layers share the plane; points are means over runs, coloured by training step, with the early-stopping
# points per patience. Then I(X;T) of every layer over the steps (band: ±2 standard errors), the data processing
# inequality from conv1 to the output, the widths σ_T (the conv layers' are on the tensor kernel's scale, far
# above the dense layers') and the training curves.
#
# The tables and figures go to a staging folder that replaces `output_dir` only once the checks pass; a broken run
# fails here, loudly: every estimate finite and within [0, log2 n], test accuracy above the floor for these sizes,
# the output layer's I(T;Y) on training data higher at the last measurement than at the first.

# %%
report = report_experiment(results, output_dir, notebook="02_cnn_mnist", splits=splits,
                           accuracy_floor=accuracy_floor)

# %% [markdown]
# ## The fitting/compression boundary per layer, and the DPI along the CNN
# I(X;T)'s peak step per layer and split and the fall after it; then the fraction of measured steps at which
# I(X;T) decreases with depth through the conv and the dense layers (finding 4).

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

