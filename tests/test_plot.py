"""Tests for ipkit.plot: the figures draw exactly the table's run means, and reject bad tables."""

import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import ipkit.plot as ipp  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Depth order differs from alphabetical order on purpose.
LAYERS = ("input_block", "hidden", "output")
STEPS = (0, 10, 20, 30, 40)
RUNS = ("run0", "run1")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def table():
    """IP table: 2 runs x 2 splits x 5 steps x 3 layers of seeded random values."""
    rng = np.random.default_rng(0)
    rows = [dict(run=run, seed=seed, split=split, epoch=step // 20, step=step, layer=layer,
                 layer_index=index, H_T=rng.uniform(0, 6.6), I_XT=rng.uniform(0, 6.6),
                 I_TY=rng.uniform(0, 3.3), sigma_T=rng.uniform(0.5, 5.0), alpha=1.01, n=100,
                 estimator="tensor")
            for seed, run in enumerate(RUNS) for split in ("train", "test") for step in STEPS
            for index, layer in enumerate(LAYERS)]
    return pd.DataFrame(rows)


@pytest.fixture
def log():
    """Training log: 2 runs x 12 steps, evaluation every 4 steps."""
    rng = np.random.default_rng(1)
    frames = []
    for seed, run in enumerate(RUNS):
        step = np.arange(12)
        evaluated = step % 4 == 0
        frames.append(pd.DataFrame(dict(
            run=run, seed=seed, epoch=0, step=step, loss=rng.uniform(0, 2, 12),
            batch_accuracy=rng.uniform(0, 1, 12),
            val_loss=np.where(evaluated, rng.uniform(0, 2, 12), np.nan),
            val_accuracy=np.where(evaluated, rng.uniform(0, 1, 12), np.nan))))
    return pd.concat(frames, ignore_index=True)


def run_mean(table, split, layer, step, column):
    """Mean over runs of one cell, computed with plain masks rather than groupby."""
    rows = table[(table.split == split) & (table.layer == layer) & (table.step == step)]
    assert len(rows) == len(RUNS)
    return rows[column].to_numpy().mean()


def collection(ax, label):
    found = [c for c in ax.collections if c.get_label() == label]
    assert len(found) == 1, [c.get_label() for c in ax.collections]
    return found[0]


@pytest.mark.parametrize("split", ["train", "test"])
def test_information_plane_draws_run_means_per_layer_and_step(table, split):
    ax = ipp.information_plane(table, split=split)
    assert isinstance(ax, plt.Axes)
    assert [c.get_label() for c in ax.collections] == list(LAYERS)
    for layer in LAYERS:
        points = collection(ax, layer)
        expected = [[run_mean(table, split, layer, s, "I_XT"), run_mean(table, split, layer, s, "I_TY")]
                    for s in STEPS]
        np.testing.assert_allclose(points.get_offsets(), expected, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(points.get_array(), STEPS)  # coloured by step
    assert ax.get_xlabel() == "I(X;T) [bits]"
    assert ax.get_ylabel() == "I(T;Y) [bits]"
    colorbars = [a for a in ax.figure.axes if a is not ax]
    assert len(colorbars) == 1
    assert colorbars[0].get_ylabel() == "training step"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(LAYERS)


def test_information_plane_uses_one_colormap_per_layer(table):
    ax = ipp.information_plane(table, cmaps=["Blues", "Reds"])
    assert [collection(ax, layer).get_cmap().name for layer in LAYERS] == ["Blues", "Reds", "Blues"]
    ax = ipp.information_plane(table)
    assert [collection(ax, layer).get_cmap().name for layer in LAYERS] == ["Greys", "Purples", "Blues"]


def test_information_plane_draws_on_given_axes_and_subset_of_layers(table):
    fig, ax = plt.subplots()
    out = ipp.information_plane(table, ax=ax, layers=["output"], colorbar=False, legend=False)
    assert out is ax
    assert [c.get_label() for c in ax.collections] == ["output"]
    assert len(fig.axes) == 1
    assert ax.get_legend() is None
    with pytest.raises(ValueError, match="unknown layers"):
        ipp.information_plane(table, layers=["no_such_layer"])


def test_early_stopping_marks_point_at_nearest_measured_step(table):
    # Patience 5 stops at 23 -> nearest measured step 20; patience 9 stops at 30 and 50 -> mean 40.
    stops = pd.DataFrame(dict(run=["run0", "run0", "run1"], patience=[5, 9, 9],
                              stop_step=[23, 30, 50], best_step=[18, 25, 45]))
    ax = ipp.information_plane(table, early_stopping=stops)
    for patience, step in ((5, 20), (9, 40)):
        marks = collection(ax, f"early stop, patience {patience}")
        expected = [[run_mean(table, "train", layer, step, "I_XT"),
                     run_mean(table, "train", layer, step, "I_TY")] for layer in LAYERS]
        np.testing.assert_allclose(marks.get_offsets(), expected, rtol=0, atol=1e-12)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [*LAYERS, "early stop, patience 5", "early stop, patience 9"]
    with pytest.raises(ValueError, match="stop_step"):
        ipp.information_plane(table, early_stopping=stops.drop(columns="stop_step"))


def test_information_plane_splits_shares_axis_limits(table):
    fig = ipp.information_plane_splits(table)
    assert isinstance(fig, plt.Figure)
    panels = [ax for ax in fig.axes if ax.get_xlabel() == "I(X;T) [bits]"]
    assert [ax.get_title() for ax in panels] == ["train data", "test data"]
    assert len(fig.axes) == 3  # two panels and one colorbar
    assert panels[0].get_xlim() == panels[1].get_xlim()
    assert panels[0].get_ylim() == panels[1].get_ylim()
    for ax, split in zip(panels, ("train", "test")):
        expected = [run_mean(table, split, "hidden", s, "I_XT") for s in STEPS]
        np.testing.assert_allclose(collection(ax, "hidden").get_offsets()[:, 0], expected, rtol=0,
                                   atol=1e-12)


@pytest.mark.parametrize("step", [None, 20])
def test_dpi_plot_shows_mean_and_std_over_runs_along_depth(table, step):
    ax = ipp.dpi_plot(table, split="test", step=step)
    shown = STEPS[-1] if step is None else step
    assert isinstance(ax, plt.Axes)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LAYERS)
    assert len(ax.containers) == 2
    for container, column in zip(ax.containers, ("I_XT", "I_TY")):
        line, _, (bars,) = container.lines
        values = [table[(table.split == "test") & (table.layer == layer) & (table.step == shown)][column]
                  .to_numpy() for layer in LAYERS]
        np.testing.assert_array_equal(line.get_xdata(), [0, 1, 2])
        np.testing.assert_allclose(line.get_ydata(), [v.mean() for v in values], rtol=0, atol=1e-12)
        half_lengths = [(seg[1, 1] - seg[0, 1]) / 2 for seg in bars.get_segments()]
        np.testing.assert_allclose(half_lengths, [v.std(ddof=1) for v in values], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="step 25 not measured"):
        ipp.dpi_plot(table, step=25)


