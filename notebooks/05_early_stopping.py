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
# # 05 — Early stopping, the fitting/compression boundary, and train against test
#
# Wickstrøm et al. (Entropy 2023), Figure 1 and the train/test comparison (PAPER.md §6, items 1–2). Two claims:
#
# 1. On **training** data the information plane (IP) shows a *fitting* phase — I(X;T) and I(T;Y) rise —
#    followed by a *compression* phase — I(X;T) falls. On **test** data compression is weak or absent.
# 2. **Early stopping** on a validation split (patience counted in training steps) tends to stop training
#    *before* compression begins. The paper's Figure 1 marks where it would have stopped, for several patiences.
#
# For each network — the MLP (784-1024-20-20-20-10) and the small CNN, each with tanh and with ReLU — we train
# once per seed with plain SGD (lr 0.09, batch 100) and measure H(T), I(X;T), I(T;Y) of every layer along the way
# (tensor kernel, alignment widths smoothed with β = 0.9, σ_X = 8, α = 1.01) on two streams: **train**, the
# mini-batch just trained on, and **test**, freshly drawn test samples. Training is *never* stopped early; a
# validation split is evaluated every `eval_every` steps, and afterwards we compute where early stopping with
# each patience would have stopped (`ipkit.train.early_stopping_steps`).
#
# Definitions and choices recorded here:
# - **Early-stopping step** for patience p: the first evaluation step s with s − b ≥ p, b the step of the lowest
#   validation loss so far (a tie is no improvement); *never* (NA) if that does not happen before the run ends.
#   The validation split is 10 % of the training subset, held out from training. With several seeds, a
#   patience's stop step is the mean over the runs that stopped (as the IP markers use it).
# - **Phase boundary** of a layer: the step at which its run-mean I(X;T) curve, smoothed by a centred rolling
#   mean over `window` measurements, is largest (`ipkit.analysis.compression`, column `peak_step`). Fitting is
#   before it, compression after. **Compression amount** = smoothed I(X;T) at the peak − at the last measurement
#   (≥ 0 by construction).
# - A layer **compresses** if its compression amount on training data is at least `min_compression` bits. On a
#   noisy single-run curve the maximum of the smoothed curve minus its end is biased upwards, so a small amount
#   is not evidence of compression; 0.2 bits is a choice, about twice the scatter of a single mini-batch estimate
#   around its smoothed curve (up to 0.1 bits in the quick profile).
# - "Early stopping stops **before compression** begins" (per layer that compresses and per patience):
#   stop step < peak step. A patience that never stops counts as *not* before (training runs through the
#   compression phase). For a layer that does not compress the question has no answer (NA).
# - The test stream uses `n_test` = `n` = 100 samples (the paper: 200 for MNIST), so train and test estimates
#   share the ceiling log2 N and their compression amounts are comparable.
#
# **What the quick profile can show.** The defaults below run all four networks on a 5000-image subset of MNIST
# for 4 epochs (180 steps), one seed, in a few minutes on a 2-core CPU. The paper trains 10 epochs on all 60 000
# images (6000 steps) and averages 10 runs. A quick run does show the fast first fitting phase and the compression
# that follows on the output layer, and where the validation loss stops improving on a small training set; it is
# one noisy run, and it cannot show what happens over thousands of steps. With `results_from` the notebook redraws
# everything from the output folders of longer runs: `run_all.sh paper` does that from the four paper-settings
# runs of notebooks 01 and 02 (`results_from` maps each network to its folder).

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
alpha = 1.01
sigma_x = 8.0
every = 5
dense_until = 30
train_size = 5000
test_size = 2000
eval_every = 5
patience = [10, 25, 50]
window = 5
min_compression = 0.2
device = "auto"
data_root = None
results_from = ""
output_dir = "results/05_early_stopping"
accuracy_floor = 0.8
progress = True

# %%
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

import ipkit.plot as ipplot
from ipkit.analysis import compression, mean_over_runs
from ipkit.experiment import Experiment, check_results, load_results, run_experiment, save_results

experiments = {}
for model, activation in configs:
    options = {"activation": activation} | ({"variant": cnn_variant} if model == "cnn" else {})
    experiments[f"{model}_{activation}"] = Experiment(
        dataset=dataset, model=model, model_options=options, epochs=epochs, lr=lr, batch_size=batch_size,
        seeds=tuple(seeds), n=n, n_test=n_test, alpha=alpha, sigma_x=sigma_x, every=every, dense_until=dense_until,
        splits=("train", "test"), train_size=train_size, test_size=test_size, eval_every=eval_every,
        patience=tuple(patience), device=device, data_root=data_root, progress=progress)
