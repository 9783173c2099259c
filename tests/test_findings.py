"""ipkit.findings on hand-built tables whose verdicts are known; scripts/findings.py and the README's table."""

import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import ipkit.findings as findings
from ipkit.experiment import Experiment, Results
from ipkit.findings import (
    data_processing_inequality,
    early_stopping_before_compression,
    experiment_findings,
    findings_markdown,
    findings_table,
    fitting_then_compression,
    mean_embedding_link,
    multivariate_saturation,
    vgg16_information_plane,
)

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "findings.py"


def ip_from(curves, n=None, runs=(0,)):
    """IP table from {(split, layer, layer_index): (I_XT per step, I_TY per step)}, steps 1, 2, …"""
    n = n or {"train": 100, "test": 200}
    rows = []
    for (split, layer, index), (i_xt, i_ty) in curves.items():
        for run in runs:
            for step, (x, y) in enumerate(zip(i_xt, i_ty), start=1):
                rows.append(dict(run=run, seed=run, split=split, epoch=1, step=step, layer=layer, layer_index=index,
                                 H_T=x + 0.5, I_XT=float(x), I_TY=float(y), sigma_T=1.0, n=n[split]))
    return pd.DataFrame(rows)


RISE = [1.0, 1.5, 2.0, 2.5, 3.0, 3.0]            # I(T;Y) gains 2 bits
FIT_COMPRESS = [1.0, 2.0, 3.0, 2.5, 2.0, 2.0]    # +2 bits to the peak at step 3, then −1 bit
FIT_ONLY = [1.0, 2.0, 3.0, 3.0, 3.0, 3.0]        # +2 bits, no compression
FLAT = [2.0] * 6


# --- finding 1 --------------------------------------------------------------------------------------------------

def test_finding1_reproduced_when_test_data_do_not_compress():
    ip = ip_from({("train", "h", 0): (FIT_COMPRESS, RISE), ("train", "out", 1): (FIT_COMPRESS, RISE),
                  ("test", "h", 0): (FIT_ONLY, RISE), ("test", "out", 1): (FIT_ONLY, RISE)})
    v = fitting_then_compression(ip, window=1)
    assert v.verdict == "reproduced"
    assert v.numbers["output_fitting_I_XT"] == pytest.approx(2.0, abs=1e-12)
    assert v.numbers["output_compression_train"] == pytest.approx(1.0, abs=1e-12)
    assert v.numbers["output_compression_test"] == pytest.approx(0.0, abs=1e-12)
    assert (v.numbers["compressing_layers"], v.numbers["weak_on_test"], v.numbers["n_test"]) == (2, 2, 200)
    assert "(paper" not in v.evidence  # 200 test samples, as the paper's code


def test_finding1_partly_when_test_data_compress_as_much():
    ip = ip_from({("train", "out", 0): (FIT_COMPRESS, RISE), ("test", "out", 0): (FIT_COMPRESS, RISE)},
                 n={"train": 100, "test": 100})
    v = fitting_then_compression(ip, window=1)
    assert v.verdict == "partly"
    assert v.numbers["weak_fraction"] == 0.0 and v.numbers["mean_difference"] == pytest.approx(0.0, abs=1e-12)
    assert "100 fresh samples per measurement (paper: 200)" in v.evidence


def test_finding1_test_compression_below_half_of_training_counts_as_weak():
    # test falls 0.4 bits (≥ min_compression 0.2) but that is ≤ 0.5 × the training 1 bit: weak
    ip = ip_from({("train", "out", 0): (FIT_COMPRESS, RISE),
                  ("test", "out", 0): ([1.0, 2.0, 3.0, 2.8, 2.6, 2.6], RISE)})
    assert fitting_then_compression(ip, window=1).verdict == "reproduced"
    assert fitting_then_compression(ip, window=1, weak_ratio=0.3).verdict == "partly"


def test_finding1_test_compression_below_min_compression_counts_as_weak():
    # train falls 0.25 bits, test 0.1875: more than 0.5 × 0.25 but under min_compression 0.2, so weak
    ip = ip_from({("train", "out", 0): ([1.0, 2.0, 3.0, 2.875, 2.75, 2.75], RISE),
                  ("test", "out", 0): ([1.0, 2.0, 3.0, 2.875, 2.8125, 2.8125], RISE)})
    assert fitting_then_compression(ip, window=1).verdict == "reproduced"
    assert fitting_then_compression(ip, window=1, min_compression=0.15).verdict == "partly"


