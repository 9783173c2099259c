"""Several estimator settings on one training run (ipkit.comparison): each setting's rows are exactly those of its
own tracker, the model runs once per measurement, the table's `setting` column; notebook 04's analyses against
naive NumPy references (tests/reference.py) and hand-computed values."""

import math
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import reference as ref
from ipkit import InformationPlaneTracker
from ipkit import activations, alignment_sigma, label_gram, renyi_entropy
from ipkit.comparison import (FINAL_STEP_COLUMNS, SettingsTracker, StructureKernelComparison, channel_saturation,
                              comparison_problems, corner_distances, eval_activations, final_step,
                              hadamard_special_case, structure_cost, structure_problems, train_with_settings,
                              training_summary)
from ipkit.structure_kernel import structure_preserving_gram, structure_sq_dists
from ipkit.models import build_model
from ipkit.tracker import COLUMNS, tracking_callback
from ipkit.train import train


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():  # untrained networks on random images give degenerate widths: not tested here
        warnings.simplefilter("ignore")
        yield


def batches(count: int, n: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)) for _ in range(count)]


def cnn_settings(model) -> dict:
    return {"tensor": {}, "multivariate": {"estimator": "multivariate"}, "knn": {"width_rule": "knn", "k": 3},
            "fixed": {"sigma_layers": dict.fromkeys(model.measured_layers(), 5.0)}, "α=2": {"alpha": 2.0},
            "silverman": {"width_rule": "silverman", "gamma": 2.0, "beta": 0.5}}


def test_rows_equal_those_of_a_tracker_per_setting():
    """Same batches, steps and splits: every setting's rows equal those of a separate tracker, bit for bit
    (widths smoothed across steps and kept per split, as in the separate trackers)."""
    model = build_model("cnn", seed=0)
    settings = cnn_settings(model)
    together = SettingsTracker(model, 10, settings, run=2, seed=7)
    alone = {name: InformationPlaneTracker(model, 10, run=2, seed=7, **s) for name, s in settings.items()}
    for step, (x, y) in enumerate(batches(3), start=1):
        for split in ("train", "test"):
            together.measure(x, y, step=step, epoch=1, split=split)
            for tracker in alone.values():
                tracker.measure(x, y, step=step, epoch=1, split=split)
    table = together.table()
    for name, tracker in alone.items():
        mine = table[table["setting"] == name].drop(columns="setting").reset_index(drop=True)
        assert len(mine) == 3 * 2 * len(model.measured_layers())
        pd.testing.assert_frame_equal(mine, tracker.table(), check_exact=True)
    assert table.groupby("setting")["H_T"].sum().nunique() == len(settings)  # the settings do differ


def test_model_runs_once_per_measurement():
    model = build_model("cnn", seed=0)
    calls = []
    model.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    tracker = SettingsTracker(model, 10, cnn_settings(model))
    for step, (x, y) in enumerate(batches(2), start=1):
        tracker.measure(x, y, step=step)
    assert calls == [40, 40]
    assert model.training  # put back in its previous mode


def test_setting_column_and_returned_rows():
    model = build_model("mlp", seed=0)
    settings = {"paper": {}, "α=2": {"alpha": 2.0}, "knn": {"width_rule": "knn"}}
    tracker = SettingsTracker(model, 10, settings, protocol="wickstrom2023")
    (x, y), = batches(1)
    rows = tracker.measure(x.numpy(), y, step=1)  # NumPy inputs, as the tracker takes them
    layers = model.measured_layers()
    assert [row["setting"] for row in rows] == [name for name in settings for _ in layers]
    table = tracker.table()
    assert list(table.columns) == ["setting", *COLUMNS]
    assert table["setting"].tolist() == [row["setting"] for row in rows]
    assert table.groupby("setting", sort=False)["overrides"].first().to_dict() == {
        "paper": "", "α=2": "alpha=2.0", "knn": "width_rule='knn'"}
    assert set(table["protocol"]) == {"wickstrom2023"}


