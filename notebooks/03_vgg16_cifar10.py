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
# # 03 — Information plane of VGG-16 on CIFAR-10
#
# Wickstrøm et al. (Entropy 2023), the experiment no earlier IP method could do: VGG-16 with BatchNorm
# (13 conv layers, each Conv → BN → ReLU, and a 3-layer classifier) on CIFAR-10, with 16 measured layers. Each
# conv layer's output is a C×H×W tensor per sample; the tensor kernel turns it into a single N×N Gram matrix,
# whose width is chosen by kernel alignment with the labels and smoothed over steps (β = 0.9). N = 100 for both
# streams (the mini-batch just trained on, and fresh test samples), α → 1 (protocol `wickstrom2019`).
#
# Expected (docs/method.md §6): the early conv layers sit near the upper bound in I(X;T); later layers show fitting
# then compression on training data; on test data the output layer's I(T;Y) stalls.
#
# Input (a choice, docs/method.md §2): pixels scaled to [0, 1] with σ_X = 8. The authors fed raw 0–255 values with
# σ_X = 8, which makes the input kernel the identity (I(X;T) = H(T)); set `raw_pixels = True` for that.
#
# The *quick* default runs an eighth-width network (`width = 0.125`: 8…64 channels, 512-unit classifier) on a
# CIFAR-10 subset so it finishes on a laptop CPU; `run_all.sh paper` runs the full network (needs a GPU).
# Choice: the quick profile trains with lr = 0.01. At the paper's lr = 0.09 the loss jumps from 5.6 to over 100
# after the first step and a few hundred steps are not enough to recover (test accuracy stayed at chance, 9 %);
# the paper profile keeps lr = 0.09. Early in training the eval-mode BatchNorm statistics lag behind the
# exploding activations, so some widths σ_T start very large and the smoothing carries them for a while.

# %% tags=["parameters"]
dataset = "cifar10"
width = 0.125
epochs = 3
lr = 0.01
batch_size = 100
seeds = [0]
n = 100
n_test = 100
protocol = "wickstrom2019"
estimation = {}
raw_pixels = False
every = 6
dense_until = 30
splits = ["train", "test"]
train_size = 10000
test_size = 1000
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
output_dir = "results/03_vgg16_cifar10"
accuracy_floor = 0.15
bounds_atol = 1e-6
progress = True

# %%
import ipkit.plot as ipplot
from ipkit.analysis import compression, dpi_fractions
from ipkit.experiment import (check_results, experiment_from_parameters, load_results, publish, run_experiment,
                              save_results, staging)

# every parameter above that is named like an Experiment field (epochs, seeds, estimation, ...) goes into it
exp = experiment_from_parameters(globals(), model="vgg16", model_options={"width": width})
exp

# %% [markdown]
# ## Training with the information plane measured along the way
# (With `results_from` set to the output folder of an earlier run — e.g. one made on a GPU — the tables are
# read from there instead, and everything below is redrawn from them.)

# %%
results = load_results(results_from) if results_from else run_experiment(exp, scheduler=scheduler)
stage = staging(output_dir)  # written to output_dir only once the checks at the end pass
paths = save_results(results, stage, notebook="03_vgg16_cifar10")
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
check_results(results, accuracy_floor=accuracy_floor, atol=bounds_atol)
print("all checks passed:", publish(stage, output_dir))