list(experiments)

# %% [markdown]
# ## Training with the information plane measured along the way
# One output folder per network (`<model>_<activation>/`: ip.csv, training_log.csv, early_stopping.csv, …).
# With `results_from` — a folder holding such subfolders, or a mapping from network to folder — the tables are
# read from there instead, and only what this notebook derives from them is written to `output_dir`.

# %%
if isinstance(results_from, dict) and set(experiments) - set(results_from):
    raise ValueError(f"results_from maps {sorted(results_from)} but `configs` also needs "
                     f"{sorted(set(experiments) - set(results_from))}: add their folders or drop them from configs")
runs, folders = {}, {}
for tag, exp in experiments.items():
    if results_from:
        folders[tag] = Path(results_from[tag]) if isinstance(results_from, dict) else Path(results_from) / tag
        runs[tag] = load_results(folders[tag])
    else:
        folders[tag] = Path(output_dir) / tag
        runs[tag] = run_experiment(exp)
        save_results(runs[tag], folders[tag], notebook="05_early_stopping")
Path(output_dir).mkdir(parents=True, exist_ok=True)  # only now: a bad results_from leaves no empty folder
summary = pd.concat({tag: r.summary for tag, r in runs.items()}, names=["config", None]).droplevel(1)
summary

# %% [markdown]
# ## Where early stopping would have stopped
# Per network and patience (in steps): the stop step and the best step at that point, per run.

# %%
stops = pd.concat({tag: r.early_stopping for tag, r in runs.items()}, names=["config", None]).droplevel(1)
stops

# %% [markdown]
# ## Phases and early stopping per layer
# For every network and layer: the phase boundary (`peak_step`, training data), the compression amount on
# training and on test data, the early-stopping step of every patience (`stop_p<patience>`, NA = never), and
# whether it comes before the phase boundary (`before_p<patience>`; NA where the layer does not compress).

# %%
phases = pd.concat({tag: compression(r.ip, window=window) for tag, r in runs.items()}, names=["config", None])
phases = phases.droplevel(1).reset_index()
mean_stop = stops.groupby(["config", "patience"])["stop_step"].mean().unstack("patience")  # NA: no run stopped

train = phases[phases["split"] == "train"].set_index(["config", "layer"])
test = phases[phases["split"] == "test"].set_index(["config", "layer"])
table = pd.DataFrame({"layer_index": train["layer_index"], "peak_step": train["peak_step"],
                      "peak_step_test": test["peak_step"], "I_XT_peak": train["I_XT_peak"],
                      "compression_train": train["compression"], "compression_test": test["compression"]})
compresses = table["compression_train"] >= min_compression
configs_of_rows = table.index.get_level_values("config")
for p in patience:
    stop = pd.Series(configs_of_rows.map(mean_stop[p]), index=table.index, dtype="Float64")
    table[f"stop_p{p}"] = stop
    before = (stop < table["peak_step"]).fillna(False)  # never stopped: it trained through the compression phase
    table[f"before_p{p}"] = before.astype("boolean").where(compresses, pd.NA)
table = table.reindex(list(runs), level="config")
table.to_csv(Path(output_dir) / "phases_early_stopping.csv")
table.round(3)

# %% [markdown]
# ## Figure 1: the information plane on training data, early stopping and the phase boundary
# Left: the IP on training data, one point per (layer, step), averaged over runs, coloured by step with one
# colormap per layer; black-edged markers show where early stopping would have stopped (one marker per patience);
# red rings mark each layer's phase boundary (the step of maximum I(X;T)). Middle and right: I(X;T) of each
# layer against the training step (log scale, so the short fitting phase is visible) on training and on test
# data — thin: run mean per measurement, thick: smoothed over `window` measurements — with the early-stopping
# steps as vertical lines and the peak of every layer ringed. The dotted line is H(X) of the measured samples,
# the ceiling of every I(X;T): it changes from one batch to the next, and layers close to it follow it.

