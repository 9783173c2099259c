"""Seeds in parallel: one experiment's 2 seeds on a 2-worker dask LocalCluster against the same seeds in process.

The experiment is the paper's MLP on an MNIST subset, measured every step on the training batch and on fresh test
samples, one torch thread per run (in process and in each worker, so the tables must agree bit for bit, which is
checked). Wall times: the in-process run; the parallel run as a user sees it (starting the cluster, the
workers' imports, the runs, shutting down). speedup = in-process / parallel; on a machine whose cores are busy
with other work it says little about an idle one (the load average is recorded).

    python benchmarks/seeds.py                  # writes results/benchmarks/seeds.json
    python benchmarks/seeds.py --quick          # seconds-long smoke run, JSON under results/benchmarks/.tmp-quick/
    python benchmarks/seeds.py --train-size 5000 --epochs 2
"""

import argparse
import datetime
import os
import platform
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

from ipkit.experiment import Experiment, run_experiment
from report import write_report  # benchmarks/report.py: where the JSON goes



def timed(exp: Experiment, scheduler: str | None):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate-width warnings of a short run are not the point here
        results = run_experiment(exp, scheduler=scheduler)
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 training images (3 steps), for a smoke test")
    parser.add_argument("--train-size", type=int, default=2000, help="training images before the 10 %% validation split")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-root", default=os.environ.get("IPKIT_DATA"))
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default results/benchmarks/seeds.json, or under results/benchmarks/.tmp-quick/ "
                             "with --quick)")
    args = parser.parse_args()
    exp = Experiment(model="mlp", seeds=(0, 1), train_size=300 if args.quick else args.train_size, test_size=1000,
                     epochs=args.epochs, n=100, n_test=100, device="cpu", threads=1, data_root=args.data_root,
                     progress=False)
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    in_process_s, serial = timed(exp, None)
    parallel_s, parallel = timed(exp, "local:2")
    identical = all(getattr(serial, name).equals(getattr(parallel, name))
                    for name in ("ip", "log", "early_stopping", "summary"))
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "pandas": pd.__version__, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "quick": args.quick, "seeds": len(exp.seeds), "workers": 2, "threads_per_run": 1,
        "train_samples": serial.info["train_samples"], "epochs": exp.epochs,
        "steps_per_seed": int(serial.summary["steps"].iloc[0]), "n": exp.n, "n_test": exp.n_test,
        "in_process_seconds": in_process_s, "parallel_seconds": parallel_s,
        "parallel_task_seconds": parallel.info["seconds"],  # the runs themselves, summed over the workers
        "speedup": in_process_s / parallel_s, "identical_tables": identical,
    }
    out = write_report(report, "seeds", args.quick, args.out)
    print(f"2 seeds, {report['steps_per_seed']} steps each: in process {in_process_s:.1f} s, on 2 workers "
          f"{parallel_s:.1f} s (speed-up {report['speedup']:.2f}x), tables identical: {identical}; "
          f"load average {load_before[0]:.1f} on {os.cpu_count()} cores -> {out}")


if __name__ == "__main__":
    main()
