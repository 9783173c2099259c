"""The paper's six findings (docs/method.md §6) as verdicts computed from result tables.

Each finding is a pure function of the tables an experiment wrote (ip.csv.gz, early_stopping.csv, dpi.csv,
saturation.csv, …) that returns a `Verdict`: "reproduced", "partly" or "not reproduced", an evidence sentence,
and the numbers behind it under names. Every threshold is a keyword argument with a documented default.
`findings_table` evaluates every finding on whatever result folders exist; `scripts/findings.py` writes it to
results/findings.csv and renders the README's "What we reproduced" table from it.

Finding 6 (S_2 = −log2 ‖μ̂‖², the von Neumann entropy) is an identity of the estimator, not a property of a
trained network, and no result table holds it: it is checked numerically on seeded synthetic samples, so its
verdict does not depend on which datasets or results are present.
"""

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ipkit.analysis import compression, dpi_fractions, patience_summary, phase_table
from ipkit.entropy import renyi_entropy
from ipkit.experiment import ADDED_LATER, NOT_DEFINING, Experiment, load_results, table_path
from ipkit.kernels import gaussian_gram

VERDICTS = ("reproduced", "partly", "not reproduced")
CLAIMS = {
    1: "MLP and CNN on MNIST: fitting, then compression, on training data; weakly or not at all on test data",
    2: "Early stopping tends to stop before compression begins",
    3: "VGG-16 on CIFAR-10 can be analysed: early conv layers near the upper bound of I(X;T), later layers fit "
       "then compress on training data, on test data the output's I(T;Y) stalls",
    4: "Data processing inequality along depth mostly satisfied",
    5: "The multivariate approach saturates at log2 N for layers with many channels; the tensor kernel does not",
    6: "The entropy links to kernel mean embeddings (S_2 = −log2 ‖μ̂‖²) and to the von Neumann entropy",
}
# The authors' protocol (docs/method.md §4–5): runs, epochs and test-stream size per dataset.
PAPER_RUNS = {"mnist": 10, "cifar10": 5}
PAPER_EPOCHS = {"mnist": 10, "cifar10": 50}
PAPER_N_TEST = {"mnist": 200, "cifar10": 100}
COLUMNS = ["finding", "claim", "experiment", "verdict", "evidence", "numbers"]


@dataclass
class Verdict:
    """A finding's verdict ("reproduced" / "partly" / "not reproduced"), the evidence in words, and the numbers
    behind it by name (bits, steps, fractions)."""

    verdict: str
    evidence: str
    numbers: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def _grade(parts: int, of: int) -> str:
    """All parts hold → reproduced, some → partly, none → not reproduced."""
    return VERDICTS[0] if parts == of else VERDICTS[1] if parts else VERDICTS[2]


def _share(fraction: float) -> str:
    """A fraction in [0, 1] as a whole percentage; one above 0 that rounds to 0 % as '<1%'."""
    return "<1%" if 0 < fraction < 0.005 else f"{fraction:.0%}"


def _span(values, fmt="{:.2f}") -> str:
    values = [v for v in values if pd.notna(v)]
    if not values:
        return "–"
    low, high = min(values), max(values)
    return fmt.format(low) if fmt.format(low) == fmt.format(high) else f"{fmt.format(low)}–{fmt.format(high)}"


def _require(table: pd.DataFrame, name: str, columns) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}: pass the table the experiment wrote ({name}.csv)")


