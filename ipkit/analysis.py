"""Summaries of the IP table that the paper's claims are about (PAPER.md §6): run means, the data processing
inequality along depth, and the fitting/compression phases. Pure functions from tables to tables.
"""

import pandas as pd

KEYS = ["split", "step", "layer", "layer_index"]
VALUES = ["H_T", "I_XT", "I_TY", "sigma_T"]


def mean_over_runs(ip: pd.DataFrame) -> pd.DataFrame:
    """Average H_T, I_XT, I_TY and σ_T over runs for each (split, step, layer)."""
    return ip.groupby(KEYS, as_index=False)[VALUES].mean()


def dpi_fractions(ip: pd.DataFrame) -> pd.DataFrame:
    """How often the data processing inequality holds between consecutive layers (PAPER.md §6, item 4).

    For every measurement (run, split, step) and every pair of consecutive measured layers ℓ, ℓ+1, checks
    I(X;T_ℓ) ≥ I(X;T_ℓ+1) and I(T_ℓ;Y) ≥ I(T_ℓ+1;Y).

    Returns:
        One row per split and layer pair plus an "all" row per split, with columns split, pair, measurements,
        frac_I_XT, frac_I_TY (fractions in [0, 1]).
    """
    ordered = ip.sort_values(["run", "split", "step", "layer_index"])
    nxt = ordered.groupby(["run", "split", "step"])[["I_XT", "I_TY", "layer"]].shift(-1)
    pairs = ordered.assign(pair=ordered["layer"] + "→" + nxt["layer"],
                           ok_XT=ordered["I_XT"] >= nxt["I_XT"], ok_TY=ordered["I_TY"] >= nxt["I_TY"])
    pairs = pairs[nxt["layer"].notna()]
    per_pair = pairs.groupby(["split", "pair"], sort=False).agg(
        measurements=("ok_XT", "size"), frac_I_XT=("ok_XT", "mean"), frac_I_TY=("ok_TY", "mean"),
        layer_index=("layer_index", "first")).reset_index().sort_values(["split", "layer_index"])
    overall = pairs.groupby("split").agg(
        measurements=("ok_XT", "size"), frac_I_XT=("ok_XT", "mean"), frac_I_TY=("ok_TY", "mean")).reset_index()
    overall["pair"] = "all"
    cols = ["split", "pair", "measurements", "frac_I_XT", "frac_I_TY"]
    return pd.concat([per_pair[cols], overall[cols]], ignore_index=True)


def compression(ip: pd.DataFrame, window: int = 5) -> pd.DataFrame:
    """Fitting and compression phases per layer, on the run-mean curve I(X;T) over steps.

    The curve is smoothed with a centred rolling mean over `window` measurements (the estimate on a
    mini-batch is noisy); the fitting phase ends at the step of its maximum, after which any decrease is
    compression.

    Returns:
        Columns split, layer, layer_index, peak_step (the phase boundary), I_XT_peak, I_XT_final,
        compression (= peak − final, ≥ 0), I_TY_final.
    """
    rows = []
    for (split, layer, index), g in mean_over_runs(ip).groupby(["split", "layer", "layer_index"]):
        g = g.sort_values("step")
        smooth = g["I_XT"].rolling(window, center=True, min_periods=1).mean()
        peak = smooth.idxmax()
        rows.append(dict(split=split, layer=layer, layer_index=index, peak_step=int(g.loc[peak, "step"]),
                         I_XT_peak=float(smooth[peak]), I_XT_final=float(smooth.iloc[-1]),
                         compression=float(smooth[peak] - smooth.iloc[-1]), I_TY_final=float(g["I_TY"].iloc[-1])))
    return pd.DataFrame(rows).sort_values(["split", "layer_index"], ignore_index=True)
