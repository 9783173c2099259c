"""Summaries of the IP table that the paper's claims are about (docs/method.md §6): run means, the data processing
inequality along depth, the fitting/compression phases, and where early stopping stops against them. Pure
functions from tables to tables.
"""

import pandas as pd

KEYS = ["split", "step", "layer", "layer_index"]
VALUES = ["H_T", "I_XT", "I_TY", "sigma_T"]


def mean_over_runs(ip: pd.DataFrame) -> pd.DataFrame:
    """Average H_T, I_XT, I_TY and σ_T over runs for each (split, step, layer)."""
    return ip.groupby(KEYS, as_index=False)[VALUES].mean()


def dpi_fractions(ip: pd.DataFrame, atol: float = 1e-5) -> pd.DataFrame:
    """How often the data processing inequality holds between consecutive layers (docs/method.md §6, item 4).

    For every measurement (run, split, step) and every pair of consecutive measured layers ℓ, ℓ+1, checks
    I(X;T_ℓ) ≥ I(X;T_ℓ+1) − atol and I(T_ℓ;Y) ≥ I(T_ℓ+1;Y) − atol. The inequality allows equality, and layers
    that tie (both saturated at log2 N, say) differ only by float round-off, a few 1e-6 bits: `atol` (bits) keeps
    round-off from deciding the comparison. Where the table has the tracker's `flags` column, it also counts the
    comparisons in which both layers are flagged "saturated" (H(T) at log2 N: the kernel is numerically the
    identity, so I(X;T) = H(X) and I(T;Y) = H(Y) in both, and the inequality holds whatever the network does).

    Returns:
        One row per split and layer pair plus an "all" row per split, with columns split, pair, measurements,
        frac_I_XT, frac_I_TY and, with column flags, frac_saturated (fractions in [0, 1]).
    """
    ordered = ip.sort_values(["run", "split", "step", "layer_index"])
    if "flags" in ordered:  # "saturated;sigma_at_bound", say; empty (NaN when read back) for none
        flags = ordered["flags"].fillna("").astype(str).str.split(";")
        ordered = ordered.assign(saturated=flags.map(lambda f: "saturated" in f))
    measurement = ordered.groupby(["run", "split", "step"])
    nxt = measurement[["I_XT", "I_TY", "layer"]].shift(-1)
    pairs = ordered.assign(pair=ordered["layer"] + "→" + nxt["layer"],
                           ok_XT=ordered["I_XT"] >= nxt["I_XT"] - atol, ok_TY=ordered["I_TY"] >= nxt["I_TY"] - atol)
    fractions = dict(measurements=("ok_XT", "size"), frac_I_XT=("ok_XT", "mean"), frac_I_TY=("ok_TY", "mean"))
    if "saturated" in ordered:
        pairs["saturated"] = ordered["saturated"] & measurement["saturated"].shift(-1, fill_value=False)
        fractions["frac_saturated"] = ("saturated", "mean")
    pairs = pairs[nxt["layer"].notna()]
    per_pair = pairs.groupby(["split", "pair"], sort=False).agg(
        **fractions, layer_index=("layer_index", "first")).reset_index().sort_values(["split", "layer_index"])
    overall = pairs.groupby("split").agg(**fractions).reset_index()
    overall["pair"] = "all"
    cols = ["split", "pair", *fractions]
    return pd.concat([per_pair[cols], overall[cols]], ignore_index=True)


