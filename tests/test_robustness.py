"""Findings 1, 2 and 4 judged per estimation setting (ipkit.robustness) on hand-built tables whose verdicts are
known, and the Experiment path that measures one training run under several settings at once."""

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from ipkit.analysis import dpi_fractions
from ipkit.experiment import Experiment, defining_fields, run_experiment, save_results, setting_estimation
from ipkit.findings import data_processing_inequality, early_stopping_before_compression, fitting_then_compression
from ipkit.robustness import (COLUMNS, robustness_problems, setting_verdicts, survival, survival_markdown, verdict_grid,
                              verdicts_figure)

STEPS = list(range(1, 10))
# Setting "A": the output layer fits (I(X;T) 1 → 3 bits, peak at step 3) then compresses by 1.5 bits on training
# data and not at all on test data; the hidden layer lies 1 bit above it (the DPI holds everywhere).
# Setting "B": I(X;T) only rises (no compression), and the hidden layer lies 0.5 bits *below* the output (the DPI
# fails everywhere).
A_TRAIN = [1.0, 2.0, 3.0, 3.0, 3.0, 2.5, 2.0, 1.5, 1.5]
A_TEST = [1.0, 1.5, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
B_CURVE = [1.0 + 0.25 * i for i in range(9)]
I_TY = [0.5 + 0.2 * i for i in range(9)]  # rises by 1.6 bits


def rows(setting: str, split: str, out_xt: list, below: float, n: int) -> list[dict]:
    """One run's rows of a two-layer network: hidden layer "h" at out + `below` bits (I(X;T) and I(T;Y))."""
    table = []
    for step, xt, ty in zip(STEPS, out_xt, I_TY):
        for index, layer, shift in ((0, "h", below), (1, "out", 0.0)):
            table.append(dict(setting=setting, run=0, seed=0, split=split, epoch=0, step=step, layer=layer,
                              layer_index=index, H_T=xt + shift, I_XT=xt + shift, I_TY=ty + shift, sigma_T=1.0,
                              n=n, estimator="binning" if setting == "B" else "tensor",
                              overrides="" if setting == "A" else "estimator='binning'"))
    return table


def hand_built_ip() -> pd.DataFrame:
    return pd.DataFrame(rows("A", "train", A_TRAIN, 1.0, 100) + rows("A", "test", A_TEST, 1.0, 200)
                        + rows("B", "train", B_CURVE, -0.5, 500) + rows("B", "test", B_CURVE, -0.5, 500))


def stops(stop_at_patience_1) -> pd.DataFrame:
    """Early stopping at step `stop_at_patience_1` for patience 1 (None: never), never for patience 100."""
    return pd.DataFrame(dict(patience=[1, 100], stop_step=pd.array([stop_at_patience_1, None], dtype="Int64"),
                             best_step=[1, 9], run=[0, 0], seed=[0, 0]))


def test_verdicts_per_setting_on_a_hand_built_table():
    verdicts = setting_verdicts(hand_built_ip(), stops(2), window=1)
    assert list(verdicts.columns) == COLUMNS
    got = verdicts.set_index(["setting", "finding"])["verdict"].to_dict()
    assert got == {("A", 1): "reproduced", ("A", 2): "reproduced", ("A", 4): "reproduced",
                   ("B", 1): "not reproduced", ("B", 2): "not reproduced", ("B", 4): "not reproduced"}
    assert verdicts["setting"].tolist() == ["A"] * 3 + ["B"] * 3 and verdicts["finding"].tolist() == [1, 2, 4] * 2
    a = verdicts[verdicts["setting"] == "A"].set_index("finding")
    b = verdicts[verdicts["setting"] == "B"].set_index("finding")
    assert (a["n"].iloc[0], a["n_test"].iloc[0], b["n"].iloc[0], b["n_test"].iloc[0]) == (100, 200, 500, 500)
    assert a["estimator"].iloc[0] == "tensor" and b["estimator"].iloc[0] == "binning"
    numbers = json.loads(a.loc[1, "numbers"])
    assert numbers["output_compression_train"] == pytest.approx(1.5, abs=1e-12)  # 3 − 1.5 bits
    assert numbers["output_fitting_I_XT"] == pytest.approx(2.0, abs=1e-12)  # 1 → 3 bits
    assert numbers["output_peak_step"] == 3 and numbers["weak_fraction"] == 1.0
    assert json.loads(a.loc[2, "numbers"])["stop_step_lowest_patience"] == 2  # before the peak at step 3
    assert json.loads(a.loc[4, "numbers"])["frac_I_XT"] == 1.0 and json.loads(b.loc[4, "numbers"])["frac_I_XT"] == 0


def test_each_setting_is_judged_on_its_own_rows_only():
    """The verdicts are those of the findings functions on each setting's rows alone."""
    ip, early = hand_built_ip(), stops(2)
    verdicts = setting_verdicts(ip, early, window=1).set_index(["setting", "finding"])
    for name in ("A", "B"):
        part = ip[ip["setting"] == name]
        expected = {1: fitting_then_compression(part, window=1),
                    2: early_stopping_before_compression(part, early, window=1),
                    4: data_processing_inequality(dpi_fractions(part))}
        for finding, v in expected.items():
            assert verdicts.loc[(name, finding), "verdict"] == v.verdict
            assert verdicts.loc[(name, finding), "evidence"] == v.evidence


def test_networks_use_their_own_early_stopping():
    """Two networks with the same IP: early stopping before the peak in one, never in the other."""
    ip = hand_built_ip()
    ip = pd.concat([ip.assign(network="x"), ip.assign(network="y")], ignore_index=True)
    early = pd.concat([stops(2).assign(network="x"), stops(None).assign(network="y")], ignore_index=True)
    verdicts = setting_verdicts(ip, early, window=1).set_index(["network", "setting", "finding"])["verdict"]
    assert verdicts[("x", "A", 2)] == "reproduced" and verdicts[("y", "A", 2)] == "not reproduced"
    assert verdicts[("x", "A", 1)] == verdicts[("y", "A", 1)] == "reproduced"
    with pytest.raises(ValueError, match="early_stopping has none"):
        setting_verdicts(ip, stops(2), window=1)
    with pytest.raises(ValueError, match="no rows of network 'y'"):
        setting_verdicts(ip, early[early["network"] == "x"], window=1)
    with pytest.raises(ValueError, match="no 'setting' column"):
        setting_verdicts(ip.drop(columns="setting"), early, window=1)


def test_grid_survival_checks_and_figure(tmp_path):
    ip = pd.concat([hand_built_ip().assign(network="x"), hand_built_ip().assign(network="y")], ignore_index=True)
    early = pd.concat([stops(2).assign(network="x"), stops(None).assign(network="y")], ignore_index=True)
    verdicts = setting_verdicts(ip, early, window=1)
    grid = verdict_grid(verdicts)
    assert grid.index.tolist() == ["A", "B"] and grid.loc["A", ("y", 2)] == "not reproduced"
    assert grid.loc["B", ("x", 4)] == "not reproduced" and grid.shape == (2, 6)
    counts = survival(verdicts).set_index(["finding", "setting"])
    assert counts.loc[(2, "A"), ["reproduced", "partly", "not reproduced", "networks"]].tolist() == [1, 0, 1, 2]
    assert counts.loc[(1, "A"), "reproduced"] == 2 and counts.loc[(4, "B"), "not reproduced"] == 2

    settings = {"A": {}, "B": {"n": 500, "estimator": "binning"}}
    assert robustness_problems(ip, verdicts, settings, ["x", "y"]) == []
    assert any("not 400" in p for p in robustness_problems(ip, verdicts, dict(settings, B={"n": 400}), ["x", "y"]))
    assert any("missing" in p for p in robustness_problems(ip, verdicts.iloc[1:], settings, ["x", "y"]))
    assert any("splits" in p for p in robustness_problems(ip[ip["split"] == "train"], verdicts, settings, ["x"]))
    bad = ip.copy()
    bad.loc[0, "I_XT"] = np.log2(100) + 0.1
    assert any("outside" in p for p in robustness_problems(bad, verdicts, settings, ["x", "y"]))
    bad.loc[0, "I_XT"] = np.nan
    assert any("NaN" in p for p in robustness_problems(bad, verdicts, settings, ["x", "y"]))

    fig = verdicts_figure(verdicts)
    assert len(fig.axes) == 2 and [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["A", "B"]
    # cells in reading order: setting A's findings 1, 2, 4, then B's; network y's early stopping never stops
    assert [t.get_text() for t in fig.axes[1].texts] == ["yes", "no", "yes", "no", "no", "no"]
    fig.savefig(tmp_path / "verdicts.png")
    assert (tmp_path / "verdicts.png").stat().st_size > 0


def test_survival_markdown_names_each_network_verdict_and_the_settings_a_finding_survives():
    verdicts = pd.DataFrame({"network": ["a", "b"] * 4, "setting": ["p", "p", "p", "p", "q", "q", "q", "q"],
                             "finding": [1, 1, 4, 4] * 2,
                             "verdict": ["reproduced", "reproduced", "reproduced", "not reproduced",
                                         "not reproduced", "not reproduced", "partly", "reproduced"]})
    md = survival_markdown(verdicts).splitlines()
    assert md[:4] == ["| setting | finding 1 | finding 4 |", "| --- | --- | --- |",
                      "| p | a yes, b yes | a yes, b no |", "| q | a no, b no | a partly, b yes |"]
    assert md[5] == "- Finding 1 is reproduced in every network under: p; in some (or partly) under: none; in none under: q."
    assert md[6] == "- Finding 4 is reproduced in every network under: none; in some (or partly) under: p, q; in none under: none."
    assert len(md) == 7  # no numbers: no line on saturation


def test_survival_markdown_names_where_finding_4_rests_on_saturated_layers():
    numbers = [{"frac_saturated": 0.77}, {}, {"frac_saturated": 0.05}, {"frac_saturated": 0.002}]
    verdicts = pd.DataFrame({"network": ["a", "b"] * 2, "setting": ["binning", "binning", "KDE", "KDE"],
                             "finding": 4, "verdict": "reproduced", "numbers": [json.dumps(n) for n in numbers]})
    md = survival_markdown(verdicts).splitlines()
    assert md[-1].startswith("- Finding 4 where both layers are saturated (H(T) at log2 N")
    assert md[-1].endswith("comparisons: binning: a 77%; KDE: a 5%, b <1%.")  # 0.2 % is not '0%'


def tiny(root, **kwargs) -> Experiment:
    """540 training images (6 steps of 100, the last 40), 300 test images, one epoch."""
    options = dict(model="mlp", train_size=600, test_size=300, epochs=1, n_test=100, eval_every=2, progress=False,
                   device="cpu", data_root=str(root), patience=(2,))
    return Experiment(**(options | kwargs))


SETTINGS = {"paper": {}, "α=2": {"alpha": 2.0}, "N=150": {"n": 150, "n_test": 150},
            "binning": {"estimator": "binning"}}


def test_experiment_settings_equal_single_setting_runs(mnist_root, tmp_path):
    """Each setting's rows equal those of an Experiment run with that setting alone (same training run)."""
    exp = tiny(mnist_root, settings=SETTINGS)
    both = run_experiment(exp)
    ip = both.ip
    assert ip.columns[0] == "setting" and list(dict.fromkeys(ip["setting"])) == list(SETTINGS)
    assert set(ip.loc[ip.setting == "N=150", "n"]) == {150}  # fresh training samples beyond the batch of 100
    assert ip.loc[(ip.setting == "paper") & (ip.split == "train")].groupby("step").n.max().tolist() == [100] * 5 + [40]
    assert both.info["settings"]["N=150"]["n"] == 150 and both.info["settings"]["α=2"]["estimation"]["alpha"] == 2
    singles = {"paper": tiny(mnist_root), "α=2": tiny(mnist_root, estimation={"alpha": 2.0}),
               "N=150": tiny(mnist_root, n=150, n_test=150), "binning": tiny(mnist_root, estimation={
                   "estimator": "binning"})}
    for name, single in singles.items():
        alone = run_experiment(single)
        mine = ip[ip.setting == name].drop(columns="setting").reset_index(drop=True)
        assert len(mine) == len(alone.ip) == 6 * 5 * 2
        pd.testing.assert_frame_equal(mine, alone.ip, check_exact=False, rtol=1e-9, atol=1e-9)
        pd.testing.assert_frame_equal(both.log, alone.log)
    paths = save_results(both, tmp_path)
    dpi = pd.read_csv(paths["dpi"])
    assert dpi.columns[0] == "setting" and list(dict.fromkeys(dpi.setting)) == list(SETTINGS)
    alpha2 = dpi[dpi.setting == "α=2"].drop(columns="setting").reset_index(drop=True)
    expected = dpi_fractions(ip[ip.setting == "α=2"])
    np.testing.assert_allclose(alpha2[["frac_I_XT", "frac_I_TY"]], expected[["frac_I_XT", "frac_I_TY"]], atol=1e-12)
    assert set(pd.read_csv(paths["compression"]).setting) == set(SETTINGS)


def test_experiment_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="checkpoint_dir cannot be combined with settings"):
        Experiment(settings={"a": {}}, checkpoint_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"settings\['b'\]: unknown estimation setting\(s\) \['alpah'\]"):
        Experiment(settings={"a": {}, "b": {"alpah": 2.0}})
    with pytest.raises(ValueError, match=r"settings\['a'\]\['n'\] must be an integer ≥ 1, got 0"):
        Experiment(settings={"a": {"n": 0}})
    with pytest.raises(ValueError, match="settings must be a dict"):
        Experiment(settings=[{"alpha": 2.0}])
    exp = Experiment(settings={"a": {"alpha": 2.0, "n": 300}}, estimation={"alpha": 1.01, "beta": 0.5})
    e = setting_estimation(exp, "a")  # the protocol, then the experiment's estimation, then the setting
    assert (e.alpha, e.beta, e.overrides) == (2.0, 0.5, ("alpha", "beta"))


def test_older_records_without_settings_still_match():
    """Checkpoints and run.json files written before `settings` existed lack it: with no settings they match."""
    record = asdict(Experiment())
    older = {k: v for k, v in record.items() if k != "settings"}
    assert defining_fields(older) == defining_fields(record)
    assert defining_fields(asdict(Experiment(settings={"a": {}}))) != defining_fields(older)
