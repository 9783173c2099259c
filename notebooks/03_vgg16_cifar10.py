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
from ipkit.experiment import experiment_from_parameters, load_results, run_experiment
from ipkit.report import report_experiment

# every parameter above that is named like an Experiment field (epochs, seeds, estimation, ...) goes into it
exp = experiment_from_parameters(globals(), model="vgg16", model_options={"width": width})
exp

# %% [markdown]
# ## Training VGG-16, all 16 layers measured
# Thirteen conv layers through the tensor kernel, the three classifier layers on vectors; every layer's entropies
# in one batched eigendecomposition per measurement. (With `results_from` set to the folder a GPU run wrote, e.g.
# by `scripts/device/vgg16_paper.sh`, the tables are read from there instead, and everything below is redrawn.)

# %%
results = load_results(results_from) if results_from else run_experiment(exp, scheduler=scheduler)
results.summary

# %% [markdown]
# ## VGG-16's information plane
# Finding 3 is read here: the early conv layers near the upper bound of I(X;T) (log2 N = 6.64 bits at N = 100),
# later layers fitting then compressing on training data, and the output's I(T;Y) stalling on test data. Points
# are means over runs per (layer, step), coloured by step. Then I(X;T) of the 16 layers over the steps, the data
# processing inequality along the depth, the widths σ_T (the large early ones: the BatchNorm lag noted above) and
# the training curves.
#
# The tables and figures go to a staging folder that replaces `output_dir` only once the checks pass; a broken run
# fails here, loudly: every estimate finite and within [0, log2 n], test accuracy above the floor for these sizes,
# the output layer's I(T;Y) on training data higher at the last measurement than at the first.

# %%
report = report_experiment(results, output_dir, notebook="03_vgg16_cifar10", splits=splits,
                           accuracy_floor=accuracy_floor, atol=bounds_atol)

# %% [markdown]
# ## Peaks, compression and the data processing inequality over 16 layers
# Per layer: the step of I(X;T)'s peak and how far it falls after it, on training and on test data; then how
# often I(X;T) decreases along the depth (finding 4, which the paper found mostly satisfied).

# %%
report.compression

# %%
report.dpi

# %% [markdown]
# ## The paper's findings 3 and 4, judged on this run
# The functions that write `results/findings.csv` (`ipkit.findings`; thresholds are their named parameters),
# applied to this run's tables: the verdict, the evidence in words and the numbers behind it. A quick-profile run
# is far shorter than the paper's, so its verdict says what these few steps show, not what the paper found.

# %%
report.findings

