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
# # 06 — Do the paper's findings survive the estimator?
#
# Whether compression in the information plane (IP) is real or an artefact of the estimator's settings — bin
# ranges, kernel widths, sample size — is the question every IP study meets. Here one training run per network
# and seed is measured, at every measured step, under several estimation settings at once (one forward pass per
# sample size, `ipkit.comparison.SettingsTracker` through `Experiment(settings=...)`), and the paper's
# findings 1, 2 and 4 (docs/method.md §6) are judged under each setting by the same functions
# (`ipkit.findings`), with the same thresholds:
#
# 1. fitting then compression on training data, weak or none on test data (`fitting_then_compression`);
# 2. early stopping (patience in steps, on the validation loss evaluated every step) stops before compression
#    (`early_stopping_before_compression`);
# 4. the data processing inequality I(X;T_1) ≥ I(X;T_2) ≥ … mostly holds (`data_processing_inequality`).
#
# **Settings** (`settings`, each overriding the authors' protocol `wickstrom2019`):
# - **paper**: the tensor kernel with alignment widths on N = 100 samples (the batch just trained on);
# - **N = …**: the same estimator on more samples. N larger than the batch means *fresh training samples*, drawn
#   seeded at each measured step and measured in eval mode, the same for every large-N setting (a larger N's
#   sample holds a smaller one's); their test stream has the same N. Every row records its N (column n);
# - **k-NN** and **Silverman**: the widths σ_T by the k-nearest-neighbour and the Silverman-type rule instead
#   of kernel alignment;
# - **fixed σ**: one width per layer, constant over training (`fixed_sigma`: about the median of the alignment
#   widths that notebooks 01 and 02 chose), so that nothing but the activations moves the estimate;
# - **α = 2**: the Rényi order 2 instead of the von Neumann limit α → 1;
# - **binning** (Shwartz-Ziv & Tishby, 30 equal-width bins per neuron) and **KDE** (the pairwise-distance upper
#   bound of Kolchinsky & Tracey, noise variance 0.1), the baselines of `ipkit.baselines`.
#
# The networks: the MLP with tanh and with ReLU and the CNN (the 2023 variant, ReLU), each over `seeds`. The
# defaults are the *quick* profile — a 1,000-image subset, 2 epochs, large-N settings of N = 200 and 300 — so
# that it runs in a few minutes on a laptop; its verdicts come from 18 steps of training and say little about
# the paper. `run_all.sh paper` passes the paper profile: full MNIST, 10 epochs, N = 500 and 1,000, the paper's
# schedule. A finding that does not survive a setting is a result, not a failure: the checks at the end test
# that every verdict was computed, not what it says.

# %% tags=["parameters"]
networks = [["mlp", "tanh"], ["mlp", "relu"], ["cnn", "relu"]]
cnn_variant = "2023"
dataset = "mnist"
epochs = 2
lr = 0.09
batch_size = 100
seeds = [0, 1, 2]
n = 100
n_test = 100
protocol = "wickstrom2019"
settings = {
    "paper": {},
    "N=200": {"n": 200, "n_test": 200},
    "N=300": {"n": 300, "n_test": 300},
    "k-NN": {"width_rule": "knn"},
    "Silverman": {"width_rule": "silverman"},
    "α=2": {"alpha": 2.0},
    "binning": {"estimator": "binning"},
    "KDE": {"estimator": "kde"},
}
fixed_sigma = {"mlp": {"fc1": 25.0, "fc2": 3.0, "fc3": 3.0, "fc4": 3.0, "out": 0.5},
               "cnn": {"conv1": 40.0, "conv2": 50.0, "conv3": 30.0, "fc1": 14.0, "out": 0.6}}
every = 3
dense_until = 0
train_size = 1000
test_size = 1000
val_fraction = 0.1
eval_every = 1
test_every = 6
patience = [1, 2, 4]
window = 3
min_compression = 0.2
mostly = 0.8
device = "auto"
threads = None
scheduler = None
data_root = None
output_dir = "results/06_robustness"
accuracy_floor = 0.2
progress = True

