"""ipkit.report.report_experiment: publishes a run's tables and figures only when its checks pass, and returns
the tables and verdicts the notebooks show."""

import dataclasses

import pandas as pd
import pytest

from ipkit.experiment import Experiment, load_results, run_experiment
from ipkit.findings import experiment_findings
from ipkit.report import report_experiment


@pytest.fixture(scope="module")
def results(mnist_root):
    """A 3-step MLP run on 300 MNIST images (270 after the validation split)."""
    exp = Experiment(model="mlp", train_size=300, test_size=200, epochs=1, n=20, n_test=20, eval_every=1,
                     patience=(1, 2), progress=False, device="cpu", data_root=str(mnist_root))
    return run_experiment(exp)


def test_published_report_holds_the_run_and_its_verdicts(results, tmp_path):
    out = tmp_path / "01_mlp_mnist"
    report = report_experiment(results, out, notebook="01_mlp_mnist")
    assert report.output_dir == out and not (tmp_path / "01_mlp_mnist.staging").exists()
    assert {p.name for p in report.figures.values()} <= {p.name for p in out.iterdir()}
    assert all(p.stat().st_size > 0 for p in report.figures.values())
    back = load_results(out)
    numbers = ["step", "layer_index", "H_T", "I_XT", "I_TY", "sigma_T"]
    pd.testing.assert_frame_equal(back.ip[numbers], results.ip[numbers], check_exact=False, rtol=5e-9, atol=0)
    assert back.info["notebook"] == "01_mlp_mnist"
    assert report.findings["finding"].tolist() == [1, 2, 4]
    assert report.findings["verdict"].tolist() == [r["verdict"] for r in experiment_findings(results)]
    assert set(report.dpi["pair"]) == {"all"}
    assert set(report.compression["layer"]) == set(results.ip["layer"])


def test_failing_checks_leave_earlier_results_in_place(results, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "ip.csv").write_text("earlier results\n")
    with pytest.raises(AssertionError, match="below the floor"):
        report_experiment(results, out, notebook="01_mlp_mnist", accuracy_floor=1.01)
    assert [p.name for p in out.iterdir()] == ["ip.csv"] and (out / "ip.csv").read_text() == "earlier results\n"
    broken = dataclasses.replace(results, ip=results.ip.assign(H_T=float("nan")))
    with pytest.raises(AssertionError, match="NaN"):
        report_experiment(broken, out, notebook="01_mlp_mnist")
    assert [p.name for p in out.iterdir()] == ["ip.csv"]
    assert not (tmp_path / "results.staging").exists()  # checked before anything is written