def fitting_then_compression(ip: pd.DataFrame, *, window: int = 5, min_fitting: float = 0.1,
                             min_compression: float = 0.2, weak_ratio: float = 0.5, min_weak_fraction: float = 0.5,
                             paper_n_test: int = PAPER_N_TEST["mnist"]) -> Verdict:
    """Finding 1: fitting then compression on training data, weak or none on the test stream.

    On the run-mean curves of `ipkit.analysis.compression` (smoothed over `window` measurements):
    - *fitting then compression* (training data): the output layer's I(X;T) rises by ≥ `min_fitting` bits from
      the first measurement to its peak and then falls by ≥ `min_compression` bits, and its I(T;Y) rises by
      ≥ `min_fitting` bits from the first to the last measurement;
    - *weak on test data*: of the layers that compress on training data (≥ `min_compression` bits), at least
      `min_weak_fraction` compress on the test stream by less than `min_compression` bits or by at most
      `weak_ratio` × their training amount.
    The test stream is fresh test samples at every measurement (column n of its rows); the paper's code uses
    `paper_n_test` (200 for MNIST, 100 for CIFAR-10), and another size is named in the evidence.

    Verdict: both parts → reproduced; fitting and compression on training data only → partly; otherwise
    not reproduced.

    Args:
        ip: the IP table of one network, all runs (splits "train" and "test").
    """
    _require(ip, "ip", ["split", "step", "layer", "layer_index", "I_XT", "I_TY"])
    phases = compression(ip, window=window)
    train = phases[phases["split"] == "train"].set_index("layer")
    if train.empty:
        raise ValueError("ip has no rows with split 'train': finding 1 is about training data")
    test = phases[phases["split"] == "test"].set_index("layer").reindex(train.index)
    out = train.sort_values("layer_index").iloc[-1]  # the output layer
    fit_xt = out["I_XT_peak"] - out["I_XT_first"]
    fit_ty = out["I_TY_final"] - out["I_TY_first"]
    phases_ok = fit_xt >= min_fitting and fit_ty >= min_fitting and out["compression"] >= min_compression
    compressing = train.index[train["compression"] >= min_compression]
    c_train, c_test = train.loc[compressing, "compression"], test.loc[compressing, "compression"]
    weak = (c_test < min_compression) | (c_test <= weak_ratio * c_train)
    has_test = test["compression"].notna().any()
    weak_fraction = float(weak.mean()) if len(compressing) and has_test else math.nan
    test_ok = bool(weak_fraction >= min_weak_fraction)
    n_test = sorted(ip.loc[ip["split"] == "test", "n"].unique().tolist()) if "n" in ip else []
    numbers = dict(output_fitting_I_XT=fit_xt, output_fitting_I_TY=fit_ty, output_peak_step=int(out["peak_step"]),
                   output_compression_train=out["compression"],
                   output_compression_test=test.loc[out.name, "compression"], compressing_layers=len(compressing),
                   layers=len(train), weak_on_test=int(weak.sum()), weak_fraction=weak_fraction,
                   mean_difference=float((c_train - c_test).mean()) if len(compressing) else math.nan,
                   n_test=n_test[0] if len(n_test) == 1 else None)
    stream = ("no test stream" if not has_test else
              f"test stream {', '.join(map(str, n_test))} fresh samples per measurement"
              + ("" if n_test == [paper_n_test] else f" (paper: {paper_n_test})"))
    evidence = (f"output layer {out.name}: I(X;T) {out['I_XT_first']:.2f} → {out['I_XT_peak']:.2f} bits "
                f"(peak at step {int(out['peak_step'])}) → {out['I_XT_final']:.2f}, I(T;Y) {out['I_TY_first']:.2f} "
                f"→ {out['I_TY_final']:.2f}; {len(compressing)} of {len(train)} layers compress ≥ "
                f"{min_compression:g} bits on training data ({_span(c_train)} bits)")
    if has_test:
        evidence += (f", on test data {_span(c_test)} bits (train − test {_span(c_train - c_test, '{:+.2f}')}); "
                     f"test compression weak (< {min_compression:g} bits or ≤ {weak_ratio:g} × train) on "
                     f"{int(weak.sum())} of {len(compressing)}; {stream}")
    else:
        evidence += f"; {stream}"
    verdict = VERDICTS[0] if phases_ok and test_ok else VERDICTS[1] if phases_ok else VERDICTS[2]
    return Verdict(verdict, evidence, numbers)


