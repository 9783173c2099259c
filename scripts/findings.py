"""The paper's findings, judged from the result tables: writes results/findings.csv, results/findings.md and the
README's "What we reproduced" table (between <!-- findings:start --> and <!-- findings:end -->), and the README's
robustness table (between <!-- robustness:start --> and <!-- robustness:end -->) from notebook 06's verdicts.csv
(the paper profile's if it exists, else the reduced profile's, else the quick one's).

    python scripts/findings.py                 # evaluate every finding on results/, write the three files
    python scripts/findings.py --check         # exit 1 and print the difference if the README's table or
                                               # findings.md is not the rendering of results/findings.csv
    python scripts/findings.py --root R --readme README.md
"""

import argparse
import difflib
import sys
from pathlib import Path

import pandas as pd

from ipkit.findings import findings_markdown, findings_table
from ipkit.robustness import survival_markdown

START, END = "<!-- findings:start -->", "<!-- findings:end -->"
ROBUSTNESS = ("<!-- robustness:start -->", "<!-- robustness:end -->")
ROBUSTNESS_FOLDERS = ("paper/06_robustness", "paper/reduced/06_robustness", "06_robustness")  # first found is used
REPO = Path(__file__).resolve().parents[1]


def readme_section(text: str, markers=(START, END)) -> str:
    """What the README holds between the markers (without them)."""
    start, end = markers
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"the README must hold {start} and then {end} once each, around its generated table")
    return text[text.index(start) + len(start):text.index(end)].strip("\n") + "\n"


def with_section(text: str, table_md: str, markers=(START, END)) -> str:
    """The README text with the markers' content replaced by `table_md`."""
    start, end = markers
    readme_section(text, markers)  # checks the markers
    return text[:text.index(start) + len(start)] + "\n" + table_md + text[text.index(end):]


def robustness_markdown(root: Path) -> str:
    """The robustness section: notebook 06's verdicts per setting, from the first of `ROBUSTNESS_FOLDERS`."""
    for folder in ROBUSTNESS_FOLDERS:
        csv = root / folder / "verdicts.csv"
        if csv.is_file():
            verdicts = pd.read_csv(csv, keep_default_na=False)
            return f"From `{csv.relative_to(root.parent).as_posix()}`:\n\n" + survival_markdown(verdicts)
    return "No results of notebook 06 yet: run `./run_all.sh` (quick) or `./run_all.sh reduced`.\n"


def read_findings(path: Path) -> pd.DataFrame:
    """findings.csv as strings (so that rendering it gives exactly what rendering the computed table gave)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def markdown_file(table_md: str) -> str:
    return ("# Findings of the paper, judged from the result tables\n\n"
            "Made by `scripts/findings.py` from `findings.csv`; thresholds and rules: `ipkit/findings.py`.\n\n"
            + table_md)


def check(root: Path, readme: Path) -> int:
    csv = root / "findings.csv"
    if not csv.is_file():
        print(f"no {csv}: run scripts/findings.py first", file=sys.stderr)
        return 1
    expected = findings_markdown(read_findings(csv))
    status = 0
    text = readme.read_text()
    robustness = ([(f"{readme} (robustness)", readme_section(text, ROBUSTNESS), robustness_markdown(root))]
                  if ROBUSTNESS[0] in text else [])
    for name, found, want in ((str(readme), readme_section(text), expected), *robustness,
                              (str(root / "findings.md"),
                               (root / "findings.md").read_text() if (root / "findings.md").is_file() else "",
                               markdown_file(expected))):
        if found != want:
            status = 1
            print(f"{name} disagrees with {csv} (- {name}, + rendered from findings.csv):")
            sys.stdout.writelines(difflib.unified_diff(found.splitlines(True), want.splitlines(True), name, str(csv)))
    if status == 0:
        print(f"{readme} and {root / 'findings.md'} agree with {csv} (and the robustness table with its verdicts)")
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO / "results", help="the results folder (default results/)")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md", help="the README to update")
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = parser.parse_args(argv)
    try:
        if args.check:
            return check(args.root, args.readme)
        text = args.readme.read_text()
        readme_section(text)  # fail before writing anything if the markers are missing
    except ValueError as err:
        print(f"{args.readme}: {err}", file=sys.stderr)
        return 2
    table = findings_table(args.root)
    table.to_csv(args.root / "findings.csv", index=False)
    table_md = findings_markdown(read_findings(args.root / "findings.csv"))
    (args.root / "findings.md").write_text(markdown_file(table_md))
    text = with_section(text, table_md)
    if ROBUSTNESS[0] in text:
        text = with_section(text, robustness_markdown(args.root), ROBUSTNESS)
    args.readme.write_text(text)
    counts = table.groupby("finding")["verdict"].agg(lambda v: ", ".join(f"{k}: {n}" for k, n in
                                                                         v.value_counts().items()))
    print(f"wrote {args.root / 'findings.csv'}, {args.root / 'findings.md'} and the table in {args.readme}")
    for finding, verdicts in counts.items():
        print(f"  finding {finding}: {verdicts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