@pytest.mark.parametrize("train_curves", [(FIT_ONLY, RISE), (FLAT, RISE), (FIT_COMPRESS, FLAT)])
def test_finding1_not_reproduced_without_fitting_or_compression(train_curves):
    ip = ip_from({("train", "out", 0): train_curves, ("test", "out", 0): (FIT_ONLY, RISE)})
    assert fitting_then_compression(ip, window=1).verdict == "not reproduced"


# --- finding 2 --------------------------------------------------------------------------------------------------

def peaked(step, length=8):
    """I(X;T) rising to 3 bits at `step`, then falling by 1 bit."""
    return [1.0 + 2.0 * min(s, step) / step - (1.0 if s > step else 0.0) for s in range(1, length + 1)]


def es_table(stops):
    """{patience: [stop step per run]} → an early-stopping table."""
    rows = [dict(patience=p, stop_step=s, best_step=1, run=r, seed=r) for p, steps in stops.items()
            for r, s in enumerate(steps)]
    return pd.DataFrame(rows).astype({"stop_step": "Int64"})


def es_ip(peaks):
    return ip_from({("train", f"l{i}", i): (peaked(p), RISE + [3.0, 3.0]) for i, p in enumerate(peaks)},
                   runs=(0, 1))


def test_finding2_reproduced_when_low_patience_stops_before_compression():
    v = early_stopping_before_compression(es_ip([3, 5, 5]), es_table({1: [4, 4], 100: [None, None]}), window=1)
    assert v.verdict == "reproduced"
    assert v.numbers["fraction_before_lowest_patience"] == pytest.approx(2 / 3)
    assert (v.numbers["largest_patience_before"], v.numbers["patience_min"]) == (1, 1)


def test_finding2_partly_and_not_reproduced():
    ip = es_ip([3, 3, 5])
    assert early_stopping_before_compression(ip, es_table({1: [4, 4]}), window=1).verdict == "partly"  # 1 of 3
    after = early_stopping_before_compression(ip, es_table({1: [6, 6], 2: [None, None]}), window=1)
    assert after.verdict == "not reproduced" and after.numbers["fraction_before_lowest_patience"] == 0.0
    assert "p=2: never" in after.evidence


def test_finding2_not_reproduced_without_compression():
    ip = ip_from({("train", "l0", 0): (FIT_ONLY, RISE)})
    v = early_stopping_before_compression(ip, es_table({1: [2]}), window=1)
    assert v.verdict == "not reproduced" and "no layer compresses" in v.evidence


# --- finding 3 --------------------------------------------------------------------------------------------------

def vgg_ip(early_final=1.8, late=FIT_COMPRESS, out_ty_test=None):
    """Four layers, n = 4 (log2 n = 2 bits): two early ones ending at `early_final`, two late ones."""
    early = [early_final] * 6
    test_ty = out_ty_test or RISE
    curves = {("train", "c1", 0): (early, RISE), ("train", "c2", 1): (early, RISE),
              ("train", "fc", 2): (late, RISE), ("train", "out", 3): (late, RISE),
              ("test", "c1", 0): (early, RISE), ("test", "c2", 1): (early, RISE),
              ("test", "fc", 2): (late, RISE), ("test", "out", 3): (late, test_ty)}
    return ip_from(curves, n={"train": 4, "test": 4})


KW3 = dict(window=1, early_layers=2, late_layers=2)


def test_finding3_reproduced():
    v = vgg16_information_plane(vgg_ip(out_ty_test=[1.0, 1.5, 2.0, 2.0, 2.0, 2.0]), **KW3)
    assert v.verdict == "reproduced"
    assert v.numbers["early_gap_max"] == pytest.approx(0.2, abs=1e-12)
    assert v.numbers["output_I_TY_train"] - v.numbers["output_I_TY_test"] == pytest.approx(1.0, abs=1e-12)


def test_finding3_partly_and_not_reproduced():
    assert vgg16_information_plane(vgg_ip(), **KW3).verdict == "partly"  # test I(T;Y) does not stall
    none = vgg16_information_plane(vgg_ip(early_final=1.0, late=FIT_ONLY), **KW3)
    assert none.verdict == "not reproduced"
    assert not (none.numbers["upper_bound"] or none.numbers["late_compression"] or none.numbers["output_stalls"])
    broken = vgg_ip(out_ty_test=[1.0, 1.5, 2.0, 2.0, 2.0, 2.0])
    broken.loc[0, "H_T"] = math.nan
    assert vgg16_information_plane(broken, **KW3).verdict == "not reproduced"  # not analysable


