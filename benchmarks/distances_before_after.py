"""What the distances of an earlier commit would change in one layer's whole estimate, in one process.

Issue 16 made the distances the plain centred Gram trick. This script loads the `_sq_dists` of a base commit's
ipkit/kernels.py (f0a5a51: a blocked lower-triangle product, rows used uncentred up to κ = 16) next to this
checkout's, and times one layer's estimate as the tracker makes it (`estimator.ipkit_estimate`: distances, the
300-candidate width search, the entropies) with each, interleaved (the order flipped every round), on the inputs of
benchmarks/estimator.py. Prints per layer the median times and the median of the per-round ratios (this / base;
above 1: this checkout is slower). Threads: OMP_NUM_THREADS.

    python benchmarks/distances_before_after.py --base f0a5a51 --rounds 15
"""

import argparse
import statistics
import subprocess
import time
import types
from pathlib import Path

import torch

import estimator  # benchmarks/estimator.py: inputs and the estimate
import ipkit.kernels

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [("MLP fc1", (1024,), 784), ("CNN conv2", (8, 24, 24), 784), ("VGG-16 conv1", (64, 32, 32), 3072)]


def base_sq_dists(rev: str):
    """The `_sq_dists` of ipkit/kernels.py at commit `rev`, executed as a module of its own."""
    source = subprocess.run(["git", "show", f"{rev}:ipkit/kernels.py"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout
    module = types.ModuleType(f"kernels_{rev}")
    exec(compile(source, f"{rev}:ipkit/kernels.py", "exec"), module.__dict__)
    return module._sq_dists


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="f0a5a51")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    versions = {"base": base_sq_dists(args.base), "this": ipkit.kernels._sq_dists}
    print(f"one layer's estimate, N = 100, 300 candidates, {torch.get_num_threads()} threads; base {args.base}")
    for name, shape, d_input in LAYERS:
        x, t, y = estimator.make_inputs(100, shape, d_input)
        times = {"base": [], "this": []}
        for r in range(args.rounds):
            for label in ("base", "this") if r % 2 == 0 else ("this", "base"):
                ipkit.kernels._sq_dists = versions[label]
                estimator.ipkit_estimate(x, t, y, 1.0, 300)  # warm-up
                start = time.perf_counter()
                estimator.ipkit_estimate(x, t, y, 1.0, 300)
                times[label].append(time.perf_counter() - start)
        ipkit.kernels._sq_dists = versions["this"]
        ratios = [a / b for a, b in zip(times["this"], times["base"])]
        print(f"  {name:13s} base {1e3 * statistics.median(times['base']):6.2f} ms  this "
              f"{1e3 * statistics.median(times['this']):6.2f} ms  this/base {statistics.median(ratios):.2f} "
              f"(rounds {min(ratios):.2f}–{max(ratios):.2f})")


if __name__ == "__main__":
    main()
