"""One experiment's report, as notebooks 01–03 end: the checks run, then its tables and figures written into a
staging folder and published into the output folder; the tables a reader looks at next (the
compression per layer, the data processing inequality, the paper's findings judged on this run) come back.

Imports matplotlib (through ipkit.plot); `import ipkit` does not import this module.
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ipkit.analysis import compression, dpi_fractions
from ipkit.experiment import Results, check_results, publish, save_results, staging
from ipkit.findings import COLUMNS, experiment_findings
from ipkit.plot import experiment_figures


@dataclass
class Report:
    """What `report_experiment` published and judged."""

    output_dir: Path
    figures: dict  # figure name -> its file in output_dir
    compression: pd.DataFrame  # `ipkit.analysis.compression`: per layer and split, I(X;T)'s peak and fall after it
    dpi: pd.DataFrame  # `ipkit.analysis.dpi_fractions`, the rows of the whole chain (pair "all")
    findings: pd.DataFrame  # `ipkit.findings.experiment_findings`: finding, claim, verdict, evidence, numbers


def report_experiment(results: Results, output_dir, *, notebook: str, splits=("train", "test"),
                      accuracy_floor: float = 0.0, atol: float = 1e-6) -> Report:
    """Run `check_results` on one experiment's results and, only if they pass, write its tables (`save_results`) and
    figures (`ipkit.plot.experiment_figures`) into a staging folder that then replaces `output_dir` (`publish`): a
    broken run raises with the checks' message before anything is drawn, and leaves earlier results in place.

    Args:
        results: the experiment's `Results` (from `run_experiment`, or read back with `load_results`).
        output_dir: the folder to publish into.
        notebook: the notebook's name, recorded in run.json.
        splits: the splits measured.
        accuracy_floor, atol: passed to `check_results` (test accuracy floor; tolerance of the [0, log2 n] bounds).
    """
    check_results(results, accuracy_floor=accuracy_floor, atol=atol)  # before drawing: a broken table fails here
    stage = staging(output_dir)
    save_results(results, stage, notebook=notebook)
    figures = experiment_figures(results, stage, splits=splits)
    output_dir = publish(stage, output_dir)
    dpi = dpi_fractions(results.ip)
    findings = pd.DataFrame(experiment_findings(results), columns=COLUMNS).drop(columns="experiment")
    return Report(output_dir=output_dir, figures={name: output_dir / path.name for name, path in figures.items()},
                  compression=compression(results.ip), dpi=dpi[dpi.pair == "all"].reset_index(drop=True),
                  findings=findings)
