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


# Figure 1 and the early-stopping figures, on a hand-built phase table (the columns of ipkit.analysis.phase_table).
# input_block and hidden compress (boundaries at steps 20 and 30); output does not.
# Patience 5 stops at 23 (after input_block's boundary, before hidden's), 9 at 40 (mean of 30 and 50), 50 never.
PATIENCE_STOPS = {5: 23.0, 9: 40.0, 50: None}


@pytest.fixture
def stops():
    return pd.DataFrame(dict(run=["run0", "run0", "run1", "run0", "run1"], patience=[5, 9, 9, 50, 50],
                             stop_step=[23, 30, 50, None, None], best_step=[18, 25, 45, 40, 40]))


@pytest.fixture
def phases():
    table = pd.DataFrame(dict(layer=list(LAYERS), layer_index=[0, 1, 2], peak_step=[20, 30, 40],
                              peak_step_test=[10, 30, 40], I_XT_peak=[5.0, 4.0, 3.0],
                              compression_train=[0.5, 0.3, 0.05], compression_test=[0.2, 0.1, 0.0],
                              compresses=[True, True, False]))
    for p, stop in PATIENCE_STOPS.items():
        table[f"stop_p{p}"] = pd.array([stop] * 3, dtype="Float64")
        before = [stop is not None and stop < peak for peak in table["peak_step"]]
        table[f"before_p{p}"] = pd.Series(before, dtype="boolean").where(table["compresses"], pd.NA)
    table["largest_patience_before"] = pd.array([pd.NA, 5, pd.NA], dtype="Int64")
    return table


def lines(ax, label):
    return [line for line in ax.lines if line.get_label() == label]


@pytest.mark.parametrize("split, peaks", [("train", {"input_block": 20, "hidden": 30}),
                                          ("test", {"input_block": 10, "hidden": 30})])
def test_figure1_draws_fitting_solid_and_compression_dotted_per_layer(table, stops, phases, split, peaks):
    ax = ipp.figure1(table, stops, phases, split=split, inset_layers=2, window=1)
    for layer in LAYERS:
        means = np.array([[run_mean(table, split, layer, s, "I_XT"), run_mean(table, split, layer, s, "I_TY")]
                          for s in STEPS])
        (fitting,) = lines(ax, f"{layer}: fitting")
        assert fitting.get_linestyle() == "-" and fitting.get_color() == "black"
        compression = lines(ax, f"{layer}: compression")
        if layer not in peaks:  # does not compress: the whole path is the fitting phase
            np.testing.assert_allclose(fitting.get_xydata(), means, rtol=0, atol=1e-12)
            assert compression == []
            continue
        upto = np.array(STEPS) <= peaks[layer]
        np.testing.assert_allclose(fitting.get_xydata(), means[upto], rtol=0, atol=1e-12)
        (compression,) = compression
        assert compression.get_linestyle() == ":" and compression.get_color() == "black"
        np.testing.assert_allclose(compression.get_xydata(), means[np.array(STEPS) >= peaks[layer]], rtol=0,
                                   atol=1e-12)
    # The points are information_plane's: one scatter per layer, run means coloured by step.
    np.testing.assert_array_equal(collection(ax, "hidden").get_array(), STEPS)


def test_figure1_phase_lines_follow_the_smoothed_path(table, stops, phases):
    ax = ipp.figure1(table, stops, phases, window=3)
    x = np.array([run_mean(table, "train", "output", s, "I_XT") for s in STEPS])
    centred = [x[max(0, i - 1):i + 2].mean() for i in range(len(x))]  # centred mean of up to 3 measurements
    (fitting,) = lines(ax, "output: fitting")
    np.testing.assert_allclose(fitting.get_xdata(), centred, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="window"):
        ipp.figure1(table, stops, phases, window=0)


def test_figure1_legend_has_one_entry_per_patience_and_the_two_phases(table, stops, phases):
    ax = ipp.figure1(table, stops, phases)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [*LAYERS, "early stop, patience 5", "early stop, patience 9",
                      "early stop, patience 50: never stops", "fitting phase", "compression phase"]
    markers = [h.get_marker() for h in ax.get_legend().legend_handles[len(LAYERS):len(LAYERS) + 3]]
    assert len(set(markers)) == 3
    # Patience 5 marks every layer at the measured step nearest to 23 (20), patience 9 at 40; 50 marks nothing.
    for patience, step in ((5, 20), (9, 40)):
        expected = [[run_mean(table, "train", layer, step, "I_XT"), run_mean(table, "train", layer, step, "I_TY")]
                    for layer in LAYERS]
        np.testing.assert_allclose(collection(ax, f"early stop, patience {patience}").get_offsets(), expected,
                                   rtol=0, atol=1e-12)
    assert not [c for c in ax.collections if c.get_label().startswith("early stop, patience 50")]


