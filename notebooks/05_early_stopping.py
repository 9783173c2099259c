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
# # 05 — Early stopping, the fitting/compression boundary, and train against test
#
# Wickstrøm et al. (Entropy 2023), Figure 1 and the train/test comparison (docs/method.md §6, items 1–2). Two claims:
#
# 1. On **training** data the information plane (IP) shows a *fitting* phase — I(X;T) and I(T;Y) rise —
#    followed by a *compression* phase — I(X;T) falls. On **test** data compression is weak or absent.
# 2. **Early stopping** on a validation split (patience counted in training steps) stops training *before*
#    compression begins when the patience is *low*. Figure 1 of the paper: the IP of a small network averaged over
#    5 runs, the fitting phase a solid black line, the compression phase a dotted one, the steps where early
#    stopping would stop highlighted for several patiences, and an inset magnifying the first four layers.
#
# **Method.** For each network — the MLP (784-1024-20-20-20-10) and the small CNN, each with tanh and with ReLU —
# we train once per seed with plain SGD (lr 0.09, batch 100) and measure H(T), I(X;T), I(T;Y) of every layer
# (tensor kernel, the authors' estimation protocol `protocol`) on two streams: **train**, the mini-batch just trained
# on, and **test**, freshly drawn test samples. Training is *never* stopped early. The loss on a validation split
# (`val_fraction` of the training subset, held out from training) is evaluated every `eval_every` steps — every
# step, so that a patience of 1 step is meaningful — and afterwards `ipkit.train.early_stopping_steps` says where
# early stopping with each patience would have stopped.
#
# Definitions (all in `ipkit.analysis.phase_table`; choices recorded here):
# - **Early-stopping step** for patience p: the first evaluation step s with s − b ≥ p, b the step of the lowest
#   validation loss so far (a tie is no improvement); *never* (NA) if that does not happen before the run ends.
#   With several seeds, a patience's stop step is the mean over the runs that stopped.
# - **Phase boundary** of a layer: the step at which its run-mean I(X;T) curve, smoothed by a centred rolling
#   mean over `window` measurements, is largest (`peak_step`; on test data `peak_step_test`). Fitting is before
#   it, compression after. **Compression amount** = smoothed I(X;T) at the peak − at the last measurement (≥ 0).
# - A layer **compresses** if its compression amount on training data is at least `min_compression` bits: on a
#   noisy curve the maximum of the smoothed curve minus its end is biased upwards, so a small amount is no
#   evidence; 0.2 bits is a choice, about twice the scatter of one mini-batch estimate around its smoothed curve.
# - Early stopping stops **before compression** (per compressing layer and patience) if stop step < peak step;
#   a patience that never stops counts as *not* before. `largest_patience_before`: the largest such patience.
# - The test stream uses `n_test` = `n` = 100 samples in the quick profile (the paper: 200 for MNIST), so train
#   and test estimates share the ceiling log2 N and their compression amounts are comparable.
#
# **What the quick profile can show.** The defaults run all four networks on a 5000-image subset of MNIST for
# 4 epochs (180 steps), one seed, in a few minutes on a 2-core CPU. The paper trains 10 epochs on all 60 000
# images (6000 steps) and averages 10 runs (Figure 1: 5). With `results_from` the notebook redraws everything
# from the output folders of longer runs: `run_all.sh paper` does that from the four paper-settings runs of
# notebooks 01 and 02 (`results_from` maps each network to its folder); Figure 1 then uses the first
# `figure1_runs` runs.

# %% tags=["parameters"]
configs = [["mlp", "tanh"], ["mlp", "relu"], ["cnn", "relu"], ["cnn", "tanh"]]
cnn_variant = "2023"
dataset = "mnist"
epochs = 4
lr = 0.09
batch_size = 100
seeds = [0]
n = 100
n_test = 100
protocol = "wickstrom2019"
estimation = {}
every = 5
dense_until = 30
train_size = 5000
test_size = 2000
val_fraction = 0.1
eval_every = 1
test_every = 50
patience = [1, 2, 5, 10, 25, 50]
window = 5
min_compression = 0.2
figure1_runs = 5
inset_layers = 4
device = "auto"
threads = None
data_root = None
results_from = ""
output_dir = "results/05_early_stopping"
accuracy_floor = 0.8
progress = True

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import ipkit.plot as ipplot
from ipkit.analysis import patience_summary, phase_table
from ipkit.experiment import (Experiment, check_results, load_results, publish, run_experiment, save_results,
                              staging)