def early_stopping_before_compression(ip: pd.DataFrame, early_stopping: pd.DataFrame, *, window: int = 5,
                                      min_compression: float = 0.2, min_fraction_before: float = 0.5) -> Verdict:
    """Finding 2: for low patience, early stopping stops before compression begins (the paper's Figure 1).

    Per layer `ipkit.analysis.phase_table` (patience in steps; a layer compresses if its training-data I(X;T)
    falls ≥ `min_compression` bits after its peak; "before" = the run-mean stop step < the peak step), summed up
    per patience by `patience_summary`.

    Verdict: at the lowest patience tested, early stopping stops before the compression of at least
    `min_fraction_before` of the compressing layers → reproduced; before some of them at some patience →
    partly; before none (or no layer compresses) → not reproduced.

    Args:
        ip: the IP table of one network, all runs.
        early_stopping: early-stopping steps of every run and patience (columns patience, stop_step, run).
    """
    _require(early_stopping, "early_stopping", ["patience", "stop_step"])
    patience = sorted(int(p) for p in early_stopping["patience"].unique())
    if not patience:
        raise ValueError("early_stopping is empty: the experiment evaluated no patience")
    table = phase_table(ip, early_stopping, patience, window=window, min_compression=min_compression)
    summary = patience_summary({"network": table}).set_index("patience")
    compressing = table[table["compresses"]]
    lowest = summary.loc[patience[0]]
    fractions = summary["fraction_before"].astype(float)
    largest = compressing["largest_patience_before"].dropna()
    numbers = dict(patience_min=patience[0], patience_max=patience[-1], compressing_layers=len(compressing),
                   peak_step_min=int(compressing["peak_step"].min()) if len(compressing) else None,
                   peak_step_max=int(compressing["peak_step"].max()) if len(compressing) else None,
                   stop_step_lowest_patience=lowest["stop_step"], fraction_before_lowest_patience=lowest[
                       "fraction_before"], largest_patience_before=int(largest.max()) if len(largest) else None)
    stops = ", ".join(f"p={p}: {'never' if pd.isna(s) else f'{s:.0f}'}" for p, s in summary["stop_step"].items())
    if not len(compressing):
        evidence = (f"no layer compresses ≥ {min_compression:g} bits on training data, so there is no compression "
                    f"to stop before; patience {patience[0]}–{patience[-1]} steps, stop steps (run mean) {stops}")
        return Verdict(VERDICTS[2], evidence, numbers)
    before = ", ".join(f"p={p}: {int(r.layers_before)}/{int(r.compressing_layers)}" for p, r in summary.iterrows())
    evidence = (f"{len(compressing)} of {len(table)} layers compress ≥ {min_compression:g} bits, their I(X;T) "
                f"peaks at steps {_span(compressing['peak_step'], '{:.0f}')}; early stopping (patience "
                f"{patience[0]}–{patience[-1]} steps) stops at {stops} (run mean); layers it stops before: {before}")
    if len(largest):
        evidence += f"; largest patience still before: {int(largest.max())} steps"
    if lowest["fraction_before"] >= min_fraction_before:
        verdict = VERDICTS[0]
    else:
        verdict = VERDICTS[1] if (fractions > 0).any() else VERDICTS[2]
    return Verdict(verdict, evidence, numbers)


