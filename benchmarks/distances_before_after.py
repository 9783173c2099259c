"""What the distances cost in one layer's whole estimate: this checkout's two paths and an earlier commit's.

Times one layer's estimate as the tracker makes it (`estimator.ipkit_estimate`: distances, the 300-candidate width
search, the entropies) on the inputs of benchmarks/estimator.py with three versions of `ipkit.kernels._sq_dists`,
interleaved in one process (the order reversed every other round): this checkout's with `TUNED_CPU_GRAM` on (the
default) and off (the plain centred Gram trick), and the `_sq_dists` of a base commit's ipkit/kernels.py (f0a5a51,
before the refactor of issue 16), loaded from git. Prints per layer the median times and the medians of the
per-round ratios plain / tuned (what the tuned path pays; it stays only at ≥ 1.3× somewhere) and this / base (the
default against the base; above 1: slower). Threads: OMP_NUM_THREADS.

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
    this = ipkit.kernels._sq_dists
    versions = {"tuned": (this, True), "plain": (this, False), "base": (base_sq_dists(args.base), True)}
    print(f"one layer's estimate, N = 100, 300 candidates, {torch.get_num_threads()} threads; base {args.base}")
    for name, shape, d_input in LAYERS:
        x, t, y = estimator.make_inputs(100, shape, d_input)
        times = {label: [] for label in versions}
        for r in range(args.rounds):
            for label in list(versions) if r % 2 == 0 else list(versions)[::-1]:
                ipkit.kernels._sq_dists, ipkit.kernels.TUNED_CPU_GRAM = versions[label]
                estimator.ipkit_estimate(x, t, y, 1.0, 300)  # warm-up
                start = time.perf_counter()
                estimator.ipkit_estimate(x, t, y, 1.0, 300)
                times[label].append(time.perf_counter() - start)
        ipkit.kernels._sq_dists, ipkit.kernels.TUNED_CPU_GRAM = versions["tuned"]
        ms = "  ".join(f"{label} {1e3 * statistics.median(times[label]):6.2f} ms" for label in versions)
        print(f"  {name:13s} {ms}  plain/tuned {ratio(times['plain'], times['tuned'])}  "
              f"this/base {ratio(times['tuned'], times['base'])}")


def ratio(a, b) -> str:
    """Median of the per-round ratios a / b, with their range."""
    ratios = [p / q for p, q in zip(a, b)]
    return f"{statistics.median(ratios):.2f} (rounds {min(ratios):.2f}–{max(ratios):.2f})"


if __name__ == "__main__":
    main()
