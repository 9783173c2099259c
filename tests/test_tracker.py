"""Information-plane tracking (docs/method.md §3–4): errors on diverged activations, the table's schema and bounds,
the model's state left as it was, widths per split, fixed widths, the multivariate baseline's saturation,
agreement with the public estimator functions, repeatability, the measurement schedule and callback, a short real
MNIST run, and an unmodified torchvision ResNet-18."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

from ipkit import (
    activations,
    alignment_sigma,
    gaussian_gram,
    knn_sigma,
    label_gram,
    multivariate_gram,
    mutual_information,
    pairwise_sq_dists,
    renyi_entropy,
)
from ipkit.data import load_dataset
from ipkit.experiment import Experiment, run_experiment
from ipkit.models import build_model
from ipkit.tracker import (COLUMNS, DegenerateMeasurement, InformationPlaneTracker, NonFiniteActivations, measurement_due,
                           tracking_callback)
from ipkit.train import seed_everything, train

ATOL = 1e-6


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def samples(n: int, seed: int, shape=(1, 28, 28)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return build_model("mlp")


@pytest.fixture(scope="module")
def mnist100(mnist_root):
    return load_dataset("mnist", "test", mnist_root, download=False, n=100, seed=0)


def assert_within_bounds(table: pd.DataFrame, num_classes: int = 10) -> None:
    """0 ≤ H, I ≤ log2 n; I(X;T) ≤ min(H(T), H(X)); I(T;Y) ≤ min(H(T), H(Y)); H(Y) ≤ log2 #classes."""
    assert len(table) > 0
    values = table[["H_T", "I_XT", "I_TY", "H_X", "H_Y", "sigma_T", "sigma_X"]].to_numpy(dtype=float)
    assert np.isfinite(values).all()
    top = np.log2(table["n"].to_numpy(dtype=float))
    for column in ["H_T", "I_XT", "I_TY", "H_X", "H_Y"]:
        v = table[column].to_numpy()
        assert (v >= -ATOL).all(), (column, v.min())
        assert (v <= top + ATOL).all(), (column, (v - top).max())
    assert (table["I_XT"] <= np.minimum(table["H_T"], table["H_X"]) + ATOL).all()
    assert (table["I_TY"] <= np.minimum(table["H_T"], table["H_Y"]) + ATOL).all()
    assert (table["H_Y"] <= math.log2(num_classes) + ATOL).all()
    assert (table["sigma_T"] > 0).all()


# --- errors -----------------------------------------------------------------------------------------------------


def test_nan_weights_raise_value_error_naming_the_layer(mlp):
    with torch.no_grad():
        mlp.fc3[0].weight[0, 0] = float("nan")
    mlp.train()
    tracker = InformationPlaneTracker(mlp, 10)
    x, y = samples(20, seed=1)
    with pytest.raises(ValueError, match="'fc3'.*NaN"):
        tracker.measure(x, y, step=1)
    assert tracker.rows_ == [] and tracker.table().empty
    assert hook_count(mlp) == 0 and mlp.training  # cleaned up after the error too


@pytest.mark.parametrize("estimator", ["tensor", "multivariate"])
def test_nan_conv_weights_raise_non_finite_activations_naming_the_layer(estimator):
    model = build_model("cnn", seed=0)
    with torch.no_grad():
        model.conv2[0].weight[0, 0, 0, 0] = float("nan")
    tracker = InformationPlaneTracker(model, 10, estimator=estimator)
    x, y = samples(12, seed=1)
    with pytest.raises(NonFiniteActivations, match="'conv2'.*NaN"):
        tracker.measure(x, y, step=1)
    assert tracker.rows_ == [] and hook_count(model) == 0


def test_non_finite_input_behind_finite_activations_raises_a_value_error_naming_x():
    model = nn.Sequential(nn.Flatten(), nn.ReLU())  # ReLU(−∞) = 0: the layer is finite, the input is not
    x, y = samples(12, seed=1)
    x[3, 0, 5, 5] = -float("inf")
    tracker = InformationPlaneTracker(model, 10, layers=["1"])
    with pytest.raises(ValueError, match=r"\bx\b contains 1 non-finite"):
        tracker.measure(x, y, step=1)
    assert tracker.rows_ == []