def vgg16_information_plane(ip: pd.DataFrame, *, window: int = 5, early_layers: int = 4,
                            upper_bound_tolerance: float = 0.5, late_layers: int = 4, min_compression: float = 0.2,
                            min_late_fraction: float = 0.5, min_stall_gap: float = 0.3) -> Verdict:
    """Finding 3: VGG-16 on CIFAR-10 can be analysed, with the paper's three observations.

    - *analysed*: every estimate of every layer is finite (a precondition; without it → not reproduced);
    - *near the upper bound*: the first `early_layers` layers end (smoothed run-mean I(X;T) at the last
      measurement, training data) within `upper_bound_tolerance` bits of log2 n, the ceiling of I(X;T);
    - *later layers fit then compress*: of the last `late_layers` layers at least `min_late_fraction` have their
      I(X;T) peak after the first measurement and fall ≥ `min_compression` bits after it (training data);
    - *the output's I(T;Y) stalls on test data*: its final I(T;Y) on the test stream is at least
      `min_stall_gap` bits below that on training data.

    Verdict: all three observations → reproduced; one or two → partly; none → not reproduced.

    Args:
        ip: the IP table of the VGG-16 run(s), splits "train" and "test".
    """
    _require(ip, "ip", ["split", "step", "layer", "layer_index", "H_T", "I_XT", "I_TY", "n"])
    finite = bool(np.isfinite(ip[["H_T", "I_XT", "I_TY"]].to_numpy(float)).all())
    phases = compression(ip, window=window)
    train = phases[phases["split"] == "train"].sort_values("layer_index").set_index("layer")
    test = phases[phases["split"] == "test"].set_index("layer")
    log2_n = math.log2(ip.loc[ip["split"] == "train", "n"].max())
    early = train.iloc[:early_layers]
    gaps = log2_n - early["I_XT_final"]
    late = train.iloc[-late_layers:]
    fits_compresses = (late["I_XT_peak"] > late["I_XT_first"]) & (late["compression"] >= min_compression)
    out = train.index[-1]
    ty_train = train.loc[out, "I_TY_final"]
    ty_test = test.loc[out, "I_TY_final"] if out in test.index else math.nan
    parts = dict(upper_bound=bool((gaps <= upper_bound_tolerance).all()),
                 late_compression=bool(fits_compresses.mean() >= min_late_fraction),
                 output_stalls=bool(ty_train - ty_test >= min_stall_gap))
    numbers = dict(layers=len(train), finite=finite, log2_n=log2_n, early_gap_max=float(gaps.max()),
                   late_compressing=int(fits_compresses.sum()), late_compression_max=float(late["compression"].max()),
                   output_I_TY_train=ty_train, output_I_TY_test=ty_test, **parts)
    evidence = (f"{len(train)} layers measured, estimates {'all finite' if finite else 'NOT all finite'}; "
                f"{', '.join(early.index)} end at {_span(early['I_XT_final'])} bits of log2 n = {log2_n:.2f} "
                f"(within {upper_bound_tolerance:g}: {'yes' if parts['upper_bound'] else 'no'}); "
                f"{int(fits_compresses.sum())} of {', '.join(late.index)} fit then compress ≥ {min_compression:g} "
                f"bits (amounts {_span(late['compression'])}); output I(T;Y) at the end {ty_train:.2f} bits on "
                f"training, {ty_test:.2f} on test data (stalls: {'yes' if parts['output_stalls'] else 'no'})")
    verdict = _grade(sum(parts.values()), len(parts)) if finite else VERDICTS[2]
    return Verdict(verdict, evidence, numbers)


def data_processing_inequality(dpi: pd.DataFrame, *, mostly: float = 0.8) -> Verdict:
    """Finding 4: I(X;T_ℓ) ≥ I(X;T_ℓ+1) (and, by the same Markov chain, I(T_ℓ;Y) ≥ I(T_ℓ+1;Y)) mostly hold.

    Reads the "all" rows of `ipkit.analysis.dpi_fractions` (dpi.csv): the fraction of measurements (run, split,
    step, consecutive pair) where each inequality holds, worst split. "Mostly satisfied" = a fraction of at
    least `mostly` (default 0.8: four measurements in five). Where the table counts them (frac_saturated), the
    evidence says in how many comparisons both layers are saturated (H(T) at log2 N), where the inequality holds
    whatever the network does: a verdict resting on those says nothing about the network.

    Verdict: both inequalities mostly hold → reproduced; one of them → partly; neither → not reproduced.
    """
    _require(dpi, "dpi", ["split", "pair", "measurements", "frac_I_XT", "frac_I_TY"])
    overall = dpi[dpi["pair"] == "all"].set_index("split")
    if overall.empty:
        raise ValueError("dpi has no 'all' rows: pass the table of ipkit.analysis.dpi_fractions")
    xt, ty = float(overall["frac_I_XT"].min()), float(overall["frac_I_TY"].min())
    numbers = dict(frac_I_XT=xt, frac_I_TY=ty, measurements=int(overall["measurements"].sum()), mostly=mostly)
    per_split = "; ".join(f"{split}: I(X;T) {r.frac_I_XT:.0%}, I(T;Y) {r.frac_I_TY:.0%}"
                          for split, r in overall.sort_index().iterrows())
    evidence = (f"fraction of {numbers['measurements']} measurements (consecutive layer pairs) where the "
                f"inequality holds — {per_split}; 'mostly' = at least {mostly:.0%}")
    if "frac_saturated" in overall and overall["frac_saturated"].max() > 0:
        numbers["frac_saturated"] = float(overall["frac_saturated"].max())
        evidence += (f"; in up to {_share(numbers['frac_saturated'])} of a split's comparisons both layers are "
                     f"saturated (H(T) at log2 N: there the inequality holds whatever the network does)")
    return Verdict(_grade((xt >= mostly) + (ty >= mostly), 2), evidence, numbers)