def compression(ip: pd.DataFrame, window: int = 5) -> pd.DataFrame:
    """Fitting and compression phases per layer, on the run-mean curve I(X;T) over steps.

    The curve is smoothed with a centred rolling mean over `window` measurements (the estimate on a
    mini-batch is noisy); the fitting phase ends at the step of its maximum, after which any decrease is
    compression.

    Args:
        ip: the IP table (columns run, split, step, layer, layer_index, H_T, I_XT, I_TY, sigma_T).
        window: measurements in the centred rolling mean (1 = no smoothing).

    Returns:
        Columns split, layer, layer_index, peak_step (the phase boundary), I_XT_first, I_XT_peak, I_XT_final
        (smoothed, at the first measurement, the peak and the last), compression (= peak − final, ≥ 0),
        I_TY_first, I_TY_final (run mean at the first and last measurement, not smoothed).
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a whole number of measurements ≥ 1, got {window!r}")
    rows = []
    for (split, layer, index), g in mean_over_runs(ip).groupby(["split", "layer", "layer_index"]):
        g = g.sort_values("step")
        smooth = g["I_XT"].rolling(window, center=True, min_periods=1).mean()
        peak = smooth.idxmax()
        rows.append(dict(split=split, layer=layer, layer_index=index, peak_step=int(g.loc[peak, "step"]),
                         I_XT_first=float(smooth.iloc[0]), I_XT_peak=float(smooth[peak]),
                         I_XT_final=float(smooth.iloc[-1]), compression=float(smooth[peak] - smooth.iloc[-1]),
                         I_TY_first=float(g["I_TY"].iloc[0]), I_TY_final=float(g["I_TY"].iloc[-1])))
    return pd.DataFrame(rows).sort_values(["split", "layer_index"], ignore_index=True)


def phase_table(ip: pd.DataFrame, early_stopping: pd.DataFrame, patience, window: int = 5,
                min_compression: float = 0.2) -> pd.DataFrame:
    """Per layer of one network: its fitting/compression boundary against where early stopping would stop.

    The paper's Figure 1 claim (docs/method.md §6, item 2): for low patience, early stopping stops training before
    compression begins. A layer's phase boundary is the peak of its smoothed run-mean I(X;T) on training data
    (`compression`, column peak_step); it *compresses* if I(X;T) then falls by at least `min_compression` bits.
    Early stopping with patience p stops at stop_p{p}, the mean over the runs that stopped (NA if none did);
    it stops *before compression* if stop_p{p} < peak_step. A patience that never stops counts as not before
    (training runs through the compression phase); for a layer that does not compress the question has no answer.

    Args:
        ip: the IP table of one network, all runs (split "train" required; "test" optional).
        early_stopping: `ipkit.train.early_stopping_steps` of every run, with a run column (as in
            `ipkit.experiment.Results.early_stopping`): columns patience, stop_step, run.
        patience: the patiences p (steps) to report; each must be in `early_stopping`.
        window: measurements in the centred rolling mean of `compression`.
        min_compression: bits of I(X;T) lost after the peak that count as compression.

    Returns:
        One row per layer, ordered by depth: layer, layer_index, peak_step, peak_step_test, I_XT_peak,
        compression_train, compression_test (NA without a test split), compresses (bool), then per p:
        stop_p{p} (Float64), before_p{p} (boolean, NA where the layer does not compress), and
        largest_patience_before (Int64: the largest p whose before_p{p} is True; NA if none).

    Example:
        >>> table = phase_table(results.ip, results.early_stopping, patience=[1, 10, 100])  # doctest: +SKIP
    """
    patience = list(patience)
    if min_compression < 0:
        raise ValueError(f"min_compression must be ≥ 0 bits, got {min_compression}")
    missing = [c for c in ("patience", "stop_step") if c not in early_stopping.columns]
    if missing:
        raise ValueError(f"early_stopping lacks columns {missing}: pass the table of "
                         "ipkit.train.early_stopping_steps (with a run column), e.g. Results.early_stopping")
    absent = sorted(set(patience) - set(early_stopping["patience"]))
    if absent:
        raise ValueError(f"patience {absent} is not in early_stopping (it holds "
                         f"{sorted(set(early_stopping['patience']))}): pass patiences that were evaluated")
    phases = compression(ip, window=window)
    train = phases[phases["split"] == "train"].set_index("layer")
    if train.empty:
        raise ValueError("ip has no rows with split 'train': the phase boundary is defined on training data")
    test = phases[phases["split"] == "test"].set_index("layer").reindex(train.index)
    table = pd.DataFrame({
        "layer": train.index, "layer_index": train["layer_index"].to_numpy(),
        "peak_step": train["peak_step"].to_numpy(),
        "peak_step_test": test["peak_step"].astype("Int64").to_numpy(),
        "I_XT_peak": train["I_XT_peak"].to_numpy(), "compression_train": train["compression"].to_numpy(),
        "compression_test": test["compression"].astype("Float64").to_numpy()})
    table["compresses"] = table["compression_train"] >= min_compression
    mean_stop = early_stopping.groupby("patience")["stop_step"].mean()  # NA only if no run stopped
    largest = pd.Series(pd.NA, index=table.index, dtype="Int64")
    for p in patience:
        stop = pd.Series(float(mean_stop[p]) if pd.notna(mean_stop[p]) else pd.NA, index=table.index,
                         dtype="Float64")
        table[f"stop_p{p}"] = stop
        before = (stop < table["peak_step"]).fillna(False)  # never stopped: it trained through compression
        table[f"before_p{p}"] = before.astype("boolean").where(table["compresses"], pd.NA)
    for p in sorted(patience):
        largest = largest.mask(table[f"before_p{p}"].fillna(False).astype(bool), p)
    table["largest_patience_before"] = largest
    return table.sort_values("layer_index", ignore_index=True)


def patience_summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per network and patience: how often early stopping stops before a compressing layer compresses.

    Args:
        tables: network name → its `phase_table`.

    Returns:
        One row per network and patience (in the order given, patiences ascending): network, patience,
        stop_step (mean over the runs that stopped; NA if none did), compressing_layers, layers_before (how many
        compressing layers early stopping stops before) and fraction_before (= layers_before /
        compressing_layers; NA without compressing layers).
    """
    rows = []
    for network, table in tables.items():
        patiences = sorted(int(c[len("before_p"):]) for c in table.columns if c.startswith("before_p"))
        if not patiences or "compresses" not in table.columns:
            raise ValueError(f"tables[{network!r}] has no before_p<patience>/compresses columns: "
                             "pass the tables of ipkit.analysis.phase_table")
        compressing = table[table["compresses"].astype(bool)]
        for p in patiences:
            before = int(compressing[f"before_p{p}"].astype(bool).sum())
            rows.append(dict(network=network, patience=p, stop_step=table[f"stop_p{p}"].iloc[0],
                             compressing_layers=len(compressing), layers_before=before,
                             fraction_before=before / len(compressing) if len(compressing) else pd.NA))
    columns = ["network", "patience", "stop_step", "compressing_layers", "layers_before", "fraction_before"]
    return pd.DataFrame(rows, columns=columns).astype({"stop_step": "Float64", "fraction_before": "Float64"})
