"""ipkit.analysis on hand-built IP tables whose answers are computed by hand in the comments."""

import numpy as np
import pandas as pd
import pytest

from ipkit.analysis import compression, dpi_fractions, mean_over_runs, patience_summary, phase_table


def ip_table(curves, runs=(0,), spread=0.0):
    """An IP table from {(split, layer, layer_index): [I_XT per step]}; steps 1, 2, …

    Run r gets I_XT + (r − mean run) · spread · step, so the run mean is the curve itself while single runs are
    not. H_T = I_XT + 1, I_TY = I_XT / 2 and sigma_T = step (columns that must not be mixed up).
    """
    rows = []
    centre = np.mean(runs)
    for (split, layer, index), values in curves.items():
        for run in runs:
            for step, value in enumerate(values, start=1):
                i_xt = value + (run - centre) * spread * step
                rows.append(dict(run=run, seed=run, split=split, epoch=1, step=step, layer=layer, layer_index=index,
                                 H_T=i_xt + 1.0, I_XT=i_xt, I_TY=i_xt / 2, sigma_T=float(step)))
    return pd.DataFrame(rows)


# --- mean_over_runs ---------------------------------------------------------------------------------------------

def test_mean_over_runs_averages_each_column_over_runs_only():
    ip = pd.DataFrame(dict(run=[0, 1, 0, 1], split="train", step=[1, 1, 2, 2], layer="a", layer_index=0,
                           H_T=[4.0, 6.0, 1.0, 2.0], I_XT=[1.0, 2.0, 3.0, 5.0], I_TY=[0.5, 1.5, 0.0, 1.0],
                           sigma_T=[10.0, 20.0, 7.0, 9.0]))
    mean = mean_over_runs(ip).sort_values("step")
    assert mean["step"].tolist() == [1, 2]
    assert mean["H_T"].tolist() == [5.0, 1.5]
    assert mean["I_XT"].tolist() == [1.5, 4.0]
    assert mean["I_TY"].tolist() == [1.0, 0.5]
    assert mean["sigma_T"].tolist() == [15.0, 8.0]


def test_mean_over_runs_is_the_mean_not_another_average():
    # three runs 0, 0, 3: mean 1 (the median would be 0)
    ip = pd.DataFrame(dict(run=[0, 1, 2], split="train", step=1, layer="a", layer_index=0, H_T=[0.0, 0.0, 3.0],
                           I_XT=[0.0, 0.0, 3.0], I_TY=[0.0, 0.0, 3.0], sigma_T=[0.0, 0.0, 3.0]))
    assert mean_over_runs(ip)[["H_T", "I_XT", "I_TY", "sigma_T"]].iloc[0].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_mean_over_runs_keeps_splits_and_layers_apart():
    ip = ip_table({("train", "a", 0): [1.0, 2.0], ("test", "a", 0): [5.0, 7.0], ("train", "b", 1): [0.0, 0.0]},
                  runs=(0, 1), spread=1.0)
    mean = mean_over_runs(ip).set_index(["split", "layer", "step"])
    assert len(mean) == 6
    assert mean.loc[("test", "a", 2), "I_XT"] == pytest.approx(7.0, abs=1e-12)
    assert mean.loc[("train", "a", 2), "I_XT"] == pytest.approx(2.0, abs=1e-12)
    assert mean.loc[("train", "b", 1), "I_XT"] == pytest.approx(0.0, abs=1e-12)


# --- dpi_fractions ----------------------------------------------------------------------------------------------

def dpi_ip():
    """Three layers a → b → c, one run, split train, two steps.

    step 1: I_XT 3, 2, 2   (a≥b holds, b≥c holds: equality counts)   I_TY 1, 2, 1   (a≥b fails, b≥c holds)
    step 2: I_XT 3, 4, 1   (a≥b fails, b≥c holds)                    I_TY 2, 1, 0.5 (a≥b holds, b≥c holds)
    → a→b: I_XT 1/2, I_TY 1/2;  b→c: I_XT 2/2, I_TY 2/2;  all: I_XT 3/4, I_TY 3/4.
    A second split (test) in which nothing holds: I_XT and I_TY increase with depth.
    """
    rows = []
    values = {1: ([3, 2, 2], [1, 2, 1]), 2: ([3, 4, 1], [2, 1, 0.5])}
    for step, (i_xt, i_ty) in values.items():
        for index, layer in enumerate("abc"):
            rows.append(dict(run=0, split="train", step=step, layer=layer, layer_index=index,
                             I_XT=float(i_xt[index]), I_TY=float(i_ty[index])))
            rows.append(dict(run=0, split="test", step=step, layer=layer, layer_index=index,
                             I_XT=float(index), I_TY=float(index)))
    # shuffled: the function must order layers by layer_index, not by row order
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)