# --- finding 4 --------------------------------------------------------------------------------------------------

def dpi(xt, ty):
    return pd.DataFrame(dict(split=["test", "train", "train"], pair=["all", "all", "a→b"], measurements=10,
                             frac_I_XT=[0.95, xt, 0.0], frac_I_TY=[0.95, ty, 0.0]))


def test_finding4_verdicts():
    assert data_processing_inequality(dpi(0.9, 0.85)).verdict == "reproduced"
    assert data_processing_inequality(dpi(0.8, 0.3)).verdict == "partly"  # 0.8 counts as mostly
    assert data_processing_inequality(dpi(0.7, 0.9)).verdict == "partly"
    v = data_processing_inequality(dpi(0.79, 0.5))
    assert v.verdict == "not reproduced" and v.numbers["frac_I_XT"] == 0.79  # the worst split, not the mean
    assert data_processing_inequality(dpi(0.79, 0.5), mostly=0.5).verdict == "reproduced"
    with pytest.raises(ValueError, match="all"):
        data_processing_inequality(dpi(0.9, 0.9).iloc[2:])


def test_finding4_evidence_says_where_layers_are_saturated():
    """With frac_saturated counted (dpi_fractions of a table with flags), a verdict resting on saturated layers says
    so, with the larger split's share; none saturated, or not counted: the evidence is silent."""
    v = data_processing_inequality(dpi(0.9, 0.9).assign(frac_saturated=[0.25, 0.75, 0.0]))
    assert v.verdict == "reproduced" and v.numbers["frac_saturated"] == 0.75
    assert "in up to 75% of a split's comparisons both layers are saturated (H(T) at log2 N" in v.evidence
    for quiet in (dpi(0.9, 0.9).assign(frac_saturated=0.0), dpi(0.9, 0.9)):
        v = data_processing_inequality(quiet)
        assert "saturated" not in v.evidence and "frac_saturated" not in v.numbers


# --- finding 5 --------------------------------------------------------------------------------------------------

def saturation(h_mv, h_tensor):
    """Two layers, each swept at 1 channel and at its full width 2; log2 N = 3."""
    rows = []
    for i, (mv, ten) in enumerate(zip(h_mv, h_tensor)):
        rows.append(dict(network="cnn", layer=f"conv{i}", channels=1, layer_channels=2, H_multivariate=2.0,
                         H_tensor=2.0, log2_n=3.0))
        rows.append(dict(network="cnn", layer=f"conv{i}", channels=2, layer_channels=2, H_multivariate=mv,
                         H_tensor=ten, log2_n=3.0))
    return pd.DataFrame(rows)


def test_finding5_verdicts():
    v = multivariate_saturation(saturation([3.0, 2.995], [2.0, 2.75]))
    assert v.verdict == "reproduced" and v.numbers["contrast"] == 2 and v.numbers["channels_to_saturate_max"] == 2
    assert multivariate_saturation(saturation([3.0, 2.5], [2.0, 2.0])).verdict == "partly"
    assert multivariate_saturation(saturation([3.0, 3.0], [2.0, 2.8])).verdict == "partly"  # 0.2 < tensor_gap
    assert multivariate_saturation(saturation([2.5, 2.5], [2.0, 2.0])).verdict == "not reproduced"
    assert multivariate_saturation(saturation([3.0, 3.0], [2.9, 2.9])).verdict == "not reproduced"


# --- finding 6 --------------------------------------------------------------------------------------------------