def multivariate_saturation(saturation: pd.DataFrame, *, saturation_margin: float = 0.01,
                            tensor_gap: float = 0.25) -> Verdict:
    """Finding 5: the multivariate kernel saturates at log2 N with many channels; the tensor kernel does not.

    Reads notebook 04's saturation.csv (entropy of a conv layer's first C channels under Yu et al.'s multivariate
    kernel with Silverman-type widths and under the tensor kernel at its alignment width). At each layer's full
    width (C = all its channels): the multivariate entropy *saturates* if within `saturation_margin` bits of
    log2 N; the tensor kernel *stays below* if at least `tensor_gap` bits under it (the notebook's own checks).

    Verdict: every layer saturates under the multivariate kernel and none under the tensor kernel → reproduced;
    the contrast holds on some layers → partly; on none → not reproduced.
    """
    _require(saturation, "saturation", ["network", "layer", "channels", "layer_channels", "H_multivariate",
                                        "H_tensor", "log2_n"])
    full = saturation[saturation["channels"] == saturation["layer_channels"]]
    if full.empty:
        raise ValueError("saturation has no row at a layer's full width (channels == layer_channels)")
    saturated = full["log2_n"] - full["H_multivariate"] <= saturation_margin
    below = full["log2_n"] - full["H_tensor"] >= tensor_gap
    at = saturation[saturation["log2_n"] - saturation["H_multivariate"] <= saturation_margin]
    first = at.groupby(["network", "layer"])["channels"].min()
    numbers = dict(layers=len(full), multivariate_saturated=int(saturated.sum()), tensor_below=int(below.sum()),
                   contrast=int((saturated & below).sum()), H_tensor_max=float(full["H_tensor"].max()),
                   log2_n=float(full["log2_n"].iloc[0]), channels_to_saturate_max=int(first.max()) if len(first)
                   else None)
    names = ", ".join(f"{r.network} {r.layer}" for r in full.itertuples())
    evidence = (f"at full width ({names}): the multivariate entropy is within {saturation_margin:g} bits of "
                f"log2 N = {numbers['log2_n']:.3f} on {int(saturated.sum())} of {len(full)} layers (from "
                f"{_span(first, '{:.0f}')} channels on), the tensor kernel ≥ {tensor_gap:g} bits below it on "
                f"{int(below.sum())} of {len(full)} (H = {_span(full['H_tensor'])} bits)")
    if saturated.all() and below.all():
        verdict = VERDICTS[0]
    else:
        verdict = VERDICTS[1] if (saturated & below).any() else VERDICTS[2]
    return Verdict(verdict, evidence, numbers)


def mean_embedding_link(x: torch.Tensor, sigma: float, *, atol: float = 1e-9) -> Verdict:
    """Finding 6: S_2 is minus log2 of the squared norm of an empirical mean embedding; α → 1 is von Neumann.

    With A = K/N for a Gaussian K_ij = κ(x_i, x_j) = exp(−‖x_i − x_j‖²/σ²),
    ‖A‖_F² = (1/N²) Σ_ij κ(x_i, x_j)² = ‖μ̂‖², μ̂ = (1/N) Σ_i φ(x_i) the empirical mean embedding under the
    kernel κ², itself Gaussian with width σ/√2 (κ² = exp(−2‖x − x'‖²/σ²)). Hence S_2(A) = −log2 ‖μ̂‖². The
    check computes S_2 with `renyi_entropy(K, 2)` and ‖μ̂‖² as the mean of the σ/√2 Gram matrix, and the α = 1
    entropy against −Σ λ log2 λ of A's eigenvalues (NumPy, float64).

    Verdict: both identities hold within `atol` bits → reproduced; one → partly; none → not reproduced.

    Args:
        x: (N, D) samples.
        sigma: kernel width σ of K.
    """
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"x must be (N, D) samples with N ≥ 2, got shape {tuple(x.shape)}")
    x = x.to(torch.float64)
    K = gaussian_gram(x, sigma)
    s2 = float(renyi_entropy(K, alpha=2.0))
    embedding_norm = float(gaussian_gram(x, sigma / math.sqrt(2.0)).mean())  # ‖μ̂‖² under κ²
    s2_embedding = -math.log2(embedding_norm)
    lam = np.clip(np.linalg.eigvalsh(K.numpy() / len(x)), 0.0, None)
    von_neumann = float(-(lam[lam > 0] * np.log2(lam[lam > 0])).sum())
    s1 = float(renyi_entropy(K, alpha=1.0))
    s101 = float(renyi_entropy(K, alpha=1.01))
    d2, d1 = abs(s2 - s2_embedding), abs(s1 - von_neumann)
    numbers = dict(S_2=s2, S_2_mean_embedding=s2_embedding, S_1=s1, S_1_von_neumann=von_neumann, S_1_01=s101,
                   difference_S_2=d2, difference_S_1=d1, n=len(x), sigma=sigma)
    within = lambda d: f"< {atol:.0e}" if d < atol else f"= {d:.1e}"  # noqa: E731
    evidence = (f"on {len(x)} seeded samples, σ = {sigma:g}: S_2 = {s2:.4f} bits, −log2 ‖μ̂‖² = {s2_embedding:.4f} "
                f"(|Δ| {within(d2)}); S_1 = {s1:.4f}, −Σ λ log2 λ = {von_neumann:.4f} (|Δ| {within(d1)}); "
                f"S_1.01 − S_1 = {s101 - s1:+.3f} bits")
    return Verdict(_grade((d2 < atol) + (d1 < atol), 2), evidence, numbers)