class Poison(nn.Module):
    """Returns its input with one entry replaced by `value`."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, x):
        x = x.clone()
        x[0, 0] = self.value
        return x


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_module_producing_non_finite_values_is_named(value):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), Poison(value), nn.Linear(8, 3))
    tracker = InformationPlaneTracker(model, 3, layers=["2", "3", "4"])
    x, y = torch.rand(10, 12), torch.arange(10) % 3
    with pytest.raises(ValueError, match="layer '3'"):
        tracker.measure(x, y, step=1)
    assert hook_count(model) == 0


def test_overflowing_distances_are_named_too():
    # Finite activations whose squared distances overflow float32: a diverged network, not a crash elsewhere.
    model = nn.Sequential(nn.Linear(4, 6), nn.Linear(6, 2))
    with torch.no_grad():
        model[0].weight.mul_(1e20)
    tracker = InformationPlaneTracker(model, 2, layers=["0", "1"], softmax_output=False)
    x, y = torch.randn(10, 4, generator=torch.Generator().manual_seed(0)), torch.arange(10) % 2
    with pytest.raises(ValueError, match="layer '0'"):
        tracker.measure(x, y, step=1)


def test_large_finite_distances_whose_sum_overflows_are_not_taken_for_divergence():
    # Each squared distance (≤ ~1e38) fits float32; their sum over 10 × 10 pairs does not.
    model = nn.Sequential(nn.Linear(4, 1), nn.Linear(1, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[3e18, 0.0, 0.0, 0.0]]))
    tracker = InformationPlaneTracker(model, 2, layers=["0"], softmax_output=False)
    x, y = torch.randn(10, 4, generator=torch.Generator().manual_seed(0)), torch.arange(10) % 2
    rows = tracker.measure(x, y, step=1)
    assert not torch.isfinite(pairwise_sq_dists(model[0](x).detach()).sum())
    assert math.isfinite(rows[0]["H_T"]) and math.isfinite(rows[0]["I_XT"])


def test_bad_options_raise_value_errors_listing_valid_names(mlp):
    with pytest.raises(ValueError, match="tensor.*multivariate"):
        InformationPlaneTracker(mlp, 10, estimator="channelwise")
    with pytest.raises(ValueError, match="alignment.*knn.*silverman"):
        InformationPlaneTracker(mlp, 10, width_rule="median")
    with pytest.raises(ValueError, match="valid names"):
        InformationPlaneTracker(mlp, 10, layers=["fc1", "fc7"])
    with pytest.raises(ValueError, match="measured_layers"):
        InformationPlaneTracker(nn.Sequential(nn.Linear(3, 3)), 10)


def test_bad_batches_raise_before_the_forward_pass(mlp):
    tracker = InformationPlaneTracker(mlp, 10)
    x, y = samples(20, seed=1)
    with pytest.raises(ValueError, match=r"\by\b.*at least 2 samples, got 0"):
        tracker.measure(x[:0], y[:0], step=1)
    with pytest.raises(ValueError, match=r"\by\b.*19 labels for 20 samples"):
        tracker.measure(x, y[:19], step=1)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        tracker.measure(x, y + 10, step=1)
    assert tracker.rows_ == []


# --- the table ----------------------------------------------------------------------------------------------------


def test_table_schema_and_dtypes(mlp):
    tracker = InformationPlaneTracker(mlp, 10, run=3, seed=7)
    assert list(tracker.table().columns) == COLUMNS  # also when empty
    x, y = samples(40, seed=0)
    tracker.measure(x, y, step=1, epoch=1)
    tracker.measure(x[:30], y[:30], step=2, epoch=1, split="test")
    table = tracker.table()
    assert list(table.columns) == COLUMNS
    assert len(table) == 2 * 5
    for column in ["H_T", "I_XT", "I_TY", "sigma_T", "H_X", "H_Y", "sigma_X", "alpha"]:
        assert pd.api.types.is_float_dtype(table[column]), column
    for column in ["run", "seed", "epoch", "step", "layer_index", "n"]:
        assert pd.api.types.is_integer_dtype(table[column]), column
    for column in ["split", "layer", "estimator", "width_rule"]:
        assert table[column].map(type).eq(str).all(), column
    assert table["layer"].tolist() == mlp.measured_layers() * 2
    assert table["layer_index"].tolist() == list(range(5)) * 2
    assert table["split"].tolist() == ["train"] * 5 + ["test"] * 5
    assert table["n"].tolist() == [40] * 5 + [30] * 5
    assert (table["run"] == 3).all() and (table["seed"] == 7).all()
    assert (table["alpha"] == 1.0).all() and (table["sigma_X"] == 8.0).all()  # the wickstrom2019 preset
    assert (table["protocol"] == "wickstrom2019").all() and (table["overrides"] == "").all()
    assert (table["estimator"] == "tensor").all() and (table["width_rule"] == "alignment").all()
    assert_within_bounds(table)


@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
@pytest.mark.parametrize("alpha", [1.0, 1.01, 2.0])
def test_bounds_on_random_networks(model_name, alpha):
    torch.manual_seed(1)
    model = build_model(model_name)
    tracker = InformationPlaneTracker(model, 10, alpha=alpha)
    for step in range(1, 4):
        tracker.measure(*samples(50, seed=step), step=step)
    assert_within_bounds(tracker.table())


def test_near_constant_output_layer_has_non_negative_entropy():
    # An untrained network's softmax outputs barely differ: σ sits at the grid's floor 0.3 and K ≈ all ones.
    # Seen in real runs on VGG-16's output layer: with negative eigenvalues clamped but not renormalized, the
    # float32 Gram matrix had Σλ > 1, which 1/(α − 1) = 100 amplified to H_T ≈ −7e-6.
    lowest = math.inf
    for seed in range(20):
        model = nn.Sequential(nn.Linear(10, 10))
        with torch.no_grad():
            model[0].weight.copy_(1e-4 * torch.eye(10))  # logits 1e-4 x
            model[0].bias.zero_()
        x = torch.randn(100, 10, generator=torch.Generator().manual_seed(seed))
        tracker = InformationPlaneTracker(model, 10, layers=["0"])
        tracker.measure(x, torch.arange(100) % 10, step=1)
        row = tracker.rows_[0]
        assert row["sigma_T"] == pytest.approx(0.3, abs=1e-6)  # float32 grid
        lowest = min(lowest, row["H_T"], row["I_XT"], row["I_TY"])
    assert lowest >= -ATOL


# --- the model is left as it was ---------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_mode_restored_running_stats_untouched_and_no_grad(mlp, training):
    mlp.train(training)
    buffers = {k: v.clone() for k, v in mlp.state_dict().items()}
    seen = []
    handle = mlp.fc2.register_forward_hook(
        lambda m, i, out: seen.append((out.requires_grad, torch.is_grad_enabled(), m.training)))
    InformationPlaneTracker(mlp, 10).measure(*samples(30, seed=0), step=1)
    handle.remove()
    assert seen == [(False, False, False)]  # measured in eval mode under no_grad
    assert all(m.training == training for m in mlp.modules())
    assert all(p.grad is None for p in mlp.parameters())
    for k, v in mlp.state_dict().items():  # BN running statistics and weights unchanged
        torch.testing.assert_close(v, buffers[k], rtol=0, atol=0, msg=k)
    assert hook_count(mlp) == 0


# --- kernel widths ------------------------------------------------------------------------------------------------


def test_widths_are_kept_and_smoothed_per_split(mlp):
    (xa, ya), (xb, yb), (xc, yc) = samples(50, 1), samples(40, 2), samples(50, 3)
    tracker = InformationPlaneTracker(mlp, 10)
    tracker.measure(xa, ya, step=1, split="train")
    tracker.measure(xb, yb, step=1, split="test")
    tracker.measure(xc, yc, step=2, split="train")

    only_train = InformationPlaneTracker(mlp, 10)
    only_train.measure(xa, ya, step=1)
    only_train.measure(xc, yc, step=2)
    only_test = InformationPlaneTracker(mlp, 10)
    only_test.measure(xb, yb, step=1, split="test")
    assert tracker.widths_["train"].sigmas_ == pytest.approx(only_train.widths_["train"].sigmas_, rel=0, abs=0)
    assert tracker.widths_["test"].sigmas_ == pytest.approx(only_test.widths_["test"].sigmas_, rel=0, abs=0)

    # By hand for fc2: σ_1 = σ*_1, σ_2 = 0.9 σ_1 + 0.1 σ*_2, both on the 300-point early grid.
    mlp.eval()
    raw = [alignment_sigma(pairwise_sq_dists(activations(mlp, x, ["fc2"])["fc2"]), label_gram(y, 10), 300)
           for x, y in [(xa, ya), (xb, yb), (xc, yc)]]
    table = tracker.table().set_index(["split", "step", "layer"])
    assert table.loc[("train", 1, "fc2"), "sigma_T"] == pytest.approx(raw[0], rel=1e-12)
    assert table.loc[("test", 1, "fc2"), "sigma_T"] == pytest.approx(raw[1], rel=1e-12)
    assert table.loc[("train", 2, "fc2"), "sigma_T"] == pytest.approx(0.9 * raw[0] + 0.1 * raw[2], rel=1e-12)
    # Smoothed with the train split's width, the test split's σ would be this:
    assert table.loc[("test", 1, "fc2"), "sigma_T"] != pytest.approx(0.9 * raw[0] + 0.1 * raw[1], rel=1e-3)


def test_fixed_sigma_layers_bypass_the_rule(mlp):
    x, y = samples(40, seed=4)
    tracker = InformationPlaneTracker(mlp, 10, sigma_layers={"fc2": 1.234, "out": 0.5})
    tracker.measure(x, y, step=1)
    tracker.measure(x, y, step=2)
    table = tracker.table()
    assert (table.loc[table.layer == "fc2", "sigma_T"] == 1.234).all()
    assert (table.loc[table.layer == "out", "sigma_T"] == 0.5).all()
    assert set(tracker.widths_["train"].sigmas_) == {"fc1", "fc3", "fc4"}
    mlp.eval()
    act = activations(mlp, x, ["fc2"])["fc2"]
    expected = renyi_entropy(gaussian_gram(act, 1.234).double(), alpha=1.0).item()
    assert table.loc[table.layer == "fc2", "H_T"].to_numpy() == pytest.approx([expected] * 2, rel=0, abs=ATOL)


def test_sigma_x_may_follow_a_width_rule(mlp):
    tracker = InformationPlaneTracker(mlp, 10, sigma_x="knn")
    x, y = samples(30, seed=5)
    tracker.measure(x, y, step=1)
    widths = tracker.widths_[("input", "train")]
    assert widths.rule == "knn" and "input" in widths.sigmas_  # the rule named, not the layers' width_rule
    assert (tracker.table()["sigma_X"] == widths.sigmas_["input"]).all()
    assert tracker.table()["sigma_X"].iloc[0] == pytest.approx(knn_sigma(pairwise_sq_dists(x), 10), rel=1e-6)


# --- estimators ---------------------------------------------------------------------------------------------------


def test_multivariate_saturates_on_conv_layers_tensor_does_not(mnist100):
    x, y = mnist100
    torch.manual_seed(0)
    cnn = build_model("cnn", variant="2023")
    tables = {}
    for estimator in ["tensor", "multivariate"]:
        tracker = InformationPlaneTracker(cnn, 10, estimator=estimator)
        tracker.measure(x, y, step=1)
        tables[estimator] = tracker.table().set_index("layer")
    top = math.log2(100)
    multi, tensor = tables["multivariate"], tables["tensor"]
    for layer in ["conv1", "conv2", "conv3"]:  # 4, 8, 16 channels
        assert multi.loc[layer, "H_T"] == pytest.approx(top, abs=ATOL)  # A = I/N: every sample its own class
        assert multi.loc[layer, "I_XT"] == pytest.approx(multi.loc[layer, "H_X"], abs=ATOL)
        assert multi.loc[layer, "I_TY"] == pytest.approx(multi.loc[layer, "H_Y"], abs=ATOL)
        assert tensor.loc[layer, "H_T"] < top - 0.2
        assert tensor.loc[layer, "I_TY"] < tensor.loc[layer, "H_Y"] - 0.05
    for layer in ["fc1", "out"]:  # no channel axis: both estimators use the tensor kernel
        for column in ["H_T", "I_XT", "I_TY", "sigma_T"]:
            assert multi.loc[layer, column] == pytest.approx(tensor.loc[layer, column], rel=0, abs=ATOL)
    assert_within_bounds(multi.reset_index())


@pytest.mark.parametrize("model_name, layer", [("mlp", "fc2"), ("mlp", "out"), ("cnn", "conv2"), ("cnn", "out")])
def test_rows_agree_with_public_estimator_functions(model_name, layer):
    torch.manual_seed(2)
    model = build_model(model_name)
    x, y = samples(60, seed=6)
    tracker = InformationPlaneTracker(model, 10)
    tracker.measure(*samples(60, seed=7), step=1)  # a first step, so the recorded σ_T is a smoothed one
    tracker.measure(x, y, step=2)
    row = tracker.table().query("step == 2 and layer == @layer").iloc[0]

    model.eval()
    t = activations(model, x, [layer])[layer]
    if layer == "out":
        t = torch.softmax(t, dim=1)
    K_t = gaussian_gram(t, row["sigma_T"]).double()
    K_x = gaussian_gram(x, 8.0).double()
    K_y = label_gram(y, 10).double()
    assert row["H_T"] == pytest.approx(renyi_entropy(K_t, row["alpha"]).item(), rel=0, abs=ATOL)
    assert row["I_XT"] == pytest.approx(mutual_information(K_x, K_t, row["alpha"]).item(), rel=0, abs=ATOL)
    assert row["I_TY"] == pytest.approx(mutual_information(K_t, K_y, row["alpha"]).item(), rel=0, abs=ATOL)
    assert row["H_X"] == pytest.approx(renyi_entropy(K_x, row["alpha"]).item(), rel=0, abs=ATOL)
    assert row["H_Y"] == pytest.approx(renyi_entropy(K_y, row["alpha"]).item(), rel=0, abs=ATOL)


def test_multivariate_rows_agree_with_multivariate_gram():
    # γ = 100 gives channel widths wide enough that the multivariate kernel is far from the identity (the
    # saturation test above covers the paper's γ = 1), so the kernel's values are what the entropies measure.
    torch.manual_seed(2)
    model = build_model("cnn", variant="2023")
    x, y = samples(60, seed=6)
    tracker = InformationPlaneTracker(model, 10, estimator="multivariate", gamma=100.0)
    tracker.measure(x, y, step=1)
    row = tracker.table().query("layer == 'conv2'").iloc[0]
    assert row["width_rule"] == "silverman-per-channel"

    model.eval()
    t = activations(model, x, ["conv2"])["conv2"]
    a = t.double().flatten(2).numpy()  # (N, C, H·W)
    n, d = a.shape[0], a.shape[2]
    sigma_c = 100.0 * np.sqrt(a.var(axis=0, ddof=1).mean(axis=1)) * n ** (-1.0 / (4 + d))  # Silverman, per channel
    assert np.ptp(sigma_c) > 0.1 * sigma_c.mean()  # the channels' widths differ
    assert row["sigma_T"] == pytest.approx(sigma_c.mean(), rel=1e-5)
    K_t = multivariate_gram(t.double(), torch.from_numpy(sigma_c).clamp(min=1e-30))  # a dead channel: spread 0
    K_x = gaussian_gram(x, 8.0).double()
    H_T = renyi_entropy(K_t, row["alpha"]).item()
    assert H_T < math.log2(60) - 0.5  # not saturated
    assert row["H_T"] == pytest.approx(H_T, rel=0, abs=1e-5)
    assert row["I_XT"] == pytest.approx(mutual_information(K_x, K_t, row["alpha"]).item(), rel=0, abs=1e-5)
    assert row["I_TY"] == pytest.approx(mutual_information(K_t, label_gram(y, 10).double(), row["alpha"]).item(),
                                        rel=0, abs=1e-5)


def test_same_seed_same_table(mnist_root):
    exp = Experiment(model="mlp", train_size=600, test_size=300, epochs=1, n_test=100, progress=False,
                     device="cpu", data_root=str(mnist_root))
    first, second = run_experiment(exp), run_experiment(exp)
    assert len(first.ip) == 6 * 5 * 2  # 540 training samples: 6 steps, 5 layers, 2 splits
    pd.testing.assert_frame_equal(first.ip, second.ip, check_exact=True)
    pd.testing.assert_frame_equal(first.log, second.log, check_exact=True)


# --- schedule and callback ----------------------------------------------------------------------------------------


def test_measurement_due():
    assert all(measurement_due(t) for t in range(1, 50))
    due = [t for t in range(1, 61) if measurement_due(t, every=10, dense_until=5)]
    assert due == [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 60]
    assert [t for t in range(1, 20) if measurement_due(t, every=4)] == [4, 8, 12, 16]
    with pytest.raises(ValueError, match="every"):
        measurement_due(3, every=0)


def test_tracking_callback_measures_both_splits_at_due_steps(mlp):
    xb, yb = samples(64, seed=8)
    x_test, y_test = samples(500, seed=9)
    tracker = InformationPlaneTracker(mlp, 10)
    on_step = tracking_callback(tracker, n=50, x_test=x_test, y_test=y_test, n_test=30, every=5, dense_until=2,
                                seed=11)
    for step in range(1, 13):
        on_step(step, 1 + step // 6, xb, yb)
    table = tracker.table()
    for split, n in [("train", 50), ("test", 30)]:
        part = table[table.split == split]
        assert sorted(set(part.step)) == [1, 2, 5, 10]
        assert len(part) == 4 * 5 and (part.n == n).all()
    assert table.groupby("step").epoch.first().to_dict() == {1: 1, 2: 1, 5: 1, 10: 2}

    H_X = table[table.layer == "out"].set_index(["split", "step"])["H_X"]
    # "train": the first n samples of the batch just trained on.
    alpha = tracker.estimation_.alpha
    assert H_X[("train", 1)] == pytest.approx(renyi_entropy(gaussian_gram(xb[:50], 8.0).double(), alpha).item(),
                                              abs=ATOL)
    # "test": n_test samples freshly drawn at each due step from a generator seeded with `seed`.
    idx = torch.randperm(500, generator=torch.Generator().manual_seed(11))[:30]
    assert H_X[("test", 1)] == pytest.approx(renyi_entropy(gaussian_gram(x_test[idx], 8.0).double(), alpha).item(),
                                             abs=ATOL)
    assert H_X.loc["test"].nunique() == 4  # a fresh draw each time


def test_tracking_callback_splits(mlp):
    xb, yb = samples(40, seed=8)
    tracker = InformationPlaneTracker(mlp, 10)
    on_step = tracking_callback(tracker, n=40, splits=("train",))
    on_step(1, 1, xb, yb)
    assert set(tracker.table().split) == {"train"}
    tracking_callback(tracker)(2, 1, xb, yb)  # without test data the default splits are ("train",)
    assert set(tracker.table().split) == {"train"} and set(tracker.table().step) == {1, 2}
    with pytest.raises(ValueError, match="x_test"):
        tracking_callback(tracker, splits=("train", "test"))
    with pytest.raises(ValueError, match="splits"):
        tracking_callback(tracker, splits=("train", "validation"))


# --- real networks --------------------------------------------------------------------------------------------------


def test_short_mnist_run_output_fits_the_labels(mnist_root):
    # Paper's MLP (tanh), 1,000 MNIST images, batch 100, lr 0.09: 10 steps. I(T;Y) of the output rises by
    # 0.9 bits for seed 0 (0.4–1.0 over seeds 0–4, ReLU 0.6–1.3); the margin is well above the ~0.1–0.2 bit
    # step-to-step noise of a 100-sample estimate.
    x, y = load_dataset("mnist", "train", mnist_root, download=False, n=1000, seed=0)
    seed_everything(0)
    model = build_model("mlp")
    tracker = InformationPlaneTracker(model, 10, seed=0)
    train(model, x, y, epochs=1, lr=0.09, batch_size=100, seed=0, progress=False,
          on_step=tracking_callback(tracker, n=100, splits=("train",)))
    table = tracker.table()
    assert sorted(set(table.step)) == list(range(1, 11))
    assert_within_bounds(table)
    out = table[table.layer == "out"].sort_values("step")["I_TY"].to_numpy()
    assert out[-1] > out[0] + 0.3, out


def test_torchvision_resnet18_unmodified():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    layers = ["layer1", "layer2", "layer3", "layer4", "fc"]
    tracker = InformationPlaneTracker(model, 10, layers=layers)
    x, y = samples(20, seed=10, shape=(3, 32, 32))
    tracker.measure(x, y, step=1)
    table = tracker.table()
    assert table["layer"].tolist() == layers
    assert (table["n"] == 20).all()
    assert_within_bounds(table)
    assert hook_count(model) == 0 and model.training


# --- degenerate measurements and confusing input (issue 15) --------------------------------------------------------


def test_identity_input_kernel_is_flagged_and_warned_once_per_run(mlp):
    # σ_X = 8 on inputs not scaled like [0, 1] pixels: N(0, 1) values of 784 features are ~40 apart, K_X = I.
    x, y = torch.randn(40, 784, generator=torch.Generator().manual_seed(0)), torch.arange(40) % 10
    tracker = InformationPlaneTracker(mlp, 10)
    with pytest.warns(DegenerateMeasurement, match="input kernel is numerically the identity.*sigma_x='alignment'"):
        tracker.measure(x, y, step=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateMeasurement)
        tracker.measure(x, y, step=2)  # said once per tracker: no second warning
    table = tracker.table()
    assert table["flags"].str.contains("input_saturated").all()
    assert np.allclose(table["I_XT"], table["H_T"], atol=1e-6)  # what the flag warns about
    scaled = InformationPlaneTracker(mlp, 10, sigma_x="alignment")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMeasurement)
        scaled.measure(x, y, step=1)
    assert not scaled.table()["flags"].str.contains("input_saturated").any()  # the suggested fix works


def test_width_at_grid_bound_and_saturated_layers_are_flagged(mlp):
    x, y = samples(40, seed=3)
    # A grid that cannot reach the best width: at most 0.3 · (1 + tiny) for every candidate.
    tracker = InformationPlaneTracker(mlp, 10, scale=1e-9, sigma_layers={"fc1": 1e-3})
    with pytest.warns(DegenerateMeasurement) as record:
        tracker.measure(x, y, step=1)
    messages = [str(w.message) for w in record]
    table = tracker.table().set_index("layer")
    assert "sigma_at_bound" in table.loc["fc2", "flags"] and "sigma_at_bound" not in table.loc["fc1", "flags"]
    assert any("'fc2'" in m and "lowest candidate" in m for m in messages)
    assert table.loc["fc1", "H_T"] == pytest.approx(math.log2(40), abs=1e-6)  # σ = 1e-3: K_T = I
    assert "saturated" in table.loc["fc1", "flags"].split(";")
    wide = InformationPlaneTracker(mlp, 10, sigma_layers={"fc3": 1e6})
    with pytest.warns(DegenerateMeasurement, match="'fc3'.*all ones"):
        wide.measure(x, y, step=1)
    assert wide.table().set_index("layer").loc["fc3", "flags"] == "collapsed"
    clean = InformationPlaneTracker(mlp, 10, sigma_layers={"fc3": 2.0})
    clean.measure(x, y, step=1)
    assert clean.table().set_index("layer").loc["fc3", "flags"] == ""


def test_confusing_arguments_get_clear_errors(mlp):
    with pytest.raises(ValueError, match=r"list of module names.*layers=\['fc1'\]"):
        InformationPlaneTracker(mlp, 10, layers="fc1")
    with pytest.raises(ValueError, match=r"\['fc2'\] more than once"):
        InformationPlaneTracker(mlp, 10, layers=["fc1", "fc2", "fc2"])
    with pytest.raises(ValueError, match=r"sigma_layers names \['fc9'\]"):
        InformationPlaneTracker(mlp, 10, sigma_layers={"fc9": 1.0})
    with pytest.raises(ValueError, match="sigma_x 'abc'"):
        InformationPlaneTracker(mlp, 10, sigma_x="abc")


def test_numpy_inputs_and_models_without_parameters(mlp):
    x, y = samples(30, seed=2)
    from_numpy = InformationPlaneTracker(mlp, 10)
    from_numpy.measure(x.numpy().astype(np.float64), y.numpy(), step=1)
    from_torch = InformationPlaneTracker(mlp, 10)
    from_torch.measure(x, y, step=1)
    pd.testing.assert_frame_equal(from_numpy.table(), from_torch.table())
    free = nn.Sequential(nn.Flatten(), nn.Tanh(), nn.Softmax(dim=1))  # no parameters, no buffers
    tracker = InformationPlaneTracker(free, 10, layers=["1", "2"])
    tracker.measure(x, y, step=1)
    assert len(tracker.table()) == 2


@pytest.mark.parametrize("estimator, options", [("binning", {"n_bins": 7}), ("kde", {"noise_variance": 0.5})])
def test_baseline_estimators_fill_the_same_schema(mlp, estimator, options):
    from ipkit.baselines import binning_information, kde_information

    x, y = samples(50, seed=9)
    tracker = InformationPlaneTracker(mlp, 10, estimator=estimator, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMeasurement)  # binning fc1's 1,024 neurons: every sample distinct
        tracker.measure(x, y, step=1)
    table = tracker.table()
    assert list(table.columns) == COLUMNS and (table["estimator"] == estimator).all()
    mlp.eval()
    for layer in ["fc1", "fc3", "out"]:
        t = activations(mlp, x, [layer])[layer]
        if layer == "out":
            t = torch.softmax(t, dim=1)
        if estimator == "binning":
            expected = binning_information(t, y, n_bins=7)
        else:
            _, i_xt, i_ty = kde_information(t, y, noise_variance=0.5)
            expected = (i_xt, i_xt, i_ty)
        row = table.set_index("layer").loc[layer]
        assert (row["H_T"], row["I_XT"], row["I_TY"]) == pytest.approx(expected, rel=1e-6, abs=1e-9)
    settings = sorted({"estimator": estimator, **options}.items())
    assert (table["overrides"] == ";".join(f"{k}={v!r}" for k, v in settings)).all()
    assert_within_bounds(table.assign(H_X=table["H_X"].fillna(math.log2(50)), sigma_X=1.0, sigma_T=1.0))


def test_large_n_train_samples_are_drawn_fresh_and_lanczos_is_close_to_exact(mlp):
    x_train, y_train = samples(600, seed=10)
    xb, yb = x_train[:100], y_train[:100]
    exact, lanczos = (InformationPlaneTracker(mlp, 10, entropy_method=m) for m in ("exact", "lanczos"))
    for tracker in (exact, lanczos):
        tracking_callback(tracker, n=400, x_train=x_train, y_train=y_train, seed=3)(1, 1, xb, yb)
    a, b = exact.table(), lanczos.table()
    assert (a["n"] == 400).all() and (b["overrides"] == "entropy_method='lanczos'").all()
    idx = torch.randperm(600, generator=torch.Generator().manual_seed(4))[:400]  # the documented draw: seed + 1
    assert a["H_X"].iloc[0] == pytest.approx(renyi_entropy(gaussian_gram(x_train[idx], 8.0).double(), 1.0).item(),
                                             abs=ATOL)
    assert np.abs(a[["H_T", "I_XT"]].to_numpy() - b[["H_T", "I_XT"]].to_numpy()).max() < 0.03
    tracking_callback(exact, n=400)(2, 1, xb, yb)  # without x_train: the whole batch
    assert (exact.table().query("step == 2")["n"] == 100).all()
