"""One experiment end to end on a tiny MNIST subset: the Results it returns (IP table, training log, early-stopping
steps, summary, info) and a diverging run that is recorded instead of crashing."""

import gzip
import io
import math
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ipkit.experiment import (Experiment, Results, load_results, merge_results, resolve_device, run_experiment,
                              save_results, table_path)
from ipkit.tracker import COLUMNS

LOG_COLUMNS = {"run", "seed", "epoch", "step", "loss", "batch_accuracy", "val_loss", "val_accuracy"}


def tiny(root, **kwargs) -> Experiment:
    """600 training images (540 after a 10 % validation split: 6 steps of 100), 300 test images, one epoch."""
    options = dict(model="mlp", train_size=600, test_size=300, epochs=1, n_test=100, eval_every=2, progress=False,
                   device="cpu", data_root=str(root))
    return Experiment(**(options | kwargs))


def test_run_experiment_returns_results(mnist_root):
    exp = tiny(mnist_root, seeds=(0, 1), patience=(2, 100))
    results = run_experiment(exp)
    assert isinstance(results, Results)

    ip = results.ip
    assert list(ip.columns) == COLUMNS
    assert len(ip) == 2 * 6 * 5 * 2  # seeds × steps × layers × splits
    assert ip.groupby(["run", "seed"]).size().to_dict() == {(0, 0): 60, (1, 1): 60}
    assert set(ip.step) == set(range(1, 7)) and set(ip.split) == {"train", "test"}
    train_n = ip[ip.split == "train"].groupby("step").n.unique().map(list).to_dict()
    assert train_n == {1: [100], 2: [100], 3: [100], 4: [100], 5: [100], 6: [40]}  # the last batch holds 40
    assert (ip.loc[ip.split == "test", "n"] == 100).all()
    values = ip[["H_T", "I_XT", "I_TY", "H_X", "H_Y"]].to_numpy()
    assert np.isfinite(values).all()
    assert (values >= -1e-6).all() and (values <= math.log2(100) + 1e-6).all()

    log = results.log
    assert LOG_COLUMNS <= set(log.columns)  # more (test_loss, ...) may follow
    assert len(log) == 2 * 6 and log.groupby("seed").step.apply(list).to_dict() == {0: [1, 2, 3, 4, 5, 6],
                                                                                     1: [1, 2, 3, 4, 5, 6]}
    assert log.loc[log.val_loss.notna(), "step"].tolist() == [2, 4, 6, 2, 4, 6]  # eval_every=2
    assert np.isfinite(log["loss"]).all()
    assert not log[log.seed == 0]["loss"].equals(log[log.seed == 1]["loss"].reset_index(drop=True))

    stops = results.early_stopping
    assert {"patience", "stop_step", "best_step", "run", "seed"} <= set(stops.columns)
    assert len(stops) == 2 * 2 and sorted(stops.patience.unique()) == [2, 100]
    assert stops.loc[stops.patience == 100, "stop_step"].isna().all()  # 6 steps cannot exhaust a patience of 100

    summary = results.summary
    assert summary[["run", "seed"]].to_dict("list") == {"run": [0, 1], "seed": [0, 1]}
    assert (summary.steps == 6).all()
    assert np.isfinite(summary[["final_loss", "test_loss", "test_accuracy"]].to_numpy()).all()
    assert (summary.test_accuracy > 0.3).all()  # 10 % is chance; 6 SGD steps already do much better

    info = results.info
    assert info["diverged"] == [] and info["device"] == "cpu"
    assert (info["train_samples"], info["val_samples"], info["test_samples"]) == (540, 60, 300)
    assert info["experiment"] == asdict(exp) and info["seconds"] > 0


def test_splits_and_schedule_are_passed_on(mnist_root):
    results = run_experiment(tiny(mnist_root, splits=("train",), every=2, dense_until=1, n=50))
    ip = results.ip
    assert set(ip.split) == {"train"} and sorted(set(ip.step)) == [1, 2, 4, 6]
    assert ip.groupby("step").n.max().to_dict() == {1: 50, 2: 50, 4: 50, 6: 40}  # n, or the smaller last batch