# %%
import pandas as pd

from ipkit.experiment import Experiment, check_results, publish, run_experiment, save_results, staging
from ipkit.robustness import robustness_problems, setting_verdicts, survival, verdict_grid, verdicts_figure

experiments = {
    f"{model}_{activation}": Experiment(
        dataset=dataset, model=model,
        model_options={"activation": activation} | ({"variant": cnn_variant} if model == "cnn" else {}),
        epochs=epochs, lr=lr, batch_size=batch_size, seeds=seeds, n=n, n_test=n_test, protocol=protocol,
        settings=settings | {"fixed σ": {"sigma_layers": fixed_sigma[model]}}, every=every,
        dense_until=dense_until, splits=["train", "test"], train_size=train_size, test_size=test_size,
        val_fraction=val_fraction, eval_every=eval_every, test_every=test_every, patience=patience, device=device,
        threads=threads, data_root=data_root, progress=progress)
    for model, activation in networks}
pd.DataFrame({tag: {name: s for name, s in exp.settings.items()} for tag, exp in experiments.items()})

# %% [markdown]
# ## One training run per network and seed, measured under every setting
# One folder per network (`<model>_<activation>/`): the IP rows of all settings in `ip.csv.gz` (a `setting`
# column, by which `scripts/findings.py`, judging whole IP tables, knows to leave them to this notebook), the
# training log, early-stopping steps, and dpi.csv / compression.csv per setting. Everything goes into a staging
# folder that replaces `output_dir` only once the checks at the end pass.

# %%
runs = {tag: run_experiment(exp, scheduler=scheduler) for tag, exp in experiments.items()}
stage = staging(output_dir)
for tag, r in runs.items():
    save_results(r, stage / tag, notebook="06_robustness")
pd.concat({tag: r.summary for tag, r in runs.items()}, names=["network", None]).droplevel(1)

# %% [markdown]
# ## The verdicts of findings 1, 2 and 4 under every setting
# One row per (network, setting, finding), with the evidence sentence and the numbers behind it
# (`verdicts.csv`); then the grid of verdicts: a row per setting, a column per (network, finding).

# %%
ip = pd.concat({tag: r.ip for tag, r in runs.items()}, names=["network", None]).reset_index(0)
early = pd.concat({tag: r.early_stopping for tag, r in runs.items()}, names=["network", None]).reset_index(0)
verdicts = setting_verdicts(ip, early, window=window, min_compression=min_compression, mostly=mostly)
verdicts.to_csv(stage / "verdicts.csv", index=False)
verdict_grid(verdicts)

# %% [markdown]
# ## Which findings survive which settings
# Per finding and setting, in how many of the networks the finding is reproduced, partly reproduced, or not.

# %%
survival(verdicts)

# %%
fig = verdicts_figure(verdicts)
fig.savefig(stage / "verdicts.png", dpi=150)

# %% [markdown]
# ## The evidence
# What each verdict rests on, per network and finding, for every setting.

# %%
pd.set_option("display.max_colwidth", None)
verdicts[["network", "setting", "finding", "verdict", "evidence"]]

# %% [markdown]
# ## Checks
# Every network: no run diverged, every estimate finite and within [0, log2 n], test accuracy above the floor, the
# output layer's I(T;Y) rising on training data. Every (network, setting): rows on both splits, measured on the N
# it asked for, and one verdict for each of findings 1, 2 and 4.

# %%
for tag, r in runs.items():
    check_results(r, accuracy_floor=accuracy_floor)
problems = robustness_problems(ip, verdicts, next(iter(experiments.values())).settings, list(experiments))
assert not problems, "robustness checks failed:\n- " + "\n- ".join(problems)
print("all checks passed:", publish(stage, output_dir))
