"""Speed of this checkout against an earlier commit, in one run: the same workload, interleaved.

Issue 16 asks that the refactor cost at most 10 % of speed. This script times one fixed workload with the ipkit
of a base commit (a temporary `git worktree`) and with this checkout's, alternating the two in fresh processes
(the order flipped every round), and reports per item the median time of each and their ratio (this / base).
The workload uses only the public API both versions share, at their defaults:
  measure <model>   one `InformationPlaneTracker.measure` of all measured layers of the MLP, the small CNN (2023
                    variant) and VGG-16 (width 1/4), N = 100 random inputs, at step 1000 (the 100-point grid);
  sq_dists conv     `pairwise_sq_dists` of (100, 64, 16, 16) ReLU activations (the tensor kernel's distances);
  sq_dists offset   the same of uniform [0, 1) values, far from the origin against their spread (where a
                    centred copy is needed);
  entropy 16×100    `renyi_entropy` of 16 Gram matrices of 100 × 100 (one batched eigendecomposition).
A ratio above 1 means this checkout is slower. On a busy host run more rounds: the interleaving cancels slow
drifts, not bursts.

    python benchmarks/before_after.py --base f0a5a51            # writes results/benchmarks/before_after.json
    python benchmarks/before_after.py --base f0a5a51 --rounds 2 --repeats 3 --out /tmp/ba.json   # a smoke run

Threads: OMP_NUM_THREADS (both versions get the same; recorded).
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from report import write_report  # benchmarks/report.py: where the JSON goes

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh process with PYTHONPATH at one version's checkout; prints {item: median seconds} as JSON.
WORKLOAD = r"""
import json, statistics, sys, time
import torch
import ipkit
from ipkit.models import build_model

repeats = int(sys.argv[1])
g = torch.Generator().manual_seed(0)


def median_time(fn):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


out = {}
y = torch.randint(0, 10, (100,), generator=g)
for name, options, shape in [("mlp", {}, (1, 28, 28)), ("cnn", {"variant": "2023"}, (1, 28, 28)),
                             ("vgg16", {"width": 0.25}, (3, 32, 32))]:
    torch.manual_seed(0)
    tracker = ipkit.InformationPlaneTracker(build_model(name, **options), 10)
    x = torch.rand(100, *shape, generator=g)
    steps = iter(range(1000, 10**6))
    out[f"measure {name}"] = median_time(lambda: tracker.measure(x, y, step=next(steps), split="train"))
relu = torch.relu(torch.randn(100, 64, 16, 16, generator=g))  # a conv layer's activations: near the origin
out["sq_dists conv"] = median_time(lambda: ipkit.pairwise_sq_dists(relu))
offset = torch.rand(100, 64, 16, 16, generator=g)  # uniform in [0, 1]: far from the origin against its spread
out["sq_dists offset"] = median_time(lambda: ipkit.pairwise_sq_dists(offset))
K = torch.stack([ipkit.gaussian_gram(torch.rand(100, 30, generator=g), 3.0) for _ in range(16)])  # (16, 100, 100)
out["entropy 16x100"] = median_time(lambda: ipkit.renyi_entropy(K, 1.01))
print(json.dumps(out))
"""


def run_workload(checkout: Path, repeats: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    done = subprocess.run([sys.executable, "-c", WORKLOAD, str(repeats)], env=env, cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare against (e.g. f0a5a51)")
    parser.add_argument("--rounds", type=int, default=6, help="alternations of the two versions (default 6)")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per item and process (default 10)")
    parser.add_argument("--out", type=Path, help="JSON output (default results/benchmarks/before_after.json)")
    args = parser.parse_args()
    base = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base], capture_output=True,
                          text=True, check=True).stdout.strip()
    this = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        worktree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(worktree), base],
                       check=True)
        try:
            times = {"base": [], "this": []}
            for r in range(args.rounds):
                order = [("base", worktree), ("this", ROOT)]
                for label, checkout in order if r % 2 == 0 else order[::-1]:
                    times[label].append(run_workload(checkout, args.repeats))
                print(f"round {r + 1}/{args.rounds} done", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=True)
    rows = []
    print(f"{'item':<16} {'base ms':>9} {'this ms':>9} {'this/base':>9}")
    for item in times["this"][0]:
        b = statistics.median(t[item] for t in times["base"])
        t = statistics.median(t[item] for t in times["this"])
        rows.append({"item": item, "base_s": b, "this_s": t, "ratio": t / b})
        print(f"{item:<16} {1e3 * b:>9.2f} {1e3 * t:>9.2f} {t / b:>9.3f}")
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "base": base, "this": this,
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "rounds": args.rounds,
              "repeats": args.repeats, "rows": rows, "worst_ratio": max(r["ratio"] for r in rows)}
    print(f"worst ratio {result['worst_ratio']:.3f}; wrote {write_report(result, 'before_after', out=args.out)}")


if __name__ == "__main__":
    main()