@pytest.mark.parametrize("model, lr", [
    ("mlp", 1e4),  # the loss becomes Inf at step 6: `train` raises TrainingDiverged
    ("cnn", 100.0),  # activations overflow before the loss does: the tracker stops measuring, training goes on
])
def test_diverging_run_is_recorded_not_raised(mnist_root, model, lr):
    exp = tiny(mnist_root, model=model, lr=lr, seeds=(0, 1), splits=("train",))
    with pytest.warns(RuntimeWarning) as record:
        results = run_experiment(exp)
    messages = [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)]
    for run in [0, 1]:
        assert any(m.startswith(f"run {run} (seed {run}): ") and ("diverged" in m) for m in messages), messages
    assert results.info["diverged"] == [0, 1]
    assert set(results.log.seed) == {0, 1} and len(results.summary) == 2
    recorded = results.ip[["H_T", "I_XT", "I_TY"]].to_numpy()
    assert np.isfinite(recorded).all()  # what was measured before the divergence is kept, and finite
    last_measured = results.ip.groupby("seed").step.max()
    last_logged = results.log.groupby("seed").step.max()
    assert (last_measured.reindex(last_logged.index).fillna(0) <= last_logged).all()


@pytest.mark.parametrize("cuda", [True, False])
def test_resolve_device(cuda, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_device("auto") == torch.device("cuda" if cuda else "cpu")
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device("cuda:1").index == 1


def test_results_tables_hold_one_row_per_step_and_layer(mnist_root):
    # 300 images less a 10 % validation split: 270 training images, 3 steps of 100, 5 measured layers.
    results = run_experiment(tiny(mnist_root, splits=("train",), epochs=1, train_size=300))
    assert len(results.ip) == 3 * 5 and set(results.ip.split) == {"train"}
    assert len(results.log) == 3 and results.summary.steps.tolist() == [3]


TABLES = ("ip", "log", "early_stopping", "summary")


def assert_same_results(merged: Results, whole: Results) -> None:
    """Every table equal; info equal but for the wall time."""
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(merged, name), getattr(whole, name), check_exact=True)
    drop = lambda info: {k: v for k, v in info.items() if k != "seconds"}  # noqa: E731
    assert drop(merged.info) == drop(whole.info)


@pytest.fixture(scope="module")
def per_seed(mnist_root):
    """A 3-step experiment run on seeds (0, 1, 2) at once, and on (0,) and (1, 2) apart."""
    exp = tiny(mnist_root, train_size=300, n=20, n_test=20, seeds=(0, 1, 2))
    parts = [run_experiment(replace(exp, seeds=seeds)) for seeds in [(0,), (1, 2)]]
    return exp, run_experiment(exp), parts


def test_merge_results_equals_one_run_on_all_seeds(per_seed):
    exp, whole, parts = per_seed
    merged = merge_results(parts)
    assert_same_results(merged, whole)
    assert merged.info["experiment"] == asdict(exp) and merged.summary.run.tolist() == [0, 1, 2]
    assert merged.info["seconds"] == pytest.approx(parts[0].info["seconds"] + parts[1].info["seconds"], rel=1e-12)
    assert set(parts[1].ip.run) == {0, 1}  # the parts were numbered from 0 each: merging renumbered them
    assert merge_results(parts[:1]).ip.equals(parts[0].ip)


def test_merge_results_maps_diverged_runs_and_follows_the_parts_order(per_seed):
    _, whole, parts = per_seed
    a, b = parts
    b = Results(b.ip, b.log, b.early_stopping, b.summary, dict(b.info, diverged=[1]))
    merged = merge_results([a, b])
    assert merged.info["diverged"] == [2]  # run 1 of the second part is run 2 overall
    swapped = merge_results([b, a])
    assert swapped.info["experiment"]["seeds"] == (1, 2, 0) and swapped.info["diverged"] == [1]
    assert swapped.summary[["run", "seed"]].values.tolist() == [[0, 1], [1, 2], [2, 0]]
    assert swapped.ip.groupby("run").seed.unique().map(list).to_dict() == {0: [1], 1: [2], 2: [0]}


def test_merge_results_refuses_other_experiments_and_repeated_seeds(per_seed):
    _, whole, parts = per_seed
    a, b = parts
    other = Results(b.ip, b.log, b.early_stopping, b.summary,
                    dict(b.info, experiment=dict(b.info["experiment"], lr=0.1)))
    with pytest.raises(ValueError, match=r"different experiments \(lr: 0.09 vs 0.1\)"):
        merge_results([a, other])
    with pytest.raises(ValueError, match="seed 0 is in parts 0 and 1"):
        merge_results([a, a])
    with pytest.raises(ValueError, match="parts is empty"):
        merge_results([])
    shown = Results(b.ip, b.log, b.early_stopping, b.summary,
                    dict(b.info, experiment=dict(b.info["experiment"], progress=True)))
    assert merge_results([a, shown]).summary.equals(whole.summary)  # a progress bar changes no result