def test_sigma_plot_draws_one_log_scaled_line_per_layer(table):
    ax = ipp.sigma_plot(table)
    assert ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.lines] == list(LAYERS)
    for line, layer in zip(ax.lines, LAYERS):
        np.testing.assert_array_equal(line.get_xdata(), STEPS)
        expected = [run_mean(table, "train", layer, s, "sigma_T") for s in STEPS]
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=0, atol=1e-12)


def test_training_curves_smooth_batch_values_and_show_validation_points(log):
    fig = ipp.training_curves(log, window=3)
    assert isinstance(fig, plt.Figure)
    loss_ax, accuracy_ax = fig.axes
    for ax, batch_column, val_column in ((loss_ax, "loss", "val_loss"),
                                         (accuracy_ax, "batch_accuracy", "val_accuracy")):
        smooth, validation = ax.lines
        per_step = np.array([log[log.step == s][batch_column].mean() for s in range(12)])
        # Trailing mean over up to 3 logged steps.
        expected = [per_step[max(0, s - 2):s + 1].mean() for s in range(12)]
        np.testing.assert_allclose(smooth.get_ydata(), expected, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(validation.get_xdata(), [0, 4, 8])
        expected = [log[log.step == s][val_column].mean() for s in (0, 4, 8)]
        np.testing.assert_allclose(validation.get_ydata(), expected, rtol=0, atol=1e-12)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]


@pytest.mark.parametrize("draw, column", [
    (ipp.information_plane, "I_TY"),
    (ipp.information_plane, "layer_index"),
    (ipp.information_plane_splits, "I_XT"),
    (ipp.dpi_plot, "I_XT"),
    (ipp.sigma_plot, "sigma_T"),
])
def test_missing_column_raises_naming_it(table, draw, column):
    with pytest.raises(ValueError, match=f"missing columns.*'{column}'"):
        draw(table.drop(columns=column))


def test_training_curves_missing_column_raises(log):
    with pytest.raises(ValueError, match="missing columns.*'batch_accuracy'"):
        ipp.training_curves(log.drop(columns="batch_accuracy"))


@pytest.mark.parametrize("draw", [ipp.information_plane, ipp.dpi_plot, ipp.sigma_plot])
def test_unknown_split_raises_listing_splits_present(table, draw):
    with pytest.raises(ValueError, match=r"split='validation'.*\['test', 'train'\]"):
        draw(table, split="validation")
    with pytest.raises(ValueError, match=r"\['test', 'train'\]"):
        ipp.information_plane_splits(table, splits=("train", "validation"))


def test_save_figure_writes_png_atomically(table, tmp_path):
    ax = ipp.information_plane(table)
    path = tmp_path / "nested" / "folder" / "ip.png"
    assert ipp.save_figure(ax.figure, path) == path
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 1000
    assert [p.name for p in path.parent.iterdir()] == ["ip.png"]  # no temporary file left


def test_import_ipkit_does_not_import_plotting_libraries():
    if not (REPO / "ipkit" / "__init__.py").exists():
        pytest.skip("ipkit/__init__.py not written yet")
    code = ("import ipkit, sys; bad = [m for m in ('matplotlib', 'seaborn') if m in sys.modules];"
            " assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
