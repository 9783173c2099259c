"""The notebooks as users run them: through papermill with tiny parameters, checking what they wrote."""

import json
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest

from ipkit.findings import findings_table

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# Parameters that make each notebook run in seconds on a CPU while going through every cell.
TINY = {
    "01_mlp_mnist": dict(epochs=1, seeds=[0], train_size=1100, test_size=300, every=1, dense_until=0, eval_every=5,
                         patience=[2, 5], accuracy_floor=0.5),
    "02_cnn_mnist": dict(epochs=1, seeds=[0], train_size=1100, test_size=300, every=1, dense_until=0, eval_every=5,
                         patience=[2, 5], accuracy_floor=0.2),
    "03_vgg16_cifar10": dict(width=0.0625, epochs=1, seeds=[0], train_size=440, test_size=200, every=1,
                             dense_until=0, eval_every=2, patience=[2], accuracy_floor=0.0),
    "04_kernel_comparison": dict(cnn_train_size=500, cnn_epochs=1, vgg_width=0.0625, vgg_train_size=1000,
                                 vgg_epochs=1, test_size=100, every=5, dense_until=1, channel_counts=[1, 4],
                                 saturation_layers=["conv2", "conv4"], cnn_accuracy_floor=0.0),
    "05_early_stopping": dict(configs=[["mlp", "tanh"], ["cnn", "relu"]], epochs=2, train_size=1000, test_size=300,
                              n=50, n_test=50, every=3, dense_until=3, eval_every=3, patience=[1, 6],
                              accuracy_floor=0.2),
    "06_robustness": dict(networks=[["mlp", "tanh"], ["cnn", "relu"]], seeds=[0], train_size=500, test_size=300,
                          settings={"paper": {}, "N=120": {"n": 120, "n_test": 120},
                                    "binning": {"estimator": "binning"}},
                          epochs=1, n_test=50, every=1, eval_every=1, patience=[1, 2], accuracy_floor=0.1),
}
EXPERIMENTS = ("01_mlp_mnist", "02_cnn_mnist", "03_vgg16_cifar10")  # one Experiment each: the standard files
FILES = ["ip.csv.gz", "training_log.csv.gz", "early_stopping.csv", "summary.csv", "dpi.csv", "compression.csv",
         "run.json", "information_plane.png", "i_xt_over_steps.png", "dpi.png", "sigma.png", "training_curves.png"]


def all_notebooks():
    return sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("name", all_notebooks())
def test_pair_agrees(name):
    """The committed .ipynb is the jupytext pair of the .py source, without outputs."""
    source = jupytext.read(NOTEBOOKS / f"{name}.py")
    paired = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert [c.cell_type for c in paired.cells] == [c.cell_type for c in source.cells]
    assert [c.source for c in paired.cells] == [c.source for c in source.cells]
    assert all(not c.get("outputs") for c in paired.cells if c.cell_type == "code"), "commit .ipynb without outputs"
    tagged = [c for c in paired.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is next(c for c in paired.cells if c.cell_type == "code")


def test_every_notebook_has_tiny_parameters():
    assert set(all_notebooks()) == set(TINY)


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_runs(name, tmp_path, data_root):
    import papermill

    out = tmp_path / name
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
                               parameters=dict(TINY[name], output_dir=str(out), data_root=str(data_root),
                                               progress=False, device="cpu"),
                               kernel_name="python3", progress_bar=False)
    assert not list(out.rglob(".*.tmp")), "temporary files left behind"
    assert list(out.rglob("*.png")) and list(out.rglob("*.csv")), f"{name} wrote no figure or table"
    if name == "06_robustness":  # 2 networks × 4 settings (3 + fixed σ) × findings 1, 2, 4
        assert len(pd.read_csv(out / "verdicts.csv")) == 2 * 4 * 3
        for network in ("mlp_tanh", "cnn_relu"):  # one IP table of all settings, which findings_table leaves alone
            assert pd.read_csv(out / network / "ip.csv.gz")["setting"].nunique() == 4
        assert findings_table(out)["finding"].tolist() == [6]
    if name not in EXPERIMENTS:
        return
    for f in FILES:
        assert (out / f).stat().st_size > 0, f"{name} did not write {f}"
    ip = pd.read_csv(out / "ip.csv.gz")
    assert set(ip["split"]) == {"train", "test"}
    assert ip[["H_T", "I_XT", "I_TY"]].notna().all().all()
    meta = json.loads((out / "run.json").read_text())
    assert meta["notebook"] == name and meta["provenance"]["torch"]


@pytest.mark.notebook
def test_early_stopping_redraws_from_saved_runs(tmp_path, data_root):
    """05 with `results_from` mapping each network to a folder (as the paper profile does): it reads those runs,
    writes only what it derives, and derives the same tables as the run that made them."""
    import papermill

    params = dict(TINY["05_early_stopping"], configs=[["mlp", "tanh"]], data_root=str(data_root), progress=False,
                  device="cpu")
    made, redrawn = tmp_path / "made", tmp_path / "redrawn"
    for out, extra in ((made, {}), (redrawn, {"results_from": {"mlp_tanh": str(made / "mlp_tanh")}})):
        papermill.execute_notebook(str(NOTEBOOKS / "05_early_stopping.ipynb"), str(tmp_path / f"{out.name}.ipynb"),
                                   parameters=dict(params, output_dir=str(out), **extra), kernel_name="python3",
                                   progress_bar=False)
    assert not (redrawn / "mlp_tanh").exists(), "a redraw should not copy the runs it reads"
    for name in ("phases_early_stopping.csv", "train_vs_test.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(redrawn / name), pd.read_csv(made / name))
    assert (redrawn / "figure1_mlp_tanh.png").stat().st_size > 0


@pytest.mark.notebook
def test_a_failing_run_leaves_the_earlier_results_untouched(tmp_path, data_root):
    """With lr = 1000 the run diverges and the notebook's checks fail: nothing may have been written into its
    output folder before that (the files go to a staging folder, published only after the checks)."""
    import papermill

    out = tmp_path / "results"
    out.mkdir()
    (out / "ip.csv").write_text("earlier results\n")
    with pytest.raises(papermill.PapermillExecutionError, match="diverged"):
        papermill.execute_notebook(str(NOTEBOOKS / "01_mlp_mnist.ipynb"), str(tmp_path / "failed.ipynb"),
                                   parameters=dict(TINY["01_mlp_mnist"], lr=1000.0, output_dir=str(out),
                                                   data_root=str(data_root), progress=False, device="cpu"),
                                   kernel_name="python3", progress_bar=False)
    assert [p.name for p in out.iterdir()] == ["ip.csv"] and (out / "ip.csv").read_text() == "earlier results\n"