X6 = torch.rand(20, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_finding6_identities_hold():
    v = mean_embedding_link(X6, 1.0)
    assert v.verdict == "reproduced"
    # independent of ipkit: ‖A‖_F² for A = K/N, K_ij = exp(−d²/σ²), is the mean of exp(−2 d²/σ²)
    d2 = ((X6[:, None] - X6[None]) ** 2).sum(-1).numpy()
    assert v.numbers["S_2"] == pytest.approx(-math.log2(np.exp(-2 * d2).mean()), abs=1e-9)
    lam = np.clip(np.linalg.eigvalsh(np.exp(-d2) / len(d2)), 1e-300, None)
    assert v.numbers["S_1"] == pytest.approx(-(lam * np.log2(lam)).sum(), abs=1e-9)


def test_finding6_verdict_follows_the_identities(monkeypatch):
    true = findings.renyi_entropy
    monkeypatch.setattr(findings, "renyi_entropy", lambda K, alpha: true(K, alpha) + (0.1 if alpha == 2 else 0))
    assert mean_embedding_link(X6, 1.0).verdict == "partly"
    monkeypatch.setattr(findings, "renyi_entropy", lambda K, alpha: true(K, alpha) + 0.1)
    assert mean_embedding_link(X6, 1.0).verdict == "not reproduced"


# --- findings_table and the script ------------------------------------------------------------------------------

def write_experiment(folder: Path, ip: pd.DataFrame, stops: pd.DataFrame, experiment: dict,
                     gzipped: bool = True) -> None:
    """A results folder as `save_results` writes it (the per-step tables gzipped), or as an older ipkit did."""
    folder.mkdir(parents=True)
    suffix = ".csv.gz" if gzipped else ".csv"
    ip.to_csv(folder / f"ip{suffix}", index=False)
    stops.to_csv(folder / "early_stopping.csv", index=False)
    pd.DataFrame(dict(step=[1], loss=[1.0], val_loss=[1.0])).to_csv(folder / f"training_log{suffix}", index=False)
    pd.DataFrame(dict(run=[0], steps=[6])).to_csv(folder / "summary.csv", index=False)
    (folder / "run.json").write_text(json.dumps(dict(experiment=experiment)))


def small_results(root: Path) -> Path:
    full = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(Experiment)}
    above = lambda curve, by: [v + by for v in curve]  # noqa: E731  the hidden layer keeps more: DPI holds
    mnist = ip_from({("train", "h", 0): (above(FIT_COMPRESS, 0.5), above(RISE, 0.1)),
                     ("test", "h", 0): (above(FIT_ONLY, 0.5), above(RISE, 0.1)),
                     ("train", "out", 1): (FIT_COMPRESS, RISE), ("test", "out", 1): (FIT_ONLY, RISE)})
    paper = dict(full, dataset="mnist", model="mlp", seeds=list(range(10)), epochs=10, n_test=200)
    write_experiment(root / "paper" / "01_mlp_mnist-tanh", mnist, es_table({1: [2]}), paper, gzipped=False)
    quick = {k: v for k, v in paper.items() if k != "n_test"} | dict(seeds=[0, 1], epochs=3, train_size=1000)
    write_experiment(root / "01_mlp_mnist", mnist, es_table({1: [5]}), quick)
    # notebook 06's: one IP table of several settings (judged per setting there, not here)
    write_experiment(root / "06_robustness" / "mlp_tanh", mnist.assign(setting="paper"), es_table({1: [5]}), quick)
    write_experiment(root / ".tmp-02_cnn_mnist", mnist, es_table({1: [5]}), paper)  # half-written: skipped
    sat = root / "04_kernel_comparison"
    sat.mkdir()
    saturation([3.0, 3.0], [2.0, 2.0]).to_csv(sat / "saturation.csv", index=False)
    return root


def test_findings_table_on_hand_built_results(tmp_path):
    table = findings_table(small_results(tmp_path / "results"))
    assert list(table.columns[:5]) == ["finding", "claim", "experiment", "verdict", "evidence"]
    got = {(r.finding, r.experiment.split(" [")[0]): r.verdict for r in table.itertuples()}
    assert got == {(1, "paper/01_mlp_mnist-tanh"): "reproduced", (1, "01_mlp_mnist"): "reproduced",
                   (2, "paper/01_mlp_mnist-tanh"): "reproduced", (2, "01_mlp_mnist"): "not reproduced",
                   (4, "paper/01_mlp_mnist-tanh"): "reproduced", (4, "01_mlp_mnist"): "reproduced",
                   (5, "04_kernel_comparison"): "reproduced",
                   (6, "numerical check (100 seeded uniform samples in 784 dimensions, σ = 8)"): "reproduced"}
    labels = dict(zip(table["experiment"].str.split(" \\[").str[0], table["experiment"]))
    assert labels["paper/01_mlp_mnist-tanh"] == "paper/01_mlp_mnist-tanh"  # the paper's protocol, current fields
    assert labels["01_mlp_mnist"] == ("01_mlp_mnist [reduced: 2 of 10 runs, 3 of 10 epochs, 1000 training images; "
                                      "stale: older ipkit, run.json lacks n_test]")
    assert table["finding"].is_monotonic_increasing
    assert all(isinstance(json.loads(s), dict) for s in table["numbers"])