def test_dpi_fractions_hand_computed():
    dpi = dpi_fractions(dpi_ip()).set_index(["split", "pair"])
    assert dpi.loc[("train", "a→b"), "frac_I_XT"] == 0.5
    assert dpi.loc[("train", "a→b"), "frac_I_TY"] == 0.5
    assert dpi.loc[("train", "b→c"), "frac_I_XT"] == 1.0  # includes the tie 2 ≥ 2
    assert dpi.loc[("train", "b→c"), "frac_I_TY"] == 1.0
    assert dpi.loc[("train", "all"), "frac_I_XT"] == 0.75
    assert dpi.loc[("train", "all"), "frac_I_TY"] == 0.75
    assert dpi.loc[("train", "all"), "measurements"] == 4
    assert dpi.loc[("train", "a→b"), "measurements"] == 2
    assert dpi.loc[("test", "all"), "frac_I_XT"] == 0.0
    assert dpi.loc[("test", "all"), "frac_I_TY"] == 0.0
    assert set(dpi.index.get_level_values("pair")) == {"a→b", "b→c", "all"}  # no pair across the last layer


def test_dpi_fractions_pairs_within_one_run_and_step():
    # Two runs whose layers would violate the inequality only if pairs crossed runs (run 0's c with run 1's a).
    ip = pd.concat([dpi_ip().assign(run=0), dpi_ip().assign(run=1, I_XT=lambda d: d["I_XT"] + 10)])
    dpi = dpi_fractions(ip).set_index(["split", "pair"])
    assert dpi.loc[("train", "all"), "measurements"] == 8
    assert dpi.loc[("train", "all"), "frac_I_XT"] == 0.75


def test_dpi_fractions_round_off_ties_hold_within_atol():
    """Layers that tie up to round-off (2 against 2 + 4e-6 bits) satisfy the inequality; 2 against 2 + 2e-5 bits
    (beyond the default atol of 1e-5) does not, nor does the tie with atol=0."""
    def fraction(excess, **kw):
        ip = pd.DataFrame(dict(run=0, split="train", step=1, layer=["a", "b"], layer_index=[0, 1],
                               I_XT=[2.0, 2.0 + excess], I_TY=[1.0, 1.0]))
        return dpi_fractions(ip, **kw).set_index("pair").loc["a→b", "frac_I_XT"]

    assert fraction(4e-6) == 1.0
    assert fraction(2e-5) == 0.0
    assert fraction(4e-6, atol=0.0) == 0.0


def test_dpi_fractions_count_comparisons_of_two_saturated_layers():
    """The tracker's flags: step 1 has a, b saturated (b also at its grid's bound) and c not; step 2 has only a
    ("input_saturated" is not a saturated layer) → a→b saturated 1 of 2, b→c 0 of 2, all 1 of 4; without column
    flags the count is not made."""
    flags = ["saturated", "saturated;sigma_at_bound", "", "saturated", "input_saturated", None]
    ip = pd.DataFrame(dict(run=0, split="train", n=8, step=[1, 1, 1, 2, 2, 2], layer=list("abcabc"),
                           layer_index=[0, 1, 2] * 2, I_XT=[3.0, 3.0 - 4e-6, 2.0, 3.0, 2.5, 1.0], I_TY=1.0,
                           flags=flags))
    dpi = dpi_fractions(ip).set_index("pair")
    assert dpi.loc["a→b", "frac_saturated"] == 0.5
    assert dpi.loc["b→c", "frac_saturated"] == 0.0
    assert dpi.loc["all", "frac_saturated"] == 0.25
    assert dpi.loc["all", "frac_I_XT"] == 1.0  # all hold, one of them only because both layers are saturated
    assert "frac_saturated" not in dpi_fractions(ip.drop(columns="flags")).columns
    assert dpi_fractions(ip.iloc[:0].astype({"flags": float})).empty  # no rows, flags read back as floats


# --- compression ------------------------------------------------------------------------------------------------

# I(X;T) over steps 1..6: 1, 3, 2, 5, 1, 0. Centred rolling mean over 3 (edges: the values available):
# 2, 2, 10/3, 8/3, 2, 1/2 → peak at step 3 (10/3), final 1/2, compression 10/3 − 1/2 = 17/6.
# Without smoothing (window 1): peak at step 4 (5), final 0, compression 5.
CURVE = [1.0, 3.0, 2.0, 5.0, 1.0, 0.0]