def test_figure1_inset_magnifies_the_first_layers(table, stops, phases):
    ax = ipp.figure1(table, stops, phases, inset_layers=2)
    inset = ax.child_axes[0]
    shown = [c.get_label() for c in inset.collections if not c.get_label().startswith("early stop")]
    assert shown == ["input_block", "hidden"]
    assert {line.get_label() for line in inset.lines} == {"input_block: fitting", "input_block: compression",
                                                          "hidden: fitting", "hidden: compression"}
    xy = np.concatenate([collection(inset, layer).get_offsets() for layer in ("input_block", "hidden")])
    (x0, x1), (y0, y1) = inset.get_xlim(), inset.get_ylim()
    assert x0 < xy[:, 0].min() and xy[:, 0].max() < x1 and y0 < xy[:, 1].min() and xy[:, 1].max() < y1
    # It magnifies: a tighter box than the main axes', which hold the output layer as well.
    assert x1 - x0 <= np.ptp(ax.get_xlim()) and y1 - y0 <= np.ptp(ax.get_ylim())
    no_inset = ipp.figure1(table, stops, phases, inset_layers=0).child_axes
    assert [a.get_ylabel() for a in no_inset] == ["training step"]  # the colorbar only


def test_figure1_rejects_a_phase_table_of_other_layers(table, stops, phases):
    with pytest.raises(ValueError, match=r"no row for layers \['output'\]"):
        ipp.figure1(table, stops, phases[phases.layer != "output"])
    with pytest.raises(ValueError, match="missing columns.*'compresses'"):
        ipp.figure1(table, stops, phases.drop(columns="compresses"))
    with pytest.raises(ValueError, match="missing columns.*'peak_step_test'"):
        ipp.figure1(table, stops, phases.drop(columns="peak_step_test"), split="test")


def test_patience_before_compression_shows_before_per_compressing_layer_and_patience(phases):
    never = phases.assign(compresses=False)
    for p in PATIENCE_STOPS:
        never[f"before_p{p}"] = pd.array([pd.NA] * 3, dtype="boolean")
    fig = ipp.patience_before_compression({"mlp_tanh": phases, "cnn_relu": never})
    first, second = fig.axes
    assert [first.get_title(), second.get_title()] == ["mlp_tanh", "cnn_relu"]
    # Rows: the compressing layers; columns: patiences 5, 9, 50. hidden (peak 30) is stopped before by 5 only.
    np.testing.assert_array_equal(first.collections[0].get_array().reshape(2, 3), [[0, 0, 0], [1, 0, 0]])
    assert [t.get_text() for t in first.get_yticklabels()] == ["input_block (peak 20)", "hidden (peak 30)"]
    assert [t.get_text() for t in first.get_xticklabels()] == ["5", "9", "50"]
    assert [t.get_text() for t in first.texts] == ["23", "40", "never"] * 2
    (outline,) = [p for p in first.patches if not p.get_fill()]
    assert outline.get_xy() == (0, 1)  # hidden's row, patience 5's column
    assert [t.get_text() for t in second.texts] == ["no layer compresses"]


def test_patience_before_compression_rejects_tables_without_patiences(phases):
    with pytest.raises(ValueError, match="no before_p<patience> columns"):
        ipp.patience_before_compression({"mlp": phases.drop(columns=[f"before_p{p}" for p in PATIENCE_STOPS])})
    with pytest.raises(ValueError, match="missing columns.*'stop_p9'"):
        ipp.patience_before_compression({"mlp": phases.drop(columns="stop_p9")})
    with pytest.raises(ValueError, match="tables is empty"):
        ipp.patience_before_compression({})