# %%
STOP_STYLES = ("--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
PEAK = dict(marker="o", s=170, facecolors="none", edgecolors="red", linewidths=1.8, zorder=4)
PEAK_HANDLE = Line2D([], [], marker="o", linestyle="none", markersize=12, markerfacecolor="none",
                     markeredgecolor="red", markeredgewidth=1.8, label="I(X;T) peak: fitting → compression")


def layer_colour(layer_index):
    """The colour of a layer in `ipkit.plot.information_plane` (its colormap, two thirds of the way)."""
    return matplotlib.colormaps[ipplot.LAYER_CMAPS[layer_index % len(ipplot.LAYER_CMAPS)]](0.7)


def mark_peaks_on_plane(ax, ip, peaks):
    """Ring each layer's IP point (run mean) at its peak step and add the ring to the legend."""
    means = mean_over_runs(ip[ip["split"] == "train"]).set_index(["layer", "step"])
    xy = np.array([means.loc[(row.layer, row.peak_step), ["I_XT", "I_TY"]].to_numpy(float)
                   for row in peaks.itertuples()])
    ax.scatter(xy[:, 0], xy[:, 1], **PEAK)
    ax.legend(handles=[*ax.get_legend().legend_handles, PEAK_HANDLE], loc="lower right", fontsize="small")


def phase_panel(ax, ip, split, peaks, stop_steps):
    """I(X;T) against step per layer, peaks ringed, early-stopping steps as vertical lines, H(X) dotted."""
    means = mean_over_runs(ip[ip["split"] == split])
    h_x = ip[ip["split"] == split].groupby("step")["H_X"].mean()  # the ceiling of every I(X;T) at that step
    ax.plot(h_x.index.to_numpy(), h_x.rolling(window, center=True, min_periods=1).mean().to_numpy(float),
            color="0.45", ls=":", lw=1.5, label="H(X) of the samples (smoothed)")
    for (index, layer), curve in means.groupby(["layer_index", "layer"]):
        curve = curve.sort_values("step")
        steps, smooth = curve["step"].to_numpy(), curve["I_XT"].rolling(window, center=True, min_periods=1).mean()
        ax.plot(steps, curve["I_XT"].to_numpy(float), color=layer_colour(index), lw=0.7, alpha=0.35)
        ax.plot(steps, smooth.to_numpy(float), color=layer_colour(index), lw=2, label=layer)
    ax.scatter(peaks["peak_step"], peaks["I_XT_peak"], **PEAK)
    handles = ax.get_legend_handles_labels()[0] + [PEAK_HANDLE]
    for (p, stop), style in zip(stop_steps.items(), STOP_STYLES):
        if pd.notna(stop):
            handles.append(ax.axvline(float(stop), color="black", ls=style, lw=1.2,
                                      label=f"early stop, patience {p}"))
    ax.set_xscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("I(X;T) [bits]")
    ax.set_title(f"{split} data: I(X;T) over training")
    ax.legend(handles=handles, fontsize="x-small", loc="lower left")


for tag, r in runs.items():
    peaks = phases[phases["config"] == tag].set_index("split")
    fig, axes = plt.subplots(1, 3, figsize=(18, 5), layout="constrained", width_ratios=[1.2, 1, 1])
    ipplot.information_plane(r.ip, split="train", ax=axes[0], early_stopping=r.early_stopping)
    mark_peaks_on_plane(axes[0], r.ip, peaks.loc[["train"]])
    axes[0].set_title(f"{tag}: information plane, training data")
    for ax, split in zip(axes[1:], ("train", "test")):
        phase_panel(ax, r.ip, split, peaks.loc[[split]], mean_stop.loc[tag])
    low, high = zip(*(ax.get_ylim() for ax in axes[1:]))
    for ax in axes[1:]:
        ax.set_ylim(min(low), max(high))  # train and test on one scale
    ipplot.save_figure(fig, Path(output_dir) / f"figure1_{tag}.png")
    plt.show()
    plt.close(fig)

# %% [markdown]
# ## Train against test: how much each layer compresses
# The compression amount (peak − final I(X;T), smoothed) of every layer on training and on test data. The paper
# finds clear compression on training data and little or none on test data; `difference` = train − test.

# %%
train_vs_test = table[["layer_index", "compression_train", "compression_test"]].assign(
    difference=table["compression_train"] - table["compression_test"])
train_vs_test.to_csv(Path(output_dir) / "train_vs_test.csv")

fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.8), sharey=True, layout="constrained",
                         squeeze=False)
for ax, tag in zip(axes[0], runs):
    rows = train_vs_test.loc[tag].sort_values("layer_index")
    x = np.arange(len(rows))
    ax.bar(x - 0.2, rows["compression_train"], width=0.4, label="train", color="tab:blue")
    ax.bar(x + 0.2, rows["compression_test"], width=0.4, label="test", color="tab:orange")
    ax.axhline(min_compression, color="0.4", ls=":", lw=1, label=f"threshold {min_compression:g} bits")
    ax.set_xticks(x, rows.index)
    ax.set_title(tag)
