"""Compare a rerun's results folder against the committed one, table by table, within stated tolerances.

    python scripts/compare_results.py RERUN                 # RERUN/**/*.csv[.gz] against results/**/*.csv[.gz]
    python scripts/compare_results.py RERUN --against results/paper
    python scripts/compare_results.py RERUN --atol 1e-5 --tol test_loss=1e-4

Every CSV file found under both folders at the same relative path is compared column by column, rows in order
(a gzipped one, name.csv.gz as `save_results` writes the per-step tables, counts as name.csv: it is compared
with name.csv or name.csv.gz in the other folder, so a rerun compares with results made before the tables were
gzipped):
- floating-point columns (the estimates H_T, I_XT, I_TY, sigma_T, H_X, ..., losses, accuracies) within an
  absolute tolerance, default 1e-6 (bits, for the entropies and MI); `--tol COLUMN=ATOL` sets one column's;
- integer and text columns exactly (steps, layer names, counts), and every column whose name contains "verdict"
  (those of results/findings.csv);
- wall-time columns (`seconds`, `*_seconds`, `*_s`, `time`, `wall_time`) not at all.
NaN equals NaN. A table whose columns or row count differ is reported as a whole. Files under only one folder
are listed but do not count as differences (a partial rerun with --only is normal); hidden folders (.tmp-*) and
*.old folders are skipped.

What reproduces exactly: the same machine type, library versions and thread count (run_all.sh --threads) give
identical tables. Another thread count or CPU changes the 7th digit at the first step and the runs then drift
apart, so compare those with a looser --atol and judge by the summary tables and the verdicts.

Prints one line per difference (file, column, rows differing, largest difference) and exits 1 if anything
differs beyond tolerance, 0 if nothing does, 2 on a usage error (a folder missing, no table in common).
"""

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_ATOL = 1e-6
IGNORED_COLUMNS = re.compile(r"^(seconds|.*_seconds|.*_s|time|wall_time)$")


def csv_files(folder: Path) -> dict[str, Path]:
    """Relative path (name.csv also for name.csv.gz) -> file for every CSV under `folder`, gzipped or not,
    skipping hidden and *.old folders."""
    found = {}
    for path in [*folder.rglob("*.csv"), *folder.rglob("*.csv.gz")]:  # the .gz last: it wins over a stale .csv
        rel = path.relative_to(folder)
        if any(part.startswith(".") or part.endswith(".old") for part in rel.parts[:-1]):
            continue
        found[rel.as_posix().removesuffix(".gz")] = path
    return dict(sorted(found.items()))


def compare_tables(rerun: pd.DataFrame, committed: pd.DataFrame, atol: float,
                   tolerances: dict[str, float]) -> list[str]:
    """Differences beyond tolerance between two tables, one message each (empty when they agree)."""
    if list(rerun.columns) != list(committed.columns):
        only_rerun = [c for c in rerun.columns if c not in committed.columns]
        only_committed = [c for c in committed.columns if c not in rerun.columns]
        return [f"columns differ: rerun {list(rerun.columns)}, committed {list(committed.columns)} "
                f"(only in rerun {only_rerun}, only committed {only_committed})"]
    if len(rerun) != len(committed):
        return [f"{len(rerun)} rows in the rerun, {len(committed)} committed"]
    problems = []
    for column in committed.columns:
        if IGNORED_COLUMNS.match(column):
            continue
        a, b = rerun[column], committed[column]
        both_float = pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b)
        both_numeric = pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b)
        if both_numeric and both_float and "verdict" not in column:
            tol = tolerances.get(column, atol)
            x, y = a.to_numpy(np.float64), b.to_numpy(np.float64)
            nan_mismatch = np.isnan(x) != np.isnan(y)
            diff = np.where(np.isnan(x) | np.isnan(y), 0.0, np.abs(x - y))
            bad = nan_mismatch | (diff > tol)
            if bad.any():
                largest = f"largest difference {diff.max():.3g}"
                if nan_mismatch.any():
                    largest += f", NaN against a number in {int(nan_mismatch.sum())} rows"
                problems.append(f"column {column}: {int(bad.sum())} of {len(x)} rows differ by more than "
                                f"atol={tol:g}; {largest}")
        else:  # integers and text: exactly
            bad = ~((a == b) | (a.isna() & b.isna()))
            if bad.any():
                first = int(np.flatnonzero(bad.to_numpy())[0])
                problems.append(f"column {column}: {int(bad.sum())} of {len(a)} rows differ (exact column); "
                                f"first at row {first}: rerun {a.iloc[first]!r}, committed {b.iloc[first]!r}")
    return problems


def parse_tolerances(items: list[str]) -> dict[str, float]:
    """["test_loss=1e-4", ...] -> {"test_loss": 1e-4, ...}."""
    tolerances = {}
    for item in items:
        column, _, value = item.partition("=")
        try:
            tolerances[column] = float(value)
        except ValueError:
            tolerances[column] = float("nan")
        if not column or not tolerances[column] >= 0:
            raise ValueError(f"--tol takes COLUMN=ATOL with ATOL >= 0, e.g. --tol test_loss=1e-4; got {item!r}")
    return tolerances


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rerun", type=Path, help="the rerun's results folder")
    parser.add_argument("--against", type=Path, default=Path("results"),
                        help="the committed results folder (default: results)")
    parser.add_argument("--atol", type=float, default=DEFAULT_ATOL,
                        help=f"absolute tolerance of floating-point columns (default {DEFAULT_ATOL:g})")
    parser.add_argument("--tol", action="append", default=[], metavar="COLUMN=ATOL",
                        help="tolerance of one column, overriding --atol (repeatable)")
    args = parser.parse_args(argv)
    if not args.atol >= 0:
        parser.error(f"--atol must be >= 0, got {args.atol}")
    try:
        tolerances = parse_tolerances(args.tol)
    except ValueError as error:
        parser.error(str(error))
    for folder in (args.rerun, args.against):
        if not folder.is_dir():
            print(f"error: {folder} is not a folder", file=sys.stderr)
            return 2
    rerun, committed = csv_files(args.rerun), csv_files(args.against)
    common = [rel for rel in committed if rel in rerun]
    if not common:
        print(f"error: no CSV file in common between {args.rerun} and {args.against} "
              "(compare folders of the same layout, e.g. a rerun's results/ against results/)", file=sys.stderr)
        return 2

    differing = 0
    for rel in common:
        problems = compare_tables(pd.read_csv(rerun[rel]), pd.read_csv(committed[rel]), args.atol, tolerances)
        differing += bool(problems)
        for problem in problems:
            print(f"DIFFERS  {rel}: {problem}")
    for rel in committed:
        if rel not in rerun:
            print(f"not compared (only in {args.against}): {rel}")
    for rel in rerun:
        if rel not in committed:
            print(f"not compared (only in {args.rerun}): {rel}")
    print(f"{len(common)} tables compared, {differing} differ beyond tolerance "
          f"(atol {args.atol:g}{', ' if tolerances else ''}{', '.join(f'{c} {t:g}' for c, t in tolerances.items())}; "
          "integer and text columns exact; wall-time columns ignored)")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