def test_experiment_findings_follow_the_network():
    """MNIST networks get findings 1, 2, 4, VGG-16 gets 3 and 4, anything else only 4; each verdict is the
    finding function's on the same tables."""
    def judged(ip, stops, **experiment):
        rows = experiment_findings(Results(ip=ip, log=None, early_stopping=stops, summary=None,
                                           info=dict(experiment=experiment)))
        return {r["finding"]: (r["verdict"], r["evidence"]) for r in rows}

    mnist_ip, stops = es_ip([3, 5, 5]), es_table({1: [4, 4], 100: [None, None]})
    got = judged(mnist_ip, stops, dataset="mnist", model="cnn")
    assert list(got) == [1, 2, 4]
    two = early_stopping_before_compression(mnist_ip, stops)
    assert got[2] == (two.verdict, two.evidence)
    one = fitting_then_compression(mnist_ip)
    assert got[1] == (one.verdict, one.evidence)
    vgg = judged(vgg_ip(), es_table({1: [2]}), dataset="cifar10", model="vgg16")
    assert list(vgg) == [3, 4] and vgg[3][0] == vgg16_information_plane(vgg_ip()).verdict
    assert list(judged(mnist_ip, stops, dataset="fashion_mnist", model="mlp")) == [4]


def test_findings_table_skips_what_is_missing(tmp_path):
    table = findings_table(tmp_path)  # no results at all: only the numerical check
    assert table["finding"].tolist() == [6]


def run_script(*args):
    """scripts/findings.py's main() in this process (a subprocess would spend its time importing torch)."""
    spec = importlib.util.spec_from_file_location("findings_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    try:
        return script.main([str(a) for a in args])
    except (ValueError, OSError) as err:
        print(err, file=sys.stderr)
        return 2


def test_script_writes_csv_markdown_and_readme_and_checks(tmp_path, capsys):
    root = small_results(tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## What we reproduced\n<!-- findings:start -->\nPLACEHOLDER\n"
                      "<!-- findings:end -->\n\nafter\n")
    assert run_script("--root", root, "--readme", readme) == 0
    table = pd.read_csv(root / "findings.csv", dtype=str, keep_default_na=False)
    text = readme.read_text()
    assert findings_markdown(table) in text and "PLACEHOLDER" not in text
    assert text.endswith("<!-- findings:end -->\n\nafter\n")
    assert findings_markdown(table) in (root / "findings.md").read_text()
    assert run_script("--root", root, "--readme", readme, "--check") == 0
    capsys.readouterr()
    readme.write_text(text.replace("**reproduced**", "**partly**", 1))
    assert run_script("--root", root, "--readme", readme, "--check") == 1
    diff = capsys.readouterr().out
    assert "-| 1 | MLP" in diff and "+| 1 | MLP" in diff and "**partly**" in diff
    readme.write_text("no markers\n")
    assert run_script("--root", root, "--readme", readme) != 0
    assert not readme.read_text().count("findings:start")


def test_script_writes_and_checks_the_robustness_table(tmp_path, capsys):
    root = small_results(tmp_path / "results")
    verdicts = pd.DataFrame({"network": ["mlp_tanh", "cnn_relu"], "setting": "paper", "finding": 1,
                             "verdict": ["reproduced", "partly"]})
    (root / "paper" / "reduced" / "06_robustness").mkdir(parents=True)
    verdicts.to_csv(root / "paper" / "reduced" / "06_robustness" / "verdicts.csv", index=False)
    (root / "06_robustness").mkdir(exist_ok=True)  # small_results wrote a network of it
    verdicts.assign(verdict="not reproduced").to_csv(root / "06_robustness" / "verdicts.csv", index=False)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- findings:start -->\n<!-- findings:end -->\n<!-- robustness:start -->\nOLD\n"
                      "<!-- robustness:end -->\n")
    assert run_script("--root", root, "--readme", readme) == 0
    text = readme.read_text()
    assert "From `results/paper/reduced/06_robustness/verdicts.csv`" in text  # the reduced run before the quick one
    assert "| paper | mlp_tanh yes, cnn_relu partly |" in text and "OLD" not in text
    assert run_script("--root", root, "--readme", readme, "--check") == 0
    readme.write_text(text.replace("cnn_relu partly", "cnn_relu yes"))
    assert run_script("--root", root, "--readme", readme, "--check") == 1
    assert "cnn_relu partly" in capsys.readouterr().out


def test_committed_readme_table_is_findings_csv(capsys):
    """The README's "What we reproduced" table is the rendering of the committed results/findings.csv."""
    csv = REPO / "results" / "findings.csv"
    assert csv.is_file(), "results/findings.csv is missing: run scripts/findings.py"
    assert run_script("--check") == 0, capsys.readouterr().out