axes[0, 0].set_ylabel("compression of I(X;T) [bits]")
axes[0, 0].legend(fontsize="small")
ipplot.save_figure(fig, Path(output_dir) / "train_vs_test.png")
train_vs_test.round(3)

# %% [markdown]
# ## Summary over networks
# Per network: how many layers compress (on training data), the mean compression amount on train and on test,
# and for each patience the stop step and the fraction of compressing layers whose compression began *after*
# early stopping would have stopped.

# %%
overview = table.groupby(level="config", sort=False).agg(
    compressing_layers=("compression_train", lambda c: int((c >= min_compression).sum())),
    mean_compression_train=("compression_train", "mean"), mean_compression_test=("compression_test", "mean"),
    **{f"stop_p{p}": (f"stop_p{p}", "first") for p in patience},
    **{f"frac_before_p{p}": (f"before_p{p}", lambda b: b.dropna().astype(float).mean()) for p in patience})
overview.round(3)

# %% [markdown]
# **Reading the results.** Compare the quick profile with PAPER.md §6 with care: one seed, 4500 training images,
# 180 steps. When this notebook was written, the quick profile gave (exact numbers move with the seed and even
# with the number of CPU threads):
# - *Fitting then compression* (§6.1): on every network the output layer's I(X;T) rises for the first 10–30 steps
#   and then falls by about 1–1.4 bits; the hidden layers peak within the first 60 steps and fall by 0.25–0.7 bits.
#   But test data compress about as much as training data: 0.1–0.3 bits less on the output layer, and on most
#   hidden layers a little *more* than training data. The hidden layers sit within about 0.1 bit of H(X) and follow
#   its batch-to-batch changes (the dotted line), so their amounts are of the order of that noise. The clear
#   train-only compression of the paper is not reproduced at these sizes.
# - *Early stopping* (§6.2): the validation loss keeps improving well past the fitting phase; with patience 10
#   early stopping stops at steps 70–165, after every layer's peak; longer patiences mostly never stop in 180
#   steps. So here early stopping comes *after* compression has begun, the opposite of the paper's Figure 1.
#
# Both are statements about a short run on a small subset. Whether the paper's picture appears with its sizes
# (6000 steps, patiences of hundreds of steps, 10 runs) is a question for a longer run, read in through
# `results_from`.

# %% [markdown]
# ## Checks
# A broken run fails here, loudly: every estimate finite and within [0, log2 n] and no run diverged
# (`check_results`, with the test-accuracy floor for these sizes); the early-stopping tables well-formed (one row
# per run and patience, stop steps within the run's steps or NA, at least `patience` after the best step);
# compression amounts ≥ 0 and finite; every table written as CSV.

# %%
for tag, r in runs.items():
    check_results(r, accuracy_floor=accuracy_floor)
    es, last_step = r.early_stopping, r.summary.set_index("run")["steps"]
    assert len(es) == len(r.summary) * len(patience) and sorted(set(es["patience"])) == sorted(patience), \
        f"{tag}: early-stopping table should hold one row per run and patience {patience}:\n{es}"
    stopped = es.dropna(subset=["stop_step"])
    within = (stopped["stop_step"] >= 1) & (stopped["stop_step"] <= stopped["run"].map(last_step))
    assert within.all(), f"{tag}: early-stopping steps outside the run's steps:\n{stopped[~within]}"
    waited = stopped["stop_step"] - stopped["best_step"] >= stopped["patience"]
    assert waited.all(), f"{tag}: stopped before the patience ran out:\n{stopped[~waited]}"
    assert es["best_step"].notna().all(), f"{tag}: no validation evaluation in the training log"

amounts = table[["compression_train", "compression_test"]].astype(float)
assert np.isfinite(amounts.to_numpy()).all() and (amounts >= 0).all().all(), f"bad compression amounts:\n{amounts}"
assert set(table.index.get_level_values("config")) == set(runs), "a network is missing from the per-layer table"

written = [Path(output_dir) / name for name in ("phases_early_stopping.csv", "train_vs_test.csv", "train_vs_test.png")]
written += [folders[tag] / f for tag in runs for f in ("ip.csv", "early_stopping.csv", "compression.csv")]
written += [Path(output_dir) / f"figure1_{tag}.png" for tag in runs]
missing = [str(p) for p in written if not p.is_file() or p.stat().st_size == 0]
assert not missing, f"not written: {missing}"
print("all checks passed:", Path(output_dir).resolve())