def _reductions(info: dict) -> tuple[list[str], list[str]]:
    """What run.json says an experiment left out of the paper's protocol, and why it may be stale."""
    reduced, stale = [], []
    exp = info.get("experiment")
    if isinstance(exp, dict):
        dataset = exp.get("dataset")
        runs, epochs = len(exp.get("seeds", [])), exp.get("epochs")
        if dataset in PAPER_RUNS and runs < PAPER_RUNS[dataset]:
            reduced.append(f"{runs} of {PAPER_RUNS[dataset]} runs")
        if dataset in PAPER_EPOCHS and epochs is not None and epochs < PAPER_EPOCHS[dataset]:
            reduced.append(f"{epochs} of {PAPER_EPOCHS[dataset]} epochs")
        if exp.get("train_size") is not None:
            reduced.append(f"{exp['train_size']} training images")
        width = (exp.get("model_options") or {}).get("width", 1.0)
        if width < 1:
            reduced.append(f"width {width:g}")
        if dataset in PAPER_N_TEST and exp.get("n_test") not in (None, PAPER_N_TEST[dataset]):
            reduced.append(f"test stream {exp['n_test']} (paper {PAPER_N_TEST[dataset]})")
        # Settings that do not change a result (where it is saved, progress bars) do not make it stale, nor do
        # fields added later whose neutral value changes nothing (`ADDED_LATER`).
        lacks = [f.name for f in dataclasses.fields(Experiment)
                 if f.name not in exp and f.name not in NOT_DEFINING and f.name not in ADDED_LATER]
        if lacks:
            more = f" and {len(lacks) - 3} more" if len(lacks) > 3 else ""
            stale.append(f"older ipkit, run.json lacks {', '.join(lacks[:3])}{more}")
    params = info.get("parameters")
    if isinstance(params, dict) and params.get("vgg_width", 1.0) < 1:
        reduced.append(f"VGG-16 width {params['vgg_width']:g}, {params.get('vgg_epochs')} epoch(s)")
    return reduced, stale


def experiment_label(name: str, info: dict) -> str:
    """The experiment's folder name, with what its run.json says is reduced or stale in brackets."""
    reduced, stale = _reductions(info)
    notes = ([f"reduced: {', '.join(reduced)}"] if reduced else []) + ([f"stale: {'; '.join(stale)}"] if stale
                                                                        else [])
    return f"{name} [{'; '.join(notes)}]" if notes else name


def _folders(root: Path, *tables: str) -> list[Path]:
    """Result folders under root holding one of the files `tables`, paper settings first; temporary and old copies
    skipped."""
    found = {p.parent for table in tables for p in root.rglob(table)
             if not any(part.startswith(".") or part.endswith(".old") for part in p.relative_to(root).parts)}
    return sorted(found, key=lambda f: (not f.relative_to(root).as_posix().startswith("paper/"),
                                        f.relative_to(root).as_posix()))