def test_bad_settings_and_labels_raise():
    model = build_model("mlp", seed=0)
    with pytest.raises(ValueError, match="settings must be a non-empty dict"):
        SettingsTracker(model, 10, {})
    with pytest.raises(ValueError, match="settings must be a non-empty dict"):
        SettingsTracker(model, 10, {"a": "alpha=2"})
    with pytest.raises(ValueError, match="unknown estimation setting.*width_options"):
        SettingsTracker(model, 10, {"a": {"width_options": {"k": 3}}})
    tracker = SettingsTracker(model, 10, {"a": {}})
    x, y = batches(1)[0]
    with pytest.raises(ValueError):
        tracker.measure(x, y[:-1], step=1)


def test_tracking_callback_and_train_with_settings():
    """train_with_settings trains exactly as a plain run does and measures what a tracker per setting measures in
    an identical run with tracking_callback."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(250, 1, 28, 28, generator=g), torch.randint(0, 10, (250,), generator=g)
    settings = {"tensor": {}, "α=2": {"alpha": 2.0}, "knn": {"width_rule": "knn"}}
    model = build_model("mlp", seed=0)
    log, table = train_with_settings(model, x, y, settings, epochs=1, batch_size=50, n=30, every=2,
                                     dense_until=1, progress=False)
    assert sorted(table["step"].unique()) == [1, 2, 4]
    model = build_model("mlp", seed=0)
    alone = {name: InformationPlaneTracker(model, 10, **s) for name, s in settings.items()}
    callbacks = [tracking_callback(t, n=30, every=2, dense_until=1) for t in alone.values()]
    plain = train(model, x, y, epochs=1, batch_size=50, progress=False,
                  on_step=lambda *args: [on_step(*args) for on_step in callbacks])
    pd.testing.assert_frame_equal(log, plain, check_exact=True)
    for name, tracker in alone.items():
        mine = table[table["setting"] == name].drop(columns="setting").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, tracker.table(), check_exact=True)


def test_hadamard_special_case_against_numpy():
    x = torch.randn(12, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    table = hadamard_special_case(x, sigma=6.0, alpha=1.0).set_index("dtype")
    assert table.loc["float64", "max_abs_difference"] < 1e-13
    assert table.loc["float32", "max_abs_difference"] < 1e-5
    assert abs(table.loc["float64", "entropy_difference"]) < 1e-12
    K = ref.multivariate_gram(x.numpy(), [6.0] * 3)
    assert np.allclose(K, ref.gaussian_gram(x.numpy(), 6.0), rtol=0, atol=1e-13)  # the identity itself
    off = K[~np.eye(12, dtype=bool)].mean()
    assert table.loc["float64", "mean_off_diagonal"] == pytest.approx(off, rel=1e-12)
    assert 0.05 < off < 0.95  # neither the identity nor all ones: the comparison has something to see
    assert table["channels"].tolist() == [3, 3]


def naive_channel_sigmas(a: np.ndarray, gamma: float) -> np.ndarray:
    """σ_c = γ · s_c · N^(−1/(4+d)), s_c² the mean over the d positions of the unbiased variance over samples."""
    n, c = a.shape[:2]
    flat = a.reshape(n, c, -1)
    spread = np.sqrt(flat.var(axis=0, ddof=1).mean(axis=-1))
    return gamma * spread * n ** (-1.0 / (4 + flat.shape[-1]))


def test_channel_saturation_against_numpy():
    g = torch.Generator().manual_seed(3)
    scales = torch.tensor([0.5, 1.0, 3.0, 0.2, 2.0]).reshape(1, 5, 1, 1)
    a = torch.randn(16, 5, 2, 2, generator=g) * scales  # channels of different spread: different widths
    y = torch.arange(16) % 4
    table = channel_saturation({"conv": a}, y, [1, 2, 8], gamma=3.0, alpha=1.01)
    assert table["channels"].tolist() == [1, 2, 5] and set(table["layer_channels"]) == {5}
    assert set(table["map_size"]) == {"2×2"} and table["log2_n"].eq(4.0).all()
    a64 = a.double().numpy()
    sigma_c = naive_channel_sigmas(a64, 3.0)
    assert sigma_c.max() / sigma_c.min() > 5  # the widths differ by channel
    K_y = ref.label_gram(y.numpy())
    for r in table.itertuples():
        part = a64[:, :r.channels]
        K_mv = ref.multivariate_gram(part, sigma_c[:r.channels])
        assert r.sigma_c_min == pytest.approx(sigma_c[:r.channels].min(), rel=1e-12)
        assert r.sigma_c_max == pytest.approx(sigma_c[:r.channels].max(), rel=1e-12)
        assert r.H_multivariate == pytest.approx(ref.renyi_entropy(K_mv, 1.01), abs=1e-10)
        assert r.offdiag_multivariate == pytest.approx(K_mv[~np.eye(16, dtype=bool)].mean(), rel=1e-10)
        d2 = ref.sq_dists(part)
        _, _, best = ref.alignment_search(d2, K_y, 300)
        assert r.sigma_tensor == pytest.approx(best, rel=1e-9)
        assert r.H_tensor == pytest.approx(ref.renyi_entropy(np.exp(-d2 / best**2), 1.01), abs=1e-10)
        assert r.mean_distance == pytest.approx(ref.mean_distance(d2), rel=1e-12)
    # adding a channel multiplies the kernel by one more unit-diagonal kernel: the entropy cannot fall
    assert table["H_multivariate"].is_monotonic_increasing


def test_channel_saturation_saturates_on_large_maps():
    """A 12×12 map of noise: each channel's distances concentrate near 2 d s_c² ≫ σ_c², so at Yu et al.'s widths
    the kernel is the identity (H = log2 N) from one channel on, while the tensor kernel at its alignment width
    stays well below."""
    a = torch.randn(32, 6, 12, 12, generator=torch.Generator().manual_seed(0))
    y = torch.arange(32) % 4
    table = channel_saturation({"conv": a}, y, [1, 3])
    assert (table["H_multivariate"] > 5 - 1e-6).all()
    assert (table["H_tensor"] < 5 - 0.25).all()


def test_channel_saturation_refuses_dense_outputs():
    with pytest.raises(ValueError, match="outputs\\['fc'\\] must be \\(N, C, H, W\\)"):
        channel_saturation({"fc": torch.randn(10, 4)}, torch.arange(10) % 2, [1])


def test_corner_distances_by_hand():
    ip = pd.DataFrame(dict(
        network="cnn", setting=["a", "a", "a", "b"], layer=["conv1", "conv1", "conv2", "conv1"],
        layer_index=[0, 0, 1, 0], estimator=["tensor"] * 3 + ["multivariate"], step=[1, 2, 1, 1],
        H_T=[3.0, 4.0, 2.0, 6.0], I_XT=[3.0, 3.5, 2.0, 6.0], I_TY=[1.0, 2.0, 0.5, 3.0], H_X=6.0, H_Y=3.0))
    table = corner_distances(ip)
    assert list(table.columns) == ["network", "setting", "layer", "estimator", "H_T_min", "H_T_max",
                                   "corner_XT_min", "corner_XT_max", "corner_TY_min", "corner_TY_max"]
    got = table.set_index(["setting", "layer"])
    assert got.loc[("a", "conv1")].tolist()[1:] == ["tensor", 3.0, 4.0, 2.5, 3.0, 1.0, 2.0]
    assert got.loc[("a", "conv2")].tolist()[1:] == ["tensor", 2.0, 2.0, 4.0, 4.0, 2.5, 2.5]
    assert got.loc[("b", "conv1")].tolist()[1:] == ["multivariate", 6.0, 6.0, 0.0, 0.0, 0.0, 0.0]
    with_sigma = corner_distances(ip.assign(sigma_T=[2.0, 0.5, 7.0, 3.0]), sigma=True)
    assert list(with_sigma.columns) == [*table.columns, "sigma_T_min", "sigma_T_max"]
    pd.testing.assert_frame_equal(with_sigma[table.columns], table)
    assert with_sigma[["sigma_T_min", "sigma_T_max"]].to_numpy().tolist() == [[0.5, 2.0], [7.0, 7.0], [3.0, 3.0]]


def test_final_step_keeps_the_last_step_by_setting_then_depth():
    ip = pd.DataFrame(dict(setting=["b", "b", "b", "a", "a", "b"], step=[1, 3, 3, 3, 3, 3],
                           layer_index=[0, 1, 0, 1, 0, 2], H_T=[9.0, 1.0, 2.0, 3.0, 4.0, 5.0], seconds=1.0))
    table = final_step(ip.reindex(columns=[*ip.columns, *(c for c in FINAL_STEP_COLUMNS if c not in ip)]))
    assert list(table.columns) == list(FINAL_STEP_COLUMNS)
    assert table[["setting", "layer_index", "H_T"]].values.tolist() == [["a", 0, 4.0], ["a", 1, 3.0], ["b", 0, 2.0],
                                                                        ["b", 1, 1.0], ["b", 2, 5.0]]
    assert set(table["step"]) == {3}


def test_training_summary_by_hand():
    log = pd.DataFrame(dict(step=range(1, 13), loss=[2.0, 9.0, *[1.0] * 5, *[0.5] * 5]))
    ip = pd.DataFrame(dict(setting=["a", "b", "c"] * 2, step=[1] * 3 + [5] * 3))
    row = training_summary("cnn", log, ip, seconds=3.5, test_accuracy=0.75)
    assert row == dict(network="cnn", steps=12, measurements=2, settings=3, seconds=3.5, max_loss=9.0,
                       final_loss=pytest.approx((5 * 1.0 + 5 * 0.5) / 10, abs=1e-12), test_accuracy=0.75)


def test_eval_activations_in_eval_mode_without_gradients_and_mode_restored():
    model = build_model("vgg16", width=0.0625, seed=0)  # batch norm: eval and train outputs differ
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = eval_activations(model, x, ["conv1", "fc1"])
    assert model.training and list(out) == ["conv1", "fc1"]
    assert not out["conv1"].requires_grad
    with torch.no_grad():
        expected = activations(model.eval(), x, ["conv1", "fc1"])
        trained = activations(model.train(), x, ["conv1"])
    torch.testing.assert_close(out["conv1"], expected["conv1"], rtol=0, atol=0)
    torch.testing.assert_close(out["fc1"], expected["fc1"], rtol=0, atol=0)
    assert not torch.allclose(out["conv1"], trained["conv1"], atol=1e-3)
    model.eval()
    eval_activations(model, x, ["conv1"])
    assert not model.training


def test_import_loads_no_matplotlib():
    code = "import sys, ipkit.comparison; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_saturation_figure_draws_each_network():
    pytest.importorskip("matplotlib")
    from ipkit.comparison import saturation_figure
    rows = pd.DataFrame(dict(network=["cnn", "cnn", "vgg16"], layer=["conv1", "conv1", "conv2"], channels=[1, 4, 16],
                             layer_channels=[4, 4, 16], map_size=["26×26", "26×26", "32×32"],
                             H_multivariate=[6.6, 6.6, 6.6], H_tensor=[5.0, 5.5, 4.0], log2_n=math.log2(100)))
    fig = saturation_figure(rows)
    axes = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_title().split(":")[0] for ax in axes] == ["cnn", "vgg16"]
    assert [len(ax.lines) for ax in axes] == [3, 3]  # multivariate, tensor, log2 N


def good_results():
    """Hand-made notebook-04 tables that pass every check: n = 4 (log2 N = 2)."""
    base = dict(network="cnn", split="train", step=1, n=4, H_X=1.5, H_Y=1.0, width_rule="alignment",
                estimator="tensor", alpha=1.0)
    rows = [dict(base, setting="tensor", layer="conv1", H_T=1.2, I_XT=1.0, I_TY=0.5),
            dict(base, setting="tensor", layer="fc1", H_T=1.1, I_XT=0.9, I_TY=0.6),
            dict(base, setting="mv", layer="conv1", H_T=2.0, I_XT=1.5, I_TY=1.0, estimator="multivariate",
                 width_rule="silverman-per-channel"),
            dict(base, setting="mv", layer="fc1", H_T=1.1, I_XT=0.9, I_TY=0.6, estimator="multivariate"),
            dict(base, setting="α=1", layer="fc1", H_T=1.1, I_XT=0.9, I_TY=0.6),
            dict(base, setting="α=2", layer="fc1", H_T=0.9, I_XT=0.7, I_TY=0.5, alpha=2.0)]
    saturation = pd.DataFrame(dict(network="cnn", layer="conv1", channels=[1, 4], layer_channels=4,
                                   H_multivariate=[1.995, 1.999], H_tensor=[1.5, 1.7], log2_n=2.0))
    hadamard = pd.DataFrame(dict(dtype=["float32", "float64"], max_abs_difference=[1e-7, 1e-15]))
    return pd.DataFrame(rows), saturation, hadamard


@pytest.mark.parametrize("change, problem", [
    (None, None),
    (lambda ip, s, h: ip.loc.__setitem__((0, "H_T"), float("nan")), "IP: NaN or Inf"),
    (lambda ip, s, h: ip.loc.__setitem__((4, "I_XT"), 2.1), "IP: estimates outside"),
    (lambda ip, s, h: h.loc.__setitem__((1, "max_abs_difference"), 1e-9), "Hadamard special case"),
    (lambda ip, s, h: s.loc.__setitem__((1, "H_multivariate"), 1.98), "multivariate H = 1.9800 at C = 4"),
    (lambda ip, s, h: s.loc.__setitem__((1, "H_tensor"), 1.8), "tensor H = 1.8000 at C = 4"),
    (lambda ip, s, h: ip.loc.__setitem__((2, "I_TY"), 0.9), "cnn: multivariate conv layers up to 0.1000 bits"),
    (lambda ip, s, h: ip.loc.__setitem__((3, "I_TY"), 0.7), "dense layers differ"),
    (lambda ip, s, h: ip.loc.__setitem__((5, "H_T"), 1.2), "increased with α"),
    ("accuracy", "cnn test accuracy 0.700 is below the floor 0.71"),
])
def test_comparison_problems(change, problem):
    ip, saturation, hadamard = good_results()
    summary = pd.DataFrame(dict(network=["cnn", "vgg16"], test_accuracy=[0.7, 0.1]))
    floors = {"cnn": 0.71 if change == "accuracy" else 0.7}  # at the floor passes
    if callable(change):
        change(ip, saturation, hadamard)
    problems = comparison_problems(ip, saturation, hadamard, tensor="tensor", multivariate="mv",
                                   alpha_settings=["α=1", "α=2"], in_corner=["cnn"], summary=summary,
                                   accuracy_floors=floors)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems


def test_figures_draw_their_panels():
    pytest.importorskip("matplotlib")
    from ipkit.comparison import entropy_figure, planes_figure
    ip = pd.DataFrame(dict(split="train", step=[1, 1, 2, 2], layer=["conv1", "out"] * 2, layer_index=[0, 1] * 2,
                           H_T=[5.0, 2.0, 5.5, 2.5], I_XT=[5.0, 2.0, 5.2, 2.1], I_TY=[1.0, 1.5, 1.1, 2.0]))
    fig = planes_figure([[("a", ip), ("b", ip)], [("c", ip)]], colorbar=False)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["a", "b", "c"]
    assert [t.get_text() for t in shown[0].get_legend().get_texts()] == ["conv1", "out"]  # depth order
    assert shown[1].get_legend() is None
    fig = entropy_figure([[("x", ip, ["conv1"])]], log2_n=6.6)
    assert [line.get_label() for line in fig.axes[0].lines] == ["conv1", "log2 N = 6.60"]


# The structure-preserving kernel against the tensor kernel (StructureKernelComparison)

def structure_run(model, count=2):
    conv = [layer for layer in model.measured_layers() if layer.startswith("conv")]
    comparison = StructureKernelComparison(model, conv)
    tracker = InformationPlaneTracker(model, 10)
    for step, (x, y) in enumerate(batches(count, n=30), start=1):
        comparison.measure(x, y, step=step)
        tracker.measure(x, y, step=step)
    return comparison, tracker, conv


def test_structure_comparison_tensor_rows_are_the_trackers_and_structure_rows_by_hand():
    model = build_model("cnn", seed=0)
    comparison, tracker, conv = structure_run(model)
    table = comparison.table()
    assert len(table) == 2 * 2 * len(conv) and set(table["setting"]) == {"tensor kernel",
                                                                        "structure-preserving kernel"}
    assert structure_problems(table, tracker.table()) == []
    (x, y), = batches(1, n=30)
    with torch.no_grad():
        acts = activations(model.eval(), x, conv)
    first = table[(table["step"] == 1) & (table["estimator"] == "structure-preserving")]
    K_y = label_gram(y, 10).double()
    for row, layer in zip(first.itertuples(), conv):
        d2 = structure_sq_dists(acts[layer])
        sigma = alignment_sigma(d2, K_y, n_candidates=300)  # step 1: the first width is not smoothed
        assert math.isclose(row.sigma_T, sigma, rel_tol=1e-12)
        assert math.isclose(row.H_T, float(renyi_entropy(structure_preserving_gram(acts[layer], sigma), 1.0)),
                            rel_tol=1e-9)
    structure = table[table["estimator"] == "structure-preserving"]["H_T"].to_numpy()
    assert not np.allclose(structure, table[table["estimator"] == "tensor"]["H_T"].to_numpy(), atol=1e-3)
    assert (table["seconds"] > 0).all()


def test_structure_problems_catch_mismatches():
    model = build_model("cnn", seed=0)
    comparison, tracker, _ = structure_run(model)
    table, reference = comparison.table(), tracker.table()
    off = table.copy()
    off.loc[off["estimator"] == "tensor", "I_XT"] += 1e-3
    assert any("differ from the tracker" in p for p in structure_problems(off, reference))
    assert any("same steps" in p for p in structure_problems(table.drop(index=table.index[-1]), reference))
    bad = table.copy()
    bad.loc[0, "H_T"] = math.nan
    assert any("NaN" in p for p in structure_problems(bad, reference))
    bad.loc[0, "H_T"] = 99.0
    assert any("outside" in p for p in structure_problems(bad, reference))


def test_structure_cost_by_hand():
    rows = [dict(setting=s, split="train", step=step, layer=layer, seconds=sec)
            for s, secs in (("tensor kernel", (1.0, 2.0, 6.0)), ("structure-preserving kernel", (10.0, 20.0, 60.0)))
            for step, sec in zip((1, 5, 10), secs) for layer in ("conv1", "conv2")]
    cost = structure_cost(pd.DataFrame(rows)).set_index("setting")
    assert cost.loc["tensor kernel", "mean_s"] == 3.0 and cost.loc["structure-preserving kernel", "mean_s"] == 30.0
    assert cost.loc["tensor kernel", "median_s"] == 2.0 and cost.loc["structure-preserving kernel", "max_s"] == 60.0
    assert cost.loc["structure-preserving kernel", "vs_tensor"] == 10.0
    assert cost["measurements"].tolist() == [3, 3] and cost["layers"].tolist() == [2, 2]


def test_structure_comparison_in_train_with_settings_leaves_training_alone():
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(150, 1, 28, 28, generator=g), torch.randint(0, 10, (150,), generator=g)
    model = build_model("cnn", seed=0)
    comparison = StructureKernelComparison(model, ["conv1", "conv3"])
    log, table = train_with_settings(model, x, y, {"tensor": {}}, epochs=1, batch_size=50, n=30, every=2,
                                     progress=False, also=[comparison])
    plain = train(build_model("cnn", seed=0), x, y, epochs=1, batch_size=50, progress=False)
    pd.testing.assert_frame_equal(log, plain, check_exact=True)
    assert sorted(comparison.table()["step"].unique()) == sorted(table["step"].unique()) == [2]
    assert structure_problems(comparison.table(), table[table["setting"] == "tensor"]) == []


def test_structure_comparison_bad_input():
    model = build_model("cnn", seed=0)
    with pytest.raises(ValueError, match="sigma_x"):
        StructureKernelComparison(model, ["conv1"], sigma_x="alignment")
    with pytest.raises(ValueError, match="layers"):
        StructureKernelComparison(model, [])
    (x, y), = batches(1, n=20)
    with pytest.raises(ValueError, match="fc1"):
        StructureKernelComparison(model, ["conv1", "fc1"]).measure(x, y, step=1)
