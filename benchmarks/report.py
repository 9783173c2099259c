"""Where a benchmark writes its figures, and how: one JSON file per script.

The real figures go to results/benchmarks/<name>.json (committed, quoted by the README); a --quick smoke run's to
results/benchmarks/.tmp-quick/<name>.json, which git ignores, so that CI never replaces the real ones.
"""

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"


def write_report(report: dict, name: str, quick: bool = False, out: Path | None = None) -> Path:
    """Write `report` as indented JSON to `out`, or to the default place of benchmark `name`; return the path."""
    path = Path(out) if out else RESULTS / (".tmp-quick" if quick else "") / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
