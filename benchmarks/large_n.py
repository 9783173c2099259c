"""Benchmark of H(T) at large N: exact eigenvalues against stochastic Lanczos quadrature (renyi_entropy(method=...)).

One Gram matrix per N: the Gaussian kernel of N MNIST training images (pixels in [0, 1], flattened; synthetic
low-rank-plus-noise data when MNIST is not under IPKIT_DATA), at the width the alignment rule gives with their
labels (docs/method.md §3, 100 candidates), in float32 as the tracker makes it. For each N: the time of
renyi_entropy(K, α) with method="exact" (float64 eigenvalues) and with method="lanczos" (the defaults: 100
probes, 20 steps), α = 1.01 (and α = 1 for the difference), and the difference in bits. Building K is not timed.
Each time is one call after a warm-up on a small matrix (time.perf_counter; torch.cuda.synchronize on a GPU):
at these sizes one call takes seconds and the host's drift matters less than at N = 100.

Usage:
    python benchmarks/large_n.py                    # N = 1,000, 2,000, 5,000, 10,000; results/benchmarks/large_n.json
    python benchmarks/large_n.py --quick            # N = 500, 1,000; results/benchmarks/.tmp-quick/large_n.json
    python benchmarks/large_n.py --max-exact 5000   # skip the exact entropy above N = 5,000

Set the thread count with OMP_NUM_THREADS (recorded in the output).
"""

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import torch

import ipkit
from ipkit.data import load_dataset
from report import write_report  # benchmarks/report.py: where the JSON goes

ALPHA = 1.01


def make_gram(n: int, device: str) -> tuple[torch.Tensor, str, float]:
    """K (N, N) float32 of N MNIST images (or synthetic data) at the alignment width; the data's name; σ."""
    try:
        x, y = load_dataset("mnist", "train", download=False, n=n, seed=0)
        x, source = x.reshape(n, -1), "mnist"
    except FileNotFoundError:
        g = torch.Generator().manual_seed(0)
        y = torch.randint(0, 10, (n,), generator=g)
        x = torch.randn(10, 8, generator=g)[y] @ torch.randn(8, 50, generator=g) + 0.5 * torch.randn(n, 50, generator=g)
        source = "low_rank_plus_noise"
    x, y = x.to(device), y.to(device)
    d2 = ipkit.pairwise_sq_dists(x)  # (N, N) float32
    sigma = ipkit.alignment_sigma(d2, ipkit.label_gram(y, 10).to(d2.dtype), n_candidates=100)
    return ipkit.gaussian_from_sq_dists(d2, sigma), source, sigma


def timed(fn, device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    value = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return float(value), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 500, 1,000 (seconds)")
    parser.add_argument("--sizes", type=int, nargs="*", help="the sizes N (overrides --quick)")
    parser.add_argument("--max-exact", type=int, default=10_000, help="skip the exact entropy above this N")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, help="JSON output file")
    args = parser.parse_args()
    sizes = args.sizes or ([500, 1000] if args.quick else [1000, 2000, 5000, 10_000])

    warm = ipkit.gaussian_gram(torch.rand(50, 5, device=args.device), 1.0)  # load the libraries on both paths
    ipkit.renyi_entropy(warm, ALPHA), ipkit.renyi_entropy(warm, ALPHA, "lanczos")
    rows = []
    print(f"{'N':>6} {'exact s':>8} {'lanczos s':>9} {'speed-up':>8} {'H exact':>8} {'H lanczos':>9} {'diff bits':>9}"
          f" {'diff α=1':>9}")
    for n in sizes:
        K, source, sigma = make_gram(n, args.device)
        row = {"n": n, "source": source, "sigma": sigma, "alpha": ALPHA}
        row["H_lanczos"], row["lanczos_s"] = timed(lambda: ipkit.renyi_entropy(K, ALPHA, "lanczos"), args.device)
        H1_lanczos = float(ipkit.renyi_entropy(K, 1.0, "lanczos"))
        if n <= args.max_exact:
            row["H_exact"], row["exact_s"] = timed(lambda: ipkit.renyi_entropy(K, ALPHA), args.device)
            row["diff_bits"] = row["H_lanczos"] - row["H_exact"]
            row["diff_bits_alpha_1"] = H1_lanczos - float(ipkit.renyi_entropy(K, 1.0))
            row["speedup"] = row["exact_s"] / row["lanczos_s"]
        rows.append(row)
        fmt = lambda key, spec: format(row[key], spec) if key in row else "skipped"  # noqa: E731
        print(f"{n:>6} {fmt('exact_s', '8.2f'):>8} {row['lanczos_s']:>9.2f} {fmt('speedup', '8.2f'):>8} "
              f"{fmt('H_exact', '8.4f'):>8} {row['H_lanczos']:>9.4f} {fmt('diff_bits', '+9.4f'):>9} "
              f"{fmt('diff_bits_alpha_1', '+9.4f'):>9}", flush=True)
        del K

    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch": torch.__version__,
        "lanczos": {"num_probes": 100, "num_steps": 20, "seed": 0},
        "max_exact": args.max_exact,
        "rows": rows,
        "max_abs_diff_bits": max((abs(r[k]) for r in rows for k in ("diff_bits", "diff_bits_alpha_1") if k in r),
                                 default=None),
    }
    print(f"wrote {write_report(result, 'large_n', args.quick, args.out)}")


if __name__ == "__main__":
    main()