def _plain(value):
    """A number for JSON: NumPy scalars as Python ones, floats to 4 decimals, NA and non-finite as null."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    return value


def _row(finding: int, experiment: str, result: Verdict) -> dict:
    numbers = json.dumps({k: _plain(v) for k, v in result.numbers.items()})
    return dict(finding=finding, claim=CLAIMS[finding], experiment=experiment, verdict=result.verdict,
                evidence=result.evidence, numbers=numbers)


def experiment_findings(results, experiment: str = "this run") -> list[dict]:
    """The findings one experiment's results bear on, judged: MNIST networks (MLP, CNN) → findings 1, 2, 4;
    VGG-16 → 3, 4; any other network → 4. One row per finding with the columns of `findings_table`.

    Args:
        results: an `ipkit.experiment.Results` (its run.json's experiment says the dataset and model).
        experiment: what the rows' experiment column says.
    """
    exp = results.info.get("experiment", {})
    rows = []
    if exp.get("dataset") == "mnist" and exp.get("model") in ("mlp", "cnn"):
        rows.append(_row(1, experiment, fitting_then_compression(results.ip)))
        rows.append(_row(2, experiment, early_stopping_before_compression(results.ip, results.early_stopping)))
    if exp.get("model") == "vgg16":
        rows.append(_row(3, experiment, vgg16_information_plane(results.ip)))
    rows.append(_row(4, experiment, data_processing_inequality(dpi_fractions(results.ip))))
    return rows


def findings_table(root="results") -> pd.DataFrame:
    """Every finding evaluated on every result folder under `root` that it applies to; missing ones are skipped.

    Folders with an IP table, ip.csv.gz or an older folder's ip.csv (results/<notebook>/,
    results/05_early_stopping/<network>/, results/paper/<name>/, read with `ipkit.experiment.load_results`): MNIST
    networks → findings 1, 2, 4; VGG-16 → findings 3, 4; an IP table with a `setting` column (notebook 06's, which
    judges each setting itself) is skipped. Folders with saturation.csv (notebook 04) → finding 5. Finding 6 is a
    numerical check on 100 seeded uniform samples in [0, 1]^784 (MNIST's shape and scale) with σ = 8 (σ_X), run
    whatever exists. The experiment column is the folder relative to `root`, labelled with what its run.json says
    is reduced (fewer runs or epochs than the paper, a subset, a narrower network, another test-stream size) or
    stale (made by an older ipkit).

    Returns:
        Columns finding (1–6), claim, experiment, verdict, evidence, numbers (JSON), ordered by finding with
        paper-settings experiments first.
    """
    root = Path(root)
    rows = []
    for folder in _folders(root, "ip.csv.gz", "ip.csv"):
        if "setting" in pd.read_csv(table_path(folder, "ip"), nrows=0).columns:
            continue  # notebook 06's: each run measured under several settings, judged per setting there
        results = load_results(folder)
        rows += experiment_findings(results, experiment_label(folder.relative_to(root).as_posix(), results.info))
    for folder in _folders(root, "saturation.csv"):
        info = json.loads((folder / "run.json").read_text()) if (folder / "run.json").is_file() else {}
        label = experiment_label(folder.relative_to(root).as_posix(), info)
        rows.append(_row(5, label, multivariate_saturation(pd.read_csv(folder / "saturation.csv"))))
    x = torch.rand(100, 784, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rows.append(_row(6, "numerical check (100 seeded uniform samples in 784 dimensions, σ = 8)",
                     mean_embedding_link(x, 8.0)))
    return pd.DataFrame(rows, columns=COLUMNS).sort_values("finding", kind="stable", ignore_index=True)


def findings_markdown(table: pd.DataFrame) -> str:
    """The findings table as Markdown: one row per finding and experiment, the claim on a finding's first row."""
    lines = ["| # | finding | experiment | verdict | evidence |", "| --- | --- | --- | --- | --- |"]
    previous = None
    for r in table.itertuples():
        cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        first = str(r.finding) != previous
        name, _, note = str(r.experiment).partition(" [")
        experiment = f"`{cell(name)}`" + (f" [{cell(note)}" if note else "")
        lines.append(f"| {r.finding if first else ''} | {cell(r.claim) if first else ''} | {experiment} "
                     f"| **{r.verdict}** | {cell(r.evidence)} |")
        previous = str(r.finding)
    return "\n".join(lines) + "\n"
