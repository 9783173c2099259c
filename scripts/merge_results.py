"""Merge the saved results of one experiment run on disjoint seeds into one results folder.

    python scripts/merge_results.py OUT DIR1 DIR2 ...

Each DIR is a folder written by `ipkit.experiment.save_results` (ip.csv.gz, training_log.csv.gz, ..., run.json;
or, from an older ipkit, plain ip.csv and training_log.csv) for the same Experiment apart from its seeds. The runs
follow the folders in the order given (give them in seed order), re-indexed 0..R−1
(`ipkit.experiment.merge_results`); OUT receives the merged tables (the per-step ones gzipped), dpi.csv and
compression.csv recomputed from them, and run.json with all seeds, the summed seconds and the first folder's
provenance. Exits 2 on a usage error (a folder without results, experiments that differ, a seed given twice).
"""

import argparse
import sys

from ipkit.experiment import load_results, merge_results, save_results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write the merged results into")
    parser.add_argument("dirs", nargs="+", help="results folders to merge, in seed order")
    args = parser.parse_args(argv)
    try:
        merged = merge_results([load_results(folder) for folder in args.dirs])
    except (FileNotFoundError, ValueError) as err:
        print(f"merge_results: {err}", file=sys.stderr)
        return 2
    save_results(merged, args.out, merged_from=[str(folder) for folder in args.dirs])
    seeds = merged.info["experiment"]["seeds"]
    print(f"merged {len(args.dirs)} folders, seeds {seeds}, into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
