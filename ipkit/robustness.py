"""Do the paper's findings survive the estimator? Findings 1, 2 and 4 judged under every estimation setting of
one training run (docs/method.md §6; notebook 06).

The IP table of an `ipkit.experiment.Experiment` run with `settings` holds each setting's rows under its name in
a `setting` column, all measured on the same training run (`ipkit.comparison.SettingsTracker`). The functions
here are pure functions of such tables: each setting's rows go, apart, through the verdict functions of
`ipkit.findings` — finding 1 (`fitting_then_compression`), finding 2 (`early_stopping_before_compression`, with
the run's early-stopping steps, shared by all settings since training is shared) and finding 4
(`data_processing_inequality` of `ipkit.analysis.dpi_fractions`) — with the same thresholds for every setting.
The figure imports matplotlib inside the function, so `import ipkit.robustness` does not load it.
"""

import json
import math

import pandas as pd

from ipkit.analysis import dpi_fractions
from ipkit.findings import (CLAIMS, VERDICTS, _plain, _share, data_processing_inequality,
                            early_stopping_before_compression, fitting_then_compression)

FINDINGS = (1, 2, 4)
COLUMNS = ["network", "setting", "estimator", "n", "n_test", "overrides", "finding", "claim", "verdict", "evidence",
           "numbers"]
COLOURS = {"reproduced": "#4daf4a", "partly": "#ffd92f", "not reproduced": "#e41a1c"}
SHORT = {"reproduced": "yes", "partly": "partly", "not reproduced": "no"}


def setting_verdicts(ip: pd.DataFrame, early_stopping: pd.DataFrame, *, window: int = 5,
                     min_compression: float = 0.2, mostly: float = 0.8) -> pd.DataFrame:
    """Verdicts of findings 1, 2 and 4 for every (network, setting) of an IP table.

    Args:
        ip: IP rows with a `setting` column (`Experiment(settings=...)`), and a `network` column when several
            networks are judged at once; splits "train" and "test" (finding 1 compares them).
        early_stopping: early-stopping steps (columns patience, stop_step, run), with a `network` column when `ip`
            has one; one table per network serves all its settings (they share the training run).
        window, min_compression: passed to findings 1 and 2 (smoothing, in measurements; bits a layer must
            lose to compress). mostly: finding 4's "mostly satisfied" fraction.

    Returns:
        One row per (network, setting, finding) in the order they first appear, findings 1, 2, 4: network (""
        without a network column), setting, estimator, n and n_test (the sample sizes of the setting's train and
        test rows, the largest when they vary), overrides, finding, claim, verdict, evidence, numbers (JSON).

    Raises:
        ValueError: no `setting` column; a network of `ip` missing from `early_stopping`.
    """
    if "setting" not in ip.columns:
        raise ValueError("ip has no 'setting' column: pass the IP table of an Experiment run with settings")
    networks = "network" in ip.columns
    if networks and "network" not in early_stopping.columns:
        raise ValueError("ip has a 'network' column but early_stopping has none: give both tables the column")
    rows = []
    for network, net_ip in (ip.groupby("network", sort=False) if networks else [("", ip)]):
        stops = early_stopping[early_stopping["network"] == network] if networks else early_stopping
        if stops.empty:
            raise ValueError(f"early_stopping has no rows of network {network!r}")
        for setting, rows_s in net_ip.groupby("setting", sort=False):
            verdicts = {1: fitting_then_compression(rows_s, window=window, min_compression=min_compression),
                        2: early_stopping_before_compression(rows_s, stops, window=window,
                                                             min_compression=min_compression),
                        4: data_processing_inequality(dpi_fractions(rows_s), mostly=mostly)}
            sizes = rows_s.groupby("split")["n"].max()
            for finding, v in verdicts.items():
                rows.append(dict(network=network, setting=setting, estimator=rows_s["estimator"].iloc[0],
                                 n=int(sizes.get("train", 0)), n_test=int(sizes.get("test", 0)),
                                 overrides=rows_s["overrides"].iloc[0], finding=finding, claim=CLAIMS[finding],
                                 verdict=v.verdict, evidence=v.evidence,
                                 numbers=json.dumps({k: _plain(x) for k, x in v.numbers.items()})))
    return pd.DataFrame(rows, columns=COLUMNS)