experiments = {
    f"{model}_{activation}": Experiment(
        dataset=dataset, model=model,
        model_options={"activation": activation} | ({"variant": cnn_variant} if model == "cnn" else {}),
        epochs=epochs, lr=lr, batch_size=batch_size, seeds=seeds, n=n, n_test=n_test, protocol=protocol,
        estimation=estimation, every=every, dense_until=dense_until, splits=["train", "test"], train_size=train_size,
        test_size=test_size, val_fraction=val_fraction, eval_every=eval_every, test_every=test_every,
        patience=patience, device=device, threads=threads, data_root=data_root, progress=progress)
    for model, activation in configs}
list(experiments)

# %% [markdown]
# ## Training with the information plane measured along the way
# One folder per network (`<model>_<activation>/`: ip.csv.gz, training_log.csv.gz, early_stopping.csv, …). With
# `results_from` — a folder holding such subfolders, or a mapping from network to folder — the tables are read
# from there instead, and only what this notebook derives from them is written. Everything goes into a staging
# folder that replaces `output_dir` only once the checks at the end pass.

# %%
if isinstance(results_from, dict) and set(experiments) - set(results_from):
    raise ValueError(f"results_from maps {sorted(results_from)} but `configs` also needs "
                     f"{sorted(set(experiments) - set(results_from))}: add their folders or drop them from configs")
folders = {tag: results_from[tag] if isinstance(results_from, dict) else f"{results_from}/{tag}"
           for tag in experiments} if results_from else {}
runs = {tag: load_results(folders[tag]) if results_from else run_experiment(exp) for tag, exp in experiments.items()}
stage = staging(output_dir)  # written to output_dir only once the checks at the end pass
for tag, r in runs.items():
    if not results_from:
        save_results(r, stage / tag, notebook="05_early_stopping")
pd.concat({tag: r.summary for tag, r in runs.items()}, names=["network", None]).droplevel(1)

# %% [markdown]
# ## Where early stopping would have stopped
# Per network and patience (steps): the stop step and the best step at that point, per run.

# %%
stops = pd.concat({tag: r.early_stopping for tag, r in runs.items()}, names=["network", None]).droplevel(1)
stops

# %% [markdown]
# ## Phases and early stopping per layer
# Per network and layer: the phase boundary on training and on test data, the compression amounts, whether the
# layer compresses, the early-stopping step of every patience (`stop_p<p>`, NA = never), whether it comes before
# the boundary (`before_p<p>`, NA where the layer does not compress), and the largest patience that still does.
# Then per network and patience: how many of the compressing layers early stopping stops before.

# %%
phases = {tag: phase_table(r.ip, r.early_stopping, patience, window=window, min_compression=min_compression)
          for tag, r in runs.items()}
table = pd.concat(phases, names=["network", None]).droplevel(1)
table.to_csv(stage / "phases_early_stopping.csv")
summary = patience_summary(phases)
summary.to_csv(stage / "patience_summary.csv", index=False)
table.round(3)

# %%
summary.round(3)

# %% [markdown]
# ## Figure 1: the information plane on training data, its phases, and early stopping
# The paper's Figure 1 for every network, from the first `figure1_runs` runs (phase boundaries recomputed on those
# runs): points coloured by step with one colormap per layer, the fitting phase solid black, the compression
# phase dotted (both along the path smoothed over `window` measurements), one black-edged marker per patience
# where early stopping would stop, and the inset magnifying the first `inset_layers` layers.

# %%
for tag, r in runs.items():
    first = r.ip[r.ip["run"] < figure1_runs], r.early_stopping[r.early_stopping["run"] < figure1_runs]
    ax = ipplot.figure1(*first, phase_table(*first, patience, window=window, min_compression=min_compression),
                        inset_layers=inset_layers, window=window)
    ax.set_title(f"{tag}: training data, mean over {first[0]['run'].nunique()} run(s)")
    ipplot.save_figure(ax.figure, stage / f"figure1_{tag}.png")
    plt.show()
    plt.close(ax.figure)

