"""Training: SGD on a tiny MNIST subset (loss decreases, bit-for-bit repeatable), the per-step callback, the
validation rows, divergence, evaluation, and where early stopping would have stopped."""

import math
import os

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from ipkit.data import load_dataset
from ipkit.models import build_model
from ipkit.train import TrainingDiverged, early_stopping_steps, evaluate, seed_everything, train

@pytest.fixture(scope="module")
def mnist500(mnist_root):
    return load_dataset("mnist", "train", root=mnist_root, download=False, n=500, seed=0)


def run(x, y, seed=0, model="mlp", **kwargs):
    seed_everything(seed)
    net = build_model(model)
    kwargs = {"epochs": 2, "progress": False, "seed": seed} | kwargs
    return net, train(net, x, y, **kwargs)


def test_loss_decreases(mnist500):
    x, y = mnist500
    seed_everything(0)
    model = build_model("mlp")
    before, _ = evaluate(model, x, y)
    log = train(model, x, y, epochs=3, progress=False)
    after, accuracy = evaluate(model, x, y)
    assert len(log) == 15 and log["step"].tolist() == list(range(1, 16))
    assert log["epoch"].tolist() == [1] * 5 + [2] * 5 + [3] * 5
    assert log["loss"].tail(5).mean() < log["loss"].head(5).mean()
    assert after < before and accuracy > 0.5
    assert log[["val_loss", "val_accuracy"]].isna().all().all()  # no validation data given


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_same_seed_same_log_and_weights(mnist500, model):
    x, y = mnist500
    net1, log1 = run(x, y, seed=3, model=model, max_steps=6)
    net2, log2 = run(x, y, seed=3, model=model, max_steps=6)
    pd.testing.assert_frame_equal(log1, log2, check_exact=True)
    for (name, a), b in zip(net1.state_dict().items(), net2.state_dict().values()):
        assert torch.equal(a, b), name
    _, log3 = run(x, y, seed=4, model=model, max_steps=6)
    assert not np.array_equal(log1["loss"].to_numpy(), log3["loss"].to_numpy())


def test_on_step_sees_every_step_and_batch(mnist500):
    x, y = mnist500[0][:450], mnist500[1][:450]  # 5 batches per epoch, the last of 50
    calls = []

    def on_step(step, epoch, xb, yb):
        calls.append((step, epoch, tuple(xb.shape), yb.clone()))

    _, log = run(x, y, epochs=2, on_step=on_step)
    assert [c[:2] for c in calls] == [(s, 1 + (s - 1) // 5) for s in range(1, 11)]
    assert [c[2][0] for c in calls] == [100, 100, 100, 100, 50] * 2
    assert calls[0][2] == (100, 1, 28, 28)
    for epoch in (0, 1):  # every sample once per epoch
        labels = torch.cat([c[3] for c in calls[5 * epoch : 5 * epoch + 5]])
        assert torch.equal(labels.sort().values, y.sort().values)
    assert len(log) == 10


def test_max_steps_stops_early(mnist500):
    x, y = mnist500
    calls = []
    _, log = run(x, y, epochs=5, max_steps=7, device="cpu", on_step=lambda step, *_: calls.append(step))
    assert log["step"].tolist() == list(range(1, 8)) and calls == list(range(1, 8))


def test_validation_rows(mnist500, mnist_root):
    x, y = mnist500
    x_val, y_val = load_dataset("mnist", "test", root=mnist_root, download=False, n=200)
    _, log = run(x, y, epochs=2, x_val=x_val, y_val=y_val, eval_every=3)
    evaluated = log.loc[log["val_loss"].notna(), "step"].tolist()
    assert evaluated == [3, 6, 9, 10]  # every 3 steps and the last step
    assert log["val_accuracy"].notna().tolist() == log["val_loss"].notna().tolist()
    assert log["val_accuracy"].dropna().between(0, 1).all()
    _, per_epoch = run(x, y, epochs=2, x_val=x_val, y_val=y_val)
    assert per_epoch.loc[per_epoch["val_loss"].notna(), "step"].tolist() == [5, 10]


def test_divergence_raises_with_the_log(mnist500):
    x, y = mnist500
    with pytest.raises(TrainingDiverged, match=r"step \d+.*lower learning rate") as info:
        run(x, y, lr=1e6)
    assert isinstance(info.value, FloatingPointError)
    log = info.value.log
    assert isinstance(log, pd.DataFrame) and len(log) >= 1
    assert not math.isfinite(log["loss"].iloc[-1]) and np.isfinite(log["loss"].iloc[:-1]).all()
    assert f"step {log['step'].iloc[-1]}" in str(info.value)


def test_evaluate_matches_full_batch_and_restores_mode(mnist500):
    x, y = mnist500
    seed_everything(0)
    model = build_model("cnn")
    model.train()
    loss, accuracy = evaluate(model, x, y, batch_size=128)
    assert model.training
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert accuracy == pytest.approx((logits.argmax(1) == y).double().mean().item(), abs=1e-12)
    evaluate(model, x, y)
    assert not model.training


def test_seed_everything_repeats_draws():
    seed_everything(5)
    a = (torch.rand(3), np.random.rand(3))
    seed_everything(5)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_early_stopping_steps_on_a_hand_made_log():
    # validation every 10 steps; best val_loss at step 30, a tie at step 50 does not count as an improvement
    log = pd.DataFrame(
        {
            "step": [5, 10, 20, 30, 40, 50, 60, 70],
            "val_loss": [np.nan, 1.0, 0.8, 0.5, 0.6, 0.5, 0.7, 0.4],
        }
    )
    result = early_stopping_steps(log, [0, 10, 20, 30, 40, 100])
    assert result.columns.tolist() == ["patience", "stop_step", "best_step"]
    assert result["patience"].tolist() == [0, 10, 20, 30, 40, 100]
    assert result["stop_step"].tolist() == [10, 40, 50, 60, pd.NA, pd.NA]
    # at the stop the best step so far; without a stop the best over the run
    assert result["best_step"].tolist() == [10, 30, 30, 30, 70, 70]


def test_early_stopping_steps_rejects_negative_patience():
    log = pd.DataFrame({"step": [1], "val_loss": [1.0]})
    with pytest.raises(ValueError, match="patience"):
        early_stopping_steps(log, [-1])


def test_seed_everything_deterministic_switches_torch_to_deterministic_algorithms():
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    env_before = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in (":4096:8", env_before)
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark = before[1]
        if env_before is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