def verdict_grid(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdicts as a grid: one row per setting (in order), one column per (network, finding)."""
    grid = verdicts.pivot(index="setting", columns=["network", "finding"], values="verdict")
    return grid.reindex(index=list(dict.fromkeys(verdicts["setting"])),
                        columns=list(dict.fromkeys(zip(verdicts["network"], verdicts["finding"]))))


def survival(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per finding and setting, in how many networks the finding is reproduced, partly, or not.

    Returns:
        Columns finding, setting, reproduced, partly, not reproduced (counts of networks), networks.
    """
    counts = verdicts.groupby(["finding", "setting"], sort=False)["verdict"].value_counts().unstack(fill_value=0)
    counts = counts.reindex(columns=list(VERDICTS), fill_value=0)
    counts["networks"] = counts.sum(axis=1)
    return counts.reset_index().rename_axis(columns=None)


def survival_markdown(verdicts: pd.DataFrame) -> str:
    """The verdicts as Markdown: a row per setting, a column per finding, each cell every network's verdict
    ("yes", "partly", "no"), then one line per finding naming the settings under which it is reproduced in every
    network, in some, and in none, and, where finding 4's numbers count them, a line naming the settings and
    networks whose layers are saturated (H(T) at log2 N) in some of its comparisons."""
    networks = list(dict.fromkeys(verdicts["network"]))
    findings = list(dict.fromkeys(verdicts["finding"]))
    grid = verdict_grid(verdicts)
    lines = ["| setting | " + " | ".join(f"finding {f}" for f in findings) + " |",
             "| --- |" + " --- |" * len(findings)]
    for setting, row in grid.iterrows():
        cells = [", ".join(f"{network} {SHORT[row[(network, f)]]}" for network in networks) for f in findings]
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    lines.append("")
    counts = survival(verdicts)
    for f in findings:
        rows = counts[counts["finding"] == f]
        everywhere = rows.loc[rows["reproduced"] == rows["networks"], "setting"].tolist()
        nowhere = rows.loc[rows["not reproduced"] == rows["networks"], "setting"].tolist()
        some = [s for s in rows["setting"] if s not in everywhere and s not in nowhere]
        name = lambda settings: ", ".join(settings) or "none"  # noqa: E731
        lines.append(f"- Finding {f} is reproduced in every network under: {name(everywhere)}; in some (or partly) "
                     f"under: {name(some)}; in none under: {name(nowhere)}.")
    saturated = _saturated_comparisons(verdicts)
    if saturated:
        lines.append("- Finding 4 where both layers are saturated (H(T) at log2 N, so the inequality holds "
                     f"whatever the network does), in up to this share of a split's comparisons: {saturated}.")
    return "\n".join(lines) + "\n"


def _saturated_comparisons(verdicts: pd.DataFrame) -> str:
    """'setting: network 77%, …; …' from finding 4's frac_saturated numbers (those above 0), or ''."""
    if "numbers" not in verdicts:
        return ""
    rows = verdicts[verdicts["finding"] == 4]
    share = rows["numbers"].map(lambda numbers: json.loads(numbers).get("frac_saturated", 0.0))
    rows = rows.assign(share=share)[share > 0]
    return "; ".join(f"{setting}: " + ", ".join(f"{r.network} {_share(r.share)}" for r in part.itertuples())
                     for setting, part in rows.groupby("setting", sort=False))


def robustness_problems(ip: pd.DataFrame, verdicts: pd.DataFrame, settings: dict, networks, *,
                        atol: float = 1e-4) -> list[str]:
    """Notebook 06's checks of its own results; returns the failed ones as sentences (empty: all passed).

    Checks: every (network, setting) has rows on both splits; a setting that asks for an N (`settings[name]["n"]`)
    has it as the largest N of its training rows (a last, smaller batch may hold fewer); every estimate finite
    and within [0, log2 n] (up to `atol`); one verdict, a valid one, per (network, setting, finding 1, 2, 4).

    Args:
        ip: IP rows of all networks (columns network, setting).
        verdicts: `setting_verdicts` of them.
        settings: setting name -> what it sets; its "n", when given, is the N its training rows must have.
        networks: the network names that must be there.
    """
    problems = []
    for network in networks:
        for name, setting in settings.items():
            rows = ip[(ip["network"] == network) & (ip["setting"] == name)]
            if set(rows["split"]) != {"train", "test"}:
                problems.append(f"{network} / {name}: rows on splits {sorted(set(rows['split']))}, not train and "
                                "test")
                continue
            if "n" in setting and rows.loc[rows["split"] == "train", "n"].max() != setting["n"]:
                problems.append(f"{network} / {name}: training rows measured on N = "
                                f"{rows.loc[rows['split'] == 'train', 'n'].max()}, not {setting['n']}")
    values = ip[["H_T", "I_XT", "I_TY"]]
    top = ip["n"].map(math.log2)
    if not values.apply(lambda c: c.map(math.isfinite)).all().all():
        problems.append("some estimates are NaN or Inf")
    elif ((values.lt(-atol)) | values.gt(top + atol, axis=0)).any().any():
        problems.append(f"estimates outside [0, log2 n]: {values.min().min():.5f} .. {values.max().max():.5f}")
    expected = {(net, name, f) for net in networks for name in settings for f in FINDINGS}
    found = list(zip(verdicts["network"], verdicts["setting"], verdicts["finding"]))
    if set(found) != expected or len(found) != len(expected):
        missing, extra = sorted(expected - set(found)), sorted(set(found) - expected)
        problems.append(f"verdicts: {len(found)} rows for {len(expected)} (network, setting, finding); missing "
                        f"{missing[:5]}, unexpected {extra[:5]}")
    if not verdicts["verdict"].isin(VERDICTS).all():
        problems.append(f"verdicts outside {VERDICTS}: {sorted(set(verdicts['verdict']) - set(VERDICTS))}")
    return problems


def verdicts_figure(verdicts: pd.DataFrame):
    """A setting × finding grid of verdicts, one panel per network: green "yes" (reproduced), yellow "partly",
    red "no" (not reproduced); from `setting_verdicts` rows."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    networks = list(dict.fromkeys(verdicts["network"]))
    settings = list(dict.fromkeys(verdicts["setting"]))
    findings = list(dict.fromkeys(verdicts["finding"]))
    code = {v: i for i, v in enumerate(VERDICTS)}
    fig, axes = plt.subplots(1, len(networks), figsize=(1.2 + 2.2 * len(networks), 0.9 + 0.38 * len(settings)),
                             sharey=True, layout="constrained", squeeze=False)
    for ax, network in zip(axes[0], networks):
        rows = verdicts[verdicts["network"] == network]
        grid = rows.pivot(index="setting", columns="finding", values="verdict").reindex(index=settings,
                                                                                       columns=findings)
        ax.imshow(grid.apply(lambda c: c.map(code)).to_numpy(float), cmap=ListedColormap(list(COLOURS.values())),
                  vmin=-0.5, vmax=len(VERDICTS) - 0.5, aspect="auto")
        for (y, x), verdict in pd.DataFrame(grid.to_numpy()).stack().items():  # the words, not only the colours
            ax.text(x, y, SHORT[verdict], ha="center", va="center", fontsize="x-small")
        ax.set_xticks(range(len(findings)), [f"finding {f}" for f in findings], fontsize="small")
        ax.set_yticks(range(len(settings)), settings, fontsize="small")
        ax.set_xticks([x + 0.5 for x in range(len(findings) - 1)], minor=True)
        ax.set_yticks([y + 0.5 for y in range(len(settings) - 1)], minor=True)
        ax.grid(which="minor", color="white", lw=2)
        ax.tick_params(which="minor", length=0)
        ax.set_title(network or "verdicts", fontsize="medium")
    fig.legend(handles=[Patch(color=c, label=v) for v, c in COLOURS.items()], loc="outside lower center", ncol=3,
               fontsize="small")
    return fig