def test_compression_hand_computed_window_3():
    ip = ip_table({("train", "a", 0): CURVE}, runs=(0, 1), spread=0.7)  # run mean = CURVE
    row = compression(ip, window=3).iloc[0]
    assert row["peak_step"] == 3
    assert row["I_XT_peak"] == pytest.approx(10 / 3, abs=1e-12)
    assert row["I_XT_first"] == pytest.approx(2.0, abs=1e-12)
    assert row["I_XT_final"] == pytest.approx(0.5, abs=1e-12)
    assert row["compression"] == pytest.approx(17 / 6, abs=1e-12)
    assert row["I_TY_first"] == pytest.approx(0.5, abs=1e-12)  # I_TY = I_XT / 2, run mean, not smoothed
    assert row["I_TY_final"] == pytest.approx(0.0, abs=1e-12)


def test_compression_window_1_is_the_raw_curve():
    row = compression(ip_table({("train", "a", 0): CURVE}), window=1).iloc[0]
    assert (row["peak_step"], row["I_XT_peak"], row["compression"]) == (4, 5.0, 5.0)


def test_compression_window_5_hand_computed():
    # window 5: step 1 mean(1,3,2)=2, step 2 mean(1,3,2,5)=2.75, step 3 mean(1,3,2,5,1)=2.4,
    # step 4 mean(3,2,5,1,0)=2.2, step 5 mean(2,5,1,0)=2, step 6 mean(5,1,0)=2 → peak step 2, compression 0.75
    row = compression(ip_table({("train", "a", 0): CURVE}), window=5).iloc[0]
    assert row["peak_step"] == 2
    assert row["compression"] == pytest.approx(0.75, abs=1e-12)


def test_compression_rising_curve_has_none_and_rows_are_ordered():
    ip = ip_table({("train", "deep", 1): [1.0, 2.0, 3.0], ("train", "shallow", 0): [3.0, 2.0, 1.0],
                   ("test", "shallow", 0): [1.0, 1.0, 1.0]})
    table = compression(ip, window=1)
    assert table[["split", "layer"]].values.tolist() == [["test", "shallow"], ["train", "shallow"],
                                                         ["train", "deep"]]
    assert table["compression"].tolist() == [0.0, 2.0, 0.0]
    assert table["peak_step"].tolist() == [1, 1, 3]


@pytest.mark.parametrize("window", [0, -1, 2.5, True])
def test_compression_refuses_bad_window(window):
    with pytest.raises(ValueError, match="window"):
        compression(ip_table({("train", "a", 0): CURVE}), window=window)


# --- phase_table ------------------------------------------------------------------------------------------------

def phase_inputs():
    """Three layers, steps 1..6, two runs (run mean = the curves below), window 1.

    train  a: 1, 2, 4, 3.5, 3.25, 3   peak step 3, compression 1      → compresses
           b: 1, 2, 3, 2.95, 2.92, 2.9  peak step 3, compression 0.1  → does not
           c: 0.5, 1, 1.5, 2, 2.5, 2.25 peak step 5, compression 0.25 → compresses
    test   a: 1, 3, 2, 2, 2, 2 (peak 2, compression 1); b: flat 1 (peak 1, 0); c: 0, 0, 0, 0, 0, 0.5 (peak 6, 0)
    Early stopping (stop step per run):
      p=1: 1 and 3 → mean 2   (a: 2 < 3 before; c: 2 < 5 before)
      p=2: 2 and never → 2    (mean over the runs that stopped: a before, c before)
      p=5: 3 and 3 → 3        (a: 3 < 3 is not before; c: before)
      p=10: never → NA        (not before)
    → largest_patience_before: a 2, b NA (does not compress), c 5.
    """
    ip = ip_table({("train", "a", 0): [1, 2, 4, 3.5, 3.25, 3], ("train", "b", 1): [1, 2, 3, 2.95, 2.92, 2.9],
                   ("train", "c", 2): [0.5, 1, 1.5, 2, 2.5, 2.25], ("test", "a", 0): [1, 3, 2, 2, 2, 2],
                   ("test", "b", 1): [1] * 6, ("test", "c", 2): [0, 0, 0, 0, 0, 0.5]}, runs=(0, 1), spread=0.3)
    stops = pd.DataFrame(dict(patience=[1, 2, 5, 10] * 2, stop_step=[1, 2, 3, None, 3, None, 3, None],
                              best_step=[1, 1, 1, 1, 1, 1, 1, 1], run=[0] * 4 + [1] * 4, seed=[0] * 4 + [1] * 4))
    return ip, stops.astype({"stop_step": "Int64"})