def as_older_ipkit_wrote_it(folder: Path) -> Path:
    """The folder with its per-step tables as plain ip.csv and training_log.csv, as before they were gzipped."""
    for name in ("ip", "training_log"):
        (folder / f"{name}.csv").write_bytes(gzip.decompress((folder / f"{name}.csv.gz").read_bytes()))
        (folder / f"{name}.csv.gz").unlink()
    return folder


def test_save_results_gzips_the_per_step_tables_the_same_bytes_at_any_time(per_seed, tmp_path, monkeypatch):
    _, whole, _ = per_seed
    paths = save_results(whole, tmp_path / "a")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in paths.values()) == [
        "compression.csv", "dpi.csv", "early_stopping.csv", "ip.csv.gz", "run.json", "summary.csv",
        "training_log.csv.gz"]
    later = time.time() + 3600  # an hour later: gzip would stamp that time into the header
    monkeypatch.setattr(time, "time", lambda: later)
    save_results(whole, tmp_path / "b")
    for name, table in (("ip.csv.gz", whole.ip), ("training_log.csv.gz", whole.log)):
        data = (tmp_path / "a" / name).read_bytes()
        assert data == (tmp_path / "b" / name).read_bytes(), f"{name} differs between two saves of one table"
        assert data[:4] == b"\x1f\x8b\x08\x00" and data[4:8] == bytes(4)  # gzip, no file name, no time
        back = pd.read_csv(io.BytesIO(gzip.decompress(data)))  # what all digits would read back as, to 9 digits
        full = pd.read_csv(io.StringIO(table.to_csv(index=False)))
        pd.testing.assert_frame_equal(back, full, check_exact=False, rtol=5e-9, atol=0)
    assert (tmp_path / "a" / "summary.csv").read_text() == whole.summary.to_csv(index=False)  # small ones: plain


def test_load_results_reads_older_plain_folders_and_refuses_empty_ones(per_seed, tmp_path):
    _, whole, _ = per_seed
    save_results(whole, tmp_path / "new")
    new = load_results(tmp_path / "new")
    save_results(whole, tmp_path / "old")
    old = load_results(as_older_ipkit_wrote_it(tmp_path / "old"))
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(old, name), getattr(new, name), check_exact=True)
    assert table_path(tmp_path / "old", "ip") == tmp_path / "old" / "ip.csv"
    assert table_path(tmp_path / "new", "ip") == tmp_path / "new" / "ip.csv.gz"
    assert table_path(tmp_path / "new", "summary") == tmp_path / "new" / "summary.csv"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no ip\.csv\.gz or ip\.csv in .*empty: run the experiment first"):
        load_results(tmp_path / "empty")


def test_merge_script_merges_saved_folders(per_seed, tmp_path):
    _, whole, parts = per_seed
    for i, part in enumerate(parts):
        save_results(part, tmp_path / f"part{i}")
    as_older_ipkit_wrote_it(tmp_path / "part0")  # a run of an older snapshot merges with today's
    save_results(whole, tmp_path / "whole")
    script = Path(__file__).resolve().parents[1] / "scripts" / "merge_results.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "merged"), str(tmp_path / "part0"),
                           str(tmp_path / "part1")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    merged, expected = load_results(tmp_path / "merged"), load_results(tmp_path / "whole")
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(merged, name), getattr(expected, name), check_exact=True)
    for name in ("dpi", "compression"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "merged" / f"{name}.csv"),  # from 9-digit tables
                                      pd.read_csv(tmp_path / "whole" / f"{name}.csv"), check_exact=False, rtol=1e-8)
    assert merged.info["experiment"]["seeds"] == [0, 1, 2]
    again = subprocess.run([sys.executable, str(script), str(tmp_path / "again"), str(tmp_path / "part0"),
                            str(tmp_path / "part0")], capture_output=True, text=True)
    assert again.returncode == 2 and "seed 0 is in parts 0 and 1" in again.stderr