def test_compression_bars_show_train_and_test_amounts(phases):
    fig = ipp.compression_bars({"a": phases, "b": phases.assign(compression_test=0.4)}, threshold=0.2)
    first, second = fig.axes
    train, test = first.containers
    np.testing.assert_allclose([b.get_height() for b in train], [0.5, 0.3, 0.05], rtol=0, atol=1e-12)
    np.testing.assert_allclose([b.get_height() for b in test], [0.2, 0.1, 0.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose([b.get_height() for b in second.containers[1]], [0.4] * 3, rtol=0, atol=1e-12)
    assert [t.get_text() for t in first.get_xticklabels()] == list(LAYERS)


def band_at(band, x):
    """The (low, high) of a seaborn band (a fill_between polygon) at x."""
    vertices = band.get_paths()[0].vertices
    ys = vertices[np.isclose(vertices[:, 0], x), 1]
    return ys.min(), ys.max()


@pytest.mark.parametrize("column", ["I_XT", "I_TY"])
def test_information_over_steps_draws_run_mean_and_band_of_two_standard_errors(table, column):
    ax = ipp.information_over_steps(table.assign(H_X=6.0), column=column, split="test")
    assert [line.get_label() for line in ax.lines] == [*LAYERS, *(["H(X)"] if column == "I_XT" else [])]
    assert len(ax.collections) == len(LAYERS)  # one band per layer
    for line, band, layer in zip(ax.lines, ax.collections, LAYERS):
        np.testing.assert_array_equal(line.get_xdata(), STEPS)
        np.testing.assert_allclose(line.get_ydata(), [run_mean(table, "test", layer, s, column) for s in STEPS],
                                   rtol=0, atol=1e-12)
        for s in STEPS:
            values = table[(table.split == "test") & (table.layer == layer) & (table.step == s)][column].to_numpy()
            se = values.std(ddof=1) / np.sqrt(len(values))
            np.testing.assert_allclose(band_at(band, s), (values.mean() - 2 * se, values.mean() + 2 * se),
                                       rtol=0, atol=1e-9)
    assert ax.get_ylabel() == f"{column[0]}({column[2]};{column[3]}) [bits]"
    with pytest.raises(ValueError, match="column must be one of"):
        ipp.information_over_steps(table, column="loss")
    with pytest.raises(ValueError, match="unknown layers"):
        ipp.information_over_steps(table, layers=["no_such_layer"])


def test_sigma_plot_draws_a_band_over_runs(table):
    ax = ipp.sigma_plot(table)
    assert len(ax.collections) == len(LAYERS)
    one_run = ipp.sigma_plot(table[table.run == "run0"])
    assert not any(band.get_paths() for band in one_run.collections)  # one run: no band


def test_sigma_panels_draw_one_sigma_plot_per_table_sharing_y_with_one_legend(table):
    doubled = table.assign(sigma_T=table["sigma_T"] * 2)
    fig = ipp.sigma_panels([("a", table), ("b", doubled), ("c", table[table.layer == "hidden"])], split="test")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    assert [ax.get_legend().get_visible() for ax in fig.axes] == [True, False, False]
    assert [len(ax.lines) for ax in fig.axes] == [3, 3, 1]
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert [bool(ax.get_ylabel()) for ax in fig.axes] == [True, False, False]  # labelled once, on the left
    expected = [run_mean(table, "test", "hidden", s, "sigma_T") for s in STEPS]
    np.testing.assert_allclose(fig.axes[2].lines[0].get_ydata(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), 2 * np.array(expected), rtol=0, atol=1e-12)
    low, high = fig.axes[0].get_ylim()
    assert fig.axes[1].get_ylim() == fig.axes[2].get_ylim() == (low, high)  # shared y axis, covering all panels
    assert low < table["sigma_T"].min() and high > doubled["sigma_T"].max()
    with pytest.raises(ValueError, match="panels is empty"):
        ipp.sigma_panels([])


def test_animated_information_plane_has_one_frame_per_step_range(tmp_path):
    from PIL import Image

    rows = [dict(split="train", step=step, layer=layer, layer_index=i, run=0, I_XT=step * (i + 1) / 10.0,
                 I_TY=step / 20.0) for step in range(1, 13) for i, layer in enumerate(["fc1", "out"])]
    table = pd.DataFrame(rows)
    path = ipp.animate_information_plane(table, tmp_path / "ip.gif", frames=5)
    with Image.open(path) as gif:
        assert gif.n_frames == 5
        sizes = []
        for k in range(gif.n_frames):
            gif.seek(k)
            sizes.append(sum(value < 200 for value in gif.convert("L").getdata()))  # dark pixels
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # points appear as training goes on
    assert ipp.animate_information_plane(table, tmp_path / "all.gif", frames=100).exists()  # ≤ 12 frames
    with Image.open(tmp_path / "all.gif") as gif:
        assert gif.n_frames == 12
    with pytest.raises(ValueError, match="frames"):
        ipp.animate_information_plane(table, tmp_path / "bad.gif", frames=0)
