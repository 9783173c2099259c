"""Resumable runs: `train` continued from a TrainState mid-epoch and at an epoch's end gives the uninterrupted log
and weights; an experiment killed with SIGKILL after a checkpoint and started again gives the uninterrupted
tables; finished seeds are not rerun; a checkpoint of another experiment is refused."""

import copy
import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import ipkit.experiment
from ipkit.checkpoint import checkpoint_path
from ipkit.data import load_dataset
from ipkit.experiment import Experiment, defining_fields, run_experiment
from ipkit.train import rng_states, set_rng_states, train

TABLES = ("ip", "log", "early_stopping", "summary")


def dropout_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))


def test_rng_states_round_trip():
    saved = rng_states()
    first = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_states(saved)
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert first[:2] == again[:2] and torch.equal(first[2], again[2])


@pytest.mark.parametrize("stop", [3, 5, 7])  # mid-epoch, at the end of epoch 1 (5 steps of 100), mid-epoch 2
def test_train_resumes_from_a_state_as_if_never_stopped(mnist_root, stop):
    x, y = load_dataset("mnist", "train", root=mnist_root, n=500, seed=0)
    states = {}
    keep = lambda state: states.setdefault(state.step, copy.deepcopy(state))  # noqa: E731
    model = dropout_net(0)
    whole = train(model, x, y, epochs=2, seed=0, progress=False, eval_every=2, x_val=x[:100], y_val=y[:100],
                  checkpoint=keep, checkpoint_every=1)
    assert sorted(states) == list(range(1, 11))
    resumed_model = dropout_net(1)  # other weights: the state must bring back the trained ones
    torch.manual_seed(123)  # and another global stream: dropout's must come from the state too
    resumed = train(resumed_model, x, y, epochs=2, seed=0, progress=False, eval_every=2, x_val=x[:100],
                    y_val=y[:100], state=states[stop])
    pd.testing.assert_frame_equal(resumed, whole, check_exact=True)
    for a, b in zip(model.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="checkpoint_every"):
        train(dropout_net(0), x, y, epochs=1, progress=False, checkpoint_every=2)


def tiny(root, folder, **kwargs) -> Experiment:
    """900 training images after the validation split: 9 steps of 100 per epoch, 2 epochs, 2 seeds."""
    options = dict(model="mlp", train_size=1000, test_size=300, epochs=2, n=20, n_test=20, eval_every=4,
                   seeds=(0, 1), progress=False, device="cpu", threads=1, data_root=str(root),
                   checkpoint_dir=str(folder), checkpoint_every=2)
    return Experiment(**(options | kwargs))


def quietly(exp: Experiment):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_experiment(exp)


def test_killed_run_continues_from_its_checkpoint(mnist_root, tmp_path, monkeypatch):
    exp = tiny(mnist_root, tmp_path / "checkpoints")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    child = subprocess.Popen([sys.executable, "-c", "import json, sys; from ipkit.experiment import Experiment, "
                              "run_experiment; run_experiment(Experiment(**json.loads(sys.argv[1])))",
                              json.dumps(asdict(exp))], env=env, stderr=subprocess.PIPE)
    first = checkpoint_path(exp.checkpoint_dir, 0)
    deadline = time.monotonic() + 120
    while not first.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    _, stderr = child.communicate()
    assert child.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    saved = torch.load(first, weights_only=False)
    assert saved["finished"] is None and 2 <= saved["train"].step < 18  # killed in the middle of seed 0's run
    assert not checkpoint_path(exp.checkpoint_dir, 1).exists()

    started_at = []
    real_train = ipkit.experiment.train

    def recording_train(*args, state=None, **kwargs):
        started_at.append(0 if state is None else state.step)
        return real_train(*args, state=state, **kwargs)

    monkeypatch.setattr(ipkit.experiment, "train", recording_train)
    resumed = quietly(exp)
    assert started_at == [saved["train"].step, 0]  # seed 0 went on from its checkpoint, seed 1 started afresh
    uninterrupted = quietly(replace(exp, checkpoint_dir=None, checkpoint_every=0))
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(resumed, name), getattr(uninterrupted, name), check_exact=True)
    assert defining_fields(resumed.info["experiment"]) == defining_fields(uninterrupted.info["experiment"])

    def no_training(*args, **kwargs):
        raise AssertionError("a finished seed was trained again")

    monkeypatch.setattr(ipkit.experiment, "train", no_training)
    again = quietly(replace(exp, seeds=(1, 0)))  # finished seeds come back from their files, renumbered
    assert again.summary[["run", "seed"]].values.tolist() == [[0, 1], [1, 0]]
    pd.testing.assert_frame_equal(again.ip[again.ip.seed == 0].drop(columns="run").reset_index(drop=True),
                                  uninterrupted.ip[uninterrupted.ip.seed == 0].drop(columns="run"), check_exact=True)
    assert set(again.ip.loc[again.ip.seed == 0, "run"]) == {1}

    with pytest.raises(ValueError, match=r"written by a different experiment \(lr: 0.09 there, 0.1 now\)"):
        run_experiment(replace(exp, lr=0.1))


@pytest.mark.parametrize("kwargs, match", [
    (dict(checkpoint_every=-1), "checkpoint_every must be an integer ≥ 0"),
    (dict(checkpoint_every=2.5), "checkpoint_every must be an integer ≥ 0"),
    (dict(checkpoint_dir=None, checkpoint_every=2), "needs checkpoint_dir"),
])
def test_checkpoint_settings_are_checked(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny(tmp_path, tmp_path, **kwargs)