# %% [markdown]
# I(X;T) of each layer against the training step (log scale, so the short fitting phase is visible), on training
# and on test data: the mean over runs and a band of ± 2 standard errors (seaborn; none with one run). The dotted
# line is H(X) of the measured samples, the ceiling of every I(X;T).

# %%
for tag, r in runs.items():
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True, layout="constrained")
    for ax, split in zip(axes, ("train", "test")):
        ipplot.information_over_steps(r.ip, "I_XT", split, ax=ax, log_step=True)
        ax.set_title(f"{tag}: {split} data")
    ipplot.save_figure(fig, stage / f"i_xt_over_steps_{tag}.png")
    plt.show()
    plt.close(fig)

# %% [markdown]
# ## Which patiences stop before compression
# Per network, a row per compressing layer (its boundary in brackets) and a column per patience: dark where early
# stopping with that patience stops before the layer's compression begins; each cell gives the stop step; the
# largest patience that still stops before is outlined.

# %%
fig = ipplot.patience_before_compression(phases)
ipplot.save_figure(fig, stage / "patience_before_compression.png")

# %% [markdown]
# ## Train against test: how much each layer compresses
# The compression amount of every layer on training and on test data; `difference` = train − test. The paper finds
# clear compression on training data and little or none on test data.

# %%
train_vs_test = table[["layer", "layer_index", "compression_train", "compression_test"]].assign(
    difference=table["compression_train"] - table["compression_test"])
train_vs_test.to_csv(stage / "train_vs_test.csv")
fig = ipplot.compression_bars(phases, threshold=min_compression)
ipplot.save_figure(fig, stage / "train_vs_test.png")
train_vs_test.round(3)

# %% [markdown]
# **Reading the results.** Compare the quick profile with docs/method.md §6 with care: one seed, 4500 training
# images, 180 steps. See the tables above for the numbers of this run; what to look for:
# - *Fitting then compression* (§6.1): does I(X;T) of each layer rise and then fall on training data, and by how
#   much more than on test data (`difference`)? In short quick runs the hidden layers sit close to H(X) and follow
#   its batch-to-batch changes, so their amounts are of the order of that noise.
# - *Early stopping* (§6.2): `largest_patience_before` per layer and `fraction_before` per patience say whether low
#   patiences stop before compression begins. A fitting phase that ends within the first tens of steps leaves room
#   only for patiences of a few steps.

# %% [markdown]
# ## Checks
# A broken run fails here, loudly, before anything reaches `output_dir`: every estimate finite and within
# [0, log2 n] and no run diverged (`check_results`); the early-stopping tables well-formed (one row per run and
# patience, stop steps within the run and at least `patience` after the best step); compression amounts finite and
# ≥ 0; every table and figure written. Then the staging folder replaces `output_dir`.

# %%
for tag, r in runs.items():
    check_results(r, accuracy_floor=accuracy_floor)
    es, last_step = r.early_stopping, r.summary.set_index("run")["steps"]
    assert len(es) == len(r.summary) * len(patience) and set(es["patience"]) == set(patience), \
        f"{tag}: early-stopping table should hold one row per run and patience {patience}:\n{es}"
    stopped = es.dropna(subset=["stop_step"])
    assert stopped["stop_step"].between(1, stopped["run"].map(last_step)).all(), f"{tag}: stop outside the run"
    assert (stopped["stop_step"] - stopped["best_step"] >= stopped["patience"]).all(), f"{tag}: stopped too early"
    assert es["best_step"].notna().all(), f"{tag}: no validation evaluation in the training log"

amounts = table[["compression_train", "compression_test"]].astype(float).to_numpy()
assert np.isfinite(amounts).all() and (amounts >= 0).all(), f"bad compression amounts:\n{amounts}"
assert set(table.index) == set(runs) and set(summary["network"]) == set(runs), "a network is missing"
written = ["phases_early_stopping.csv", "patience_summary.csv", "patience_before_compression.png",
           "train_vs_test.csv", "train_vs_test.png", *(f"figure1_{tag}.png" for tag in runs),
           *(f"i_xt_over_steps_{tag}.png" for tag in runs),
           *(f"{tag}/{f}" for tag in runs if not results_from for f in ("ip.csv.gz", "early_stopping.csv"))]
missing = [f for f in written if not (stage / f).is_file() or (stage / f).stat().st_size == 0]
assert not missing, f"not written: {missing}"
print("all checks passed:", publish(stage, output_dir).resolve())