def test_phase_table_hand_computed():
    ip, stops = phase_inputs()
    table = phase_table(ip, stops, patience=[1, 2, 5, 10], window=1).set_index("layer")
    assert table.index.tolist() == ["a", "b", "c"]
    assert table["layer_index"].tolist() == [0, 1, 2]
    assert table["peak_step"].tolist() == [3, 3, 5]
    assert table["peak_step_test"].tolist() == [2, 1, 6]
    assert table["I_XT_peak"].tolist() == pytest.approx([4.0, 3.0, 2.5], abs=1e-12)
    assert table["compression_train"].tolist() == pytest.approx([1.0, 0.1, 0.25], abs=1e-12)
    assert table["compression_test"].astype(float).tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-12)
    assert table["compresses"].tolist() == [True, False, True]
    assert table["stop_p1"].tolist() == [2.0] * 3
    assert table["stop_p2"].tolist() == [2.0] * 3
    assert table["stop_p5"].tolist() == [3.0] * 3
    assert table["stop_p10"].isna().all()
    expected = {1: [True, None, True], 2: [True, None, True], 5: [False, None, True], 10: [False, None, False]}
    for p, before in expected.items():
        got = [None if pd.isna(v) else bool(v) for v in table[f"before_p{p}"]]
        assert got == before, f"before_p{p}"
    assert [None if pd.isna(v) else int(v) for v in table["largest_patience_before"]] == [2, None, 5]
    assert str(table["before_p1"].dtype) == "boolean" and str(table["largest_patience_before"].dtype) == "Int64"


def test_phase_table_min_compression_is_inclusive_and_smoothing_is_passed_on():
    ip, stops = phase_inputs()
    at = phase_table(ip, stops, patience=[5], window=1, min_compression=0.25).set_index("layer")
    above = phase_table(ip, stops, patience=[5], window=1, min_compression=0.2500001).set_index("layer")
    assert at.loc["c", "compresses"] and not above.loc["c", "compresses"]
    assert pd.isna(above.loc["c", "before_p5"]) and pd.isna(above.loc["c", "largest_patience_before"])
    # window 3 on a's curve 1, 2, 4, 3.5, 3.25, 3: 1.5, 7/3, 19/6, 43/12, 3.25, 3.125 → peak step 4
    smooth = phase_table(ip, stops, patience=[5], window=3).set_index("layer")
    assert smooth.loc["a", "peak_step"] == 4
    assert smooth.loc["a", "compression_train"] == pytest.approx(43 / 12 - 3.125, abs=1e-12)
    assert bool(smooth.loc["a", "before_p5"])  # 3 < 4


def test_phase_table_without_test_split_and_bad_input():
    ip, stops = phase_inputs()
    table = phase_table(ip[ip["split"] == "train"], stops, patience=[1])
    assert table["compression_test"].isna().all() and table["peak_step_test"].isna().all()
    with pytest.raises(ValueError, match="patience"):
        phase_table(ip, stops, patience=[3])
    with pytest.raises(ValueError, match="split 'train'"):
        phase_table(ip[ip["split"] == "test"], stops, patience=[1])
    with pytest.raises(ValueError, match="early_stopping"):
        phase_table(ip, stops.drop(columns="stop_step"), patience=[1])
    with pytest.raises(ValueError, match="min_compression"):
        phase_table(ip, stops, patience=[1], min_compression=-0.1)


# --- patience_summary -------------------------------------------------------------------------------------------

def test_patience_summary_hand_computed():
    ip, stops = phase_inputs()
    table = phase_table(ip, stops, patience=[10, 5, 2, 1], window=1)
    flat = phase_table(ip, stops, patience=[1, 5], window=1, min_compression=5.0)  # nothing compresses
    summary = patience_summary({"net": table, "flat": flat})
    net = summary[summary["network"] == "net"].set_index("patience")
    assert net.index.tolist() == [1, 2, 5, 10]
    assert net["compressing_layers"].tolist() == [2, 2, 2, 2]
    assert net["layers_before"].tolist() == [2, 2, 1, 0]
    assert net["fraction_before"].astype(float).tolist() == [1.0, 1.0, 0.5, 0.0]
    assert net["stop_step"].tolist()[:3] == [2.0, 2.0, 3.0] and pd.isna(net.loc[10, "stop_step"])
    none = summary[summary["network"] == "flat"]
    assert none["compressing_layers"].tolist() == [0, 0] and none["fraction_before"].isna().all()
    with pytest.raises(ValueError, match="phase_table"):
        patience_summary({"x": table[["layer", "peak_step"]]})
