"""Benchmark of one layer's information-plane estimate: ipkit against the authors' approach.

One estimate is what the tracker does for a layer T at every training step (docs/method.md §1–3): the distances of T,
the kernel-alignment grid search for σ_T (300 candidates), the Gram matrices of X (σ_X = 8), T and the labels Y,
the entropies H(T), H(X), H(Y), the joints H(X,T), H(T,Y) and the mutual informations I(X;T), I(T;Y), in bits.

(a) ipkit: pairwise_sq_dists (Gram trick, O(N·D) extra memory) → alignment_sigma (the grid's maximum, found by
    bounds: every 8th candidate, then the gaps that may hold a better one) → gaussian_from_sq_dists, gaussian_gram,
    one batched renyi_entropy for H(T), H(X) and H(X,T) (float64 eigenvalues), joint_entropy_with_labels for
    H(T,Y) (class blocks) and label_entropy for H(Y) (class counts).
(b) the authors' approach, re-implemented here from their code (Wickstrom/InformationTheoryExperiment, cnnMI
    notebook and network.py): distances by broadcasting, torch.norm(x[:, None] - x, dim=2), which forms the
    N×N×D difference tensor, recomputed for every kernel (X, Y, T); the grid linspace(0.3, 10·d.mean(), 300)
    with one kernel matrix per candidate and their kernel_loss with β = 1, 2·log2(tr(K_σ K_Y)^β tr(K_σ K_X)^(1−β)
    / (‖K_σ‖ ‖K_Y‖^β ‖K_X‖^(1−β))), whose X factors are 1 but are computed, as in their code (two N×N matrix
    products per candidate); one float32 eigendecomposition per entropy (torch.linalg.eigh, eigenvalues kept),
    abs() on the eigenvalues, trace normalization.
    Their d.mean() includes the zero diagonal, so their grid differs slightly from ipkit's (off-diagonal mean);
    both σ are reported, and the final kernels of both use ipkit's σ so that the values compare like for like.
(c) a float64 reference (not timed): (b) run in float64 at ipkit's σ, an independent implementation (no Gram
    trick, no class blocks); it says how far each of (a) and (b) lies from the exact values.

Both run under torch.inference_mode(): a measurement needs no gradients (the authors' compute_mi ran under no_grad;
the tracker's estimate runs in inference mode too), and the mode spares every small operation autograd's bookkeeping.
Timing: one warm-up, then rounds that run ipkit and the authors' approach in turn, so that both meet the same
conditions on a host whose speed drifts; times are medians and the speed-up is the median of the per-round ratios
(time.perf_counter, torch.cuda.synchronize on a GPU).
Peak memory on the CPU: each measurement runs in a fresh subprocess that builds the inputs, warms the code path up
on tiny inputs (lazy library initialization is not the estimator's memory), resets the kernel's peak-RSS counter
(`echo 5 > /proc/self/clear_refs`, which ru_maxrss also reads) and reports peak RSS (VmHWM) minus the RSS before
the estimate. Without the reset, temporaries freed while the inputs were built would hide the estimator's own
memory under an earlier high-water mark. Where clear_refs is not writable it falls back to the ru_maxrss delta.
glibc would keep freed blocks under 32 MiB resident in its arenas and hand them out again without a page fault,
so the child runs with a fixed mmap threshold (MALLOC_MMAP_THRESHOLD_=65536) and calls malloc_trim(0) first.
On a GPU: torch.cuda.max_memory_allocated minus the memory allocated before the estimate.

Usage:
    python benchmarks/estimator.py            # full run, writes results/benchmarks/estimator.json
    python benchmarks/estimator.py --quick    # seconds, small sizes (CI); writes results/benchmarks/.tmp-quick/

On a shared machine whose cores are busy, pass --threads 1: there, two OpenMP threads spin-waiting on each other
made one float64 eigvalsh of a 100×100 matrix take ~0.6 s instead of ~1 ms (float32, the authors' path, was spared).
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import ipkit
from report import write_report  # benchmarks/report.py: where the JSON goes

ROOT = Path(__file__).resolve().parents[1]
NUM_CLASSES = 10
SIGMA_X = 8.0
SIGMA_Y = 0.1  # the authors' label width: exp(−2/0.01) underflows to 0 in float32
KEYS = ("H_T", "H_X", "H_Y", "H_XT", "H_TY", "I_XT", "I_TY")


# ------------------------------------------------------------------------------------------------------------ inputs


def make_inputs(n, layer_shape, d_input, seed=0, device="cpu"):
    """Input X in [0, 1] (class prototypes + noise), an activation T with class structure, random labels Y."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    proto = torch.rand(NUM_CLASSES, d_input, generator=g)
    x = 0.7 * proto[y] + 0.3 * torch.rand(n, d_input, generator=g)  # (N, D_X)
    means = torch.randn(NUM_CLASSES, *layer_shape, generator=g)
    t = torch.relu(0.5 * means[y] + torch.randn(n, *layer_shape, generator=g))  # (N, *layer_shape)
    del proto, means
    return x.to(device), t.to(device), y.to(device)


# ------------------------------------------------------------------------------------------------------------- ipkit


@torch.inference_mode()
def ipkit_estimate(x, t, y, alpha, n_candidates, sigma_t=None):
    """One layer's estimate with ipkit, as the tracker makes it: the width search, then `information_plane`.
    sigma_t, if given, replaces the searched σ in the final kernel."""
    K_y = ipkit.label_gram(y, NUM_CLASSES).to(t.dtype)
    d2_t = ipkit.pairwise_sq_dists(t)
    sigma = ipkit.alignment_sigma(d2_t, K_y, n_candidates)
    out = ipkit.information_plane(d2_t[None], ipkit.pairwise_sq_dists(x), y, [sigma if sigma_t is None else sigma_t],
                                  SIGMA_X, alpha)
    v = {name: float(value.reshape(-1)[0]) for name, value in out.items()}
    return {"sigma": sigma, **v, "H_XT": v["H_X"] + v["H_T"] - v["I_XT"], "H_TY": v["H_T"] + v["H_Y"] - v["I_TY"]}


# ------------------------------------------------------------------------------- the authors' approach, re-implemented


def authors_dist_mat(x):
    x = x.view(x.size(0), -1)
    return torch.norm(x[:, None] - x, dim=2)  # (N, N, D) difference tensor


def authors_kernel_loss(k_l, k_x, k_y, beta=1.0):
    # their kernel_loss: the X terms are raised to 1 − β = 0 but still computed
    ly = torch.trace(torch.matmul(k_l, k_y)) ** beta
    lx = torch.trace(torch.matmul(k_l, k_x)) ** (1 - beta)
    return 2 * torch.log2((ly * lx) / (torch.norm(k_l) * torch.norm(k_y) ** beta * torch.norm(k_x) ** (1 - beta)))


def authors_kernel_mat(x, k_x=None, k_y=None, sigma=None, n_candidates=300, sigma_final=None):
    d = authors_dist_mat(x)
    if sigma is None:
        sigma_vals = torch.linspace(0.3, 10 * d.mean().item(), n_candidates, device=d.device)
        L = []
        for sig in sigma_vals:
            k_l = torch.exp(-d**2 / (sig**2)) / d.size(0)
            L.append(authors_kernel_loss(k_l, k_x, k_y))
        sigma = sigma_vals[L.index(max(L))]
    s = sigma if sigma_final is None else sigma_final
    return torch.exp(-d**2 / (s**2)), float(sigma)


def authors_entropy(*args, alpha):
    k = args[0].clone()
    for v in args[1:]:
        k *= v
    k /= k.trace()
    eigv = torch.linalg.eigh(k)[0].abs()  # float32 eigendecomposition, as in their code
    if alpha == 1.0:
        return -(eigv * eigv.log2()).sum()
    return (1 / (1 - alpha)) * torch.log2((eigv**alpha).sum())


@torch.inference_mode()
def authors_estimate(x, t, y, alpha, n_candidates, sigma_t=None):
    one_hot = F.one_hot(y, NUM_CLASSES).to(x.dtype)  # .float() in their code; float64 for the reference run
    k_x, _ = authors_kernel_mat(x, sigma=torch.tensor(SIGMA_X, device=x.device))
    k_y, _ = authors_kernel_mat(one_hot, sigma=torch.tensor(SIGMA_Y, device=x.device))
    s_final = None if sigma_t is None else torch.tensor(sigma_t, dtype=t.dtype, device=t.device)
    k_t, sigma = authors_kernel_mat(t.reshape(t.size(0), -1), k_x, k_y, n_candidates=n_candidates,
                                    sigma_final=s_final)
    H_x, H_t, H_y = (authors_entropy(k, alpha=alpha) for k in (k_x, k_t, k_y))
    H_xt, H_ty = authors_entropy(k_x, k_t, alpha=alpha), authors_entropy(k_t, k_y, alpha=alpha)
    v = {"H_T": H_t, "H_X": H_x, "H_Y": H_y, "H_XT": H_xt, "H_TY": H_ty, "I_XT": H_x + H_t - H_xt,
         "I_TY": H_y + H_t - H_ty}
    return {"sigma": sigma, **{k: float(val) for k, val in v.items()}}


IMPLS = {"ipkit": ipkit_estimate, "authors": authors_estimate}


# ------------------------------------------------------------------------------------------------------- measurement


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_interleaved(fns, rounds, device):
    """Time each function once per round, in turn, after one warm-up each: on a host whose speed drifts (other
    virtual machines share it), every function meets the same conditions. Returns one list of times per function."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            ts.append(time.perf_counter() - t0)
    return times


def _status_kib(field):
    m = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(m.group(1)) if m else None


def _child_peak_memory(spec):
    """Run in a fresh subprocess: peak RSS increase (bytes) of one estimate."""
    torch.set_num_threads(spec["threads"])
    fn = IMPLS[spec["impl"]]
    small = make_inputs(4, [2] * len(spec["layer_shape"]), 8)
    fn(*small, spec["alpha"], 3)  # warm-up: load and initialize the libraries on this code path
    inputs = make_inputs(spec["n"], spec["layer_shape"], spec["d_input"])
    try:  # hand the temporaries freed while building the inputs back to the OS, so that reusing them counts
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS counter to the current RSS
        method, before = "VmHWM after clear_refs reset", _status_kib("VmRSS") * 1024
    except OSError:
        method = "ru_maxrss delta"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    fn(*inputs, spec["alpha"], spec["n_candidates"])
    if method.startswith("VmHWM"):
        peak = _status_kib("VmHWM") * 1024
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return {"peak_bytes": peak - before, "method": method}


def peak_memory_cpu(impl, n, layer_shape, d_input, alpha, n_candidates):
    spec = {"impl": impl, "n": n, "layer_shape": list(layer_shape), "d_input": d_input, "alpha": alpha,
            "n_candidates": n_candidates, "threads": torch.get_num_threads()}
    # A fixed glibc mmap threshold: every block over 64 KiB is mapped on allocation and unmapped on free, so RSS
    # follows the live tensors instead of arenas that keep freed memory resident.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                         check=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_memory_cuda(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return {"peak_bytes": torch.cuda.max_memory_allocated() - before, "method": "torch.cuda.max_memory_allocated"}


def measure(impl, n, layer_shape, d_input, alpha, n_candidates, repeats, device, sigma_t=None, memory=True):
    """Values, time (median of `repeats`; none for repeats=0) and peak memory of one implementation."""
    x, t, y = make_inputs(n, layer_shape, d_input, device=device)
    fn = IMPLS[impl]
    values = fn(x, t, y, alpha, n_candidates, sigma_t)
    times = time_interleaved([lambda: fn(x, t, y, alpha, n_candidates, sigma_t)], repeats, device)[0] if repeats else []
    if not memory:
        mem = {"peak_bytes": None, "method": None}
    elif device == "cpu":
        mem = peak_memory_cpu(impl, n, layer_shape, d_input, alpha, n_candidates)
    else:
        mem = peak_memory_cuda(lambda: fn(x, t, y, alpha, n_candidates, sigma_t))
    del x, t, y
    return {"time_s": statistics.median(times) if times else None, "times_s": times,
            "peak_mem_bytes": mem["peak_bytes"], "memory_method": mem["method"], "values": values}


def compare(name, n, layer_shape, d_input, alpha, n_candidates, rounds, device):
    """ipkit and the authors' approach on identical inputs; the authors' final kernel uses ipkit's σ.

    Timed in interleaved rounds (one run of each per round); the speed-up is the median of the per-round ratios.
    """
    ours = measure("ipkit", n, layer_shape, d_input, alpha, n_candidates, 0, device)
    sigma = ours["values"]["sigma"]
    theirs = measure("authors", n, layer_shape, d_input, alpha, n_candidates, 0, device, sigma)
    x, t, y = make_inputs(n, layer_shape, d_input, device=device)
    t_ours, t_theirs = time_interleaved([lambda: ipkit_estimate(x, t, y, alpha, n_candidates),
                                         lambda: authors_estimate(x, t, y, alpha, n_candidates, sigma)], rounds, device)
    ours.update(time_s=statistics.median(t_ours), times_s=t_ours)
    theirs.update(time_s=statistics.median(t_theirs), times_s=t_theirs)
    ratios = [b / a for a, b in zip(t_ours, t_theirs)]
    theirs_own_sigma = authors_estimate(x, t, y, alpha, n_candidates)  # the values at their own σ, for the record
    # An independent float64 reference: the authors' approach (no Gram trick, plain eigendecompositions) in float64
    # at ipkit's σ, to say how far each float32 result lies from the exact values.
    reference = authors_estimate(x.double(), t.double(), y, alpha, n_candidates, sigma)
    # Which grid point each picked: the grids differ only in their upper end (mean over N(N−1) or N² entries).
    upper_ipkit = 10 * float(ipkit.mean_distance(ipkit.pairwise_sq_dists(t)))
    upper_authors = upper_ipkit * (n - 1) / n
    del x, t, y
    picked = [("ipkit", sigma, upper_ipkit), ("authors", theirs["values"]["sigma"], upper_authors)]
    index = {impl: round((s - 0.3) / (upper - 0.3) * (n_candidates - 1)) for impl, s, upper in picked}
    diffs = {k: abs(ours["values"][k] - theirs["values"][k]) for k in KEYS}
    off_reference = {impl: max(abs(r["values"][k] - reference[k]) for k in KEYS) for impl, r in
                     (("ipkit", ours), ("authors", theirs))}
    return {
        "layer": name, "N": n, "layer_shape": list(layer_shape), "D": int(torch.tensor(layer_shape).prod()),
        "D_input": d_input, "ipkit": ours, "authors": theirs, "authors_at_own_sigma": theirs_own_sigma,
        "sigma_ipkit": sigma, "sigma_authors": theirs["values"]["sigma"],
        "same_sigma": abs(sigma - theirs["values"]["sigma"]) <= 1e-6 * sigma,
        "grid_index": index, "same_grid_index": index["ipkit"] == index["authors"],
        "speedup": statistics.median(ratios), "speedup_per_round": ratios,
        "memory_ratio": theirs["peak_mem_bytes"] / max(ours["peak_mem_bytes"], 1),
        "abs_diff_bits": diffs, "max_abs_diff_bits": max(diffs.values()),
        "float64_reference": reference, "max_abs_diff_bits_vs_float64": off_reference,
    }


def scaling(sizes, alpha, n_candidates, device, repeats, memory=True):
    rows = []
    for d_layer, d_input in sizes["dims"]:
        for n in sizes["N"]:
            if d_layer * n > sizes["max_elements"]:
                continue
            r = measure("ipkit", n, (d_layer,), d_input, alpha, n_candidates, repeats(n), device, memory=memory)
            rows.append({"N": n, "D": d_layer, "D_input": d_input, "time_s": r["time_s"], "times_s": r["times_s"],
                         "peak_mem_bytes": r["peak_mem_bytes"], "sigma": r["values"]["sigma"]})
            mem = "" if r["peak_mem_bytes"] is None else f"{r['peak_mem_bytes'] / 2**20:9.1f} MiB"
            print(f"  N = {n:5d}  D = {d_layer:6d}  {1e3 * r['time_s']:10.1f} ms  {mem}", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------------------- reporting


def _mib(b):
    return b / 2**20


def print_comparison(rows, header):
    print(header)
    print(f"  {'layer':10s} {'D':>6s} {'impl':8s} {'time [ms]':>10s} {'peak mem [MiB]':>15s} {'σ_T':>9s}   "
          f"{'H(T)':>7s} {'H(X)':>7s} {'H(Y)':>7s} {'I(X;T)':>7s} {'I(T;Y)':>7s}")
    for r in rows:
        for impl in ("ipkit", "authors"):
            m, v = r[impl], r[impl]["values"]
            sigma = r["sigma_ipkit"] if impl == "ipkit" else r["sigma_authors"]
            label = r["layer"] if impl == "ipkit" else ""
            d = str(r["D"]) if impl == "ipkit" else ""
            print(f"  {label:10s} {d:>6s} {impl:8s} {1e3 * m['time_s']:10.1f} {_mib(m['peak_mem_bytes']):15.1f} "
                  f"{sigma:9.3f}   {v['H_T']:7.4f} {v['H_X']:7.4f} {v['H_Y']:7.4f} {v['I_XT']:7.4f} {v['I_TY']:7.4f}")
        print(f"  {'':10s} {'':>6s} {'ratio':8s} {r['speedup']:9.1f}× {r['memory_ratio']:14.1f}×   "
              f"same σ: {r['same_sigma']} (grid index {r['grid_index']['ipkit']} vs {r['grid_index']['authors']})"
              f"   max |Δ| = {r['max_abs_diff_bits']:.2e} bits")
        low, high = min(r["speedup_per_round"]), max(r["speedup_per_round"])
        print(f"  {'':10s} {'':>6s} {'':8s} per round {low:.1f}× … {high:.1f}×")
        ref = r["max_abs_diff_bits_vs_float64"]
        print(f"  {'':10s} {'':>6s} {'':8s} largest |Δ| from a float64 reference: ipkit {ref['ipkit']:.2e} bits, "
              f"authors {ref['authors']:.2e} bits")


def device_name(device):
    if device.startswith("cuda"):
        return torch.cuda.get_device_name()
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run(device, quick, alpha, n_candidates, max_n=2000):
    conv = (64, 8, 8) if quick else (64, 32, 32)  # VGG-16 conv1 on CIFAR-10: 64 × 32 × 32 = 65,536
    layers = [("mlp_fc1", (1024,), 784), ("vgg_conv1", conv, 3072)]
    rounds = 1 if quick else 15
    label = f"{device_name(device)}, {torch.get_num_threads()} threads" if device == "cpu" else device_name(device)
    rows = [compare(name, 100, shape, d_in, alpha, n_candidates, rounds, device) for name, shape, d_in in layers]
    load = ", load average {:.1f}".format(os.getloadavg()[0]) if device == "cpu" else ""
    print_comparison(rows, f"\nPer-layer estimate, N = 100, α = {alpha}, {n_candidates} candidates "
                           f"[{device}: {label}{load}; torch {torch.__version__}]")
    sizes = ({"N": (100, 200), "dims": [(1024, 784)], "max_elements": 10**6} if quick else
             {"N": tuple(n for n in (100, 200, 500, 1000, 2000) if n <= max_n), "dims": [(1024, 784), (65536, 3072)],
              "max_elements": 2000 * 65536})
    print(f"\nipkit alone, {n_candidates} candidates [{device}]")
    # --quick times the scaling rows only: each CPU memory reading costs a fresh interpreter
    scale = scaling(sizes, alpha, n_candidates, device, lambda n: (1 if quick else (5 if n <= 500 else 3)),
                    memory=not quick)
    vgg = rows[1]
    return {
        "device": device, "device_name": device_name(device), "threads": torch.get_num_threads(),
        "comparison": {r["layer"]: r for r in rows}, "scaling": scale,
        "vgg_conv1_speedup": vgg["speedup"], "vgg_conv1_memory_ratio": vgg["memory_ratio"],
        "max_abs_diff_bits": max(r["max_abs_diff_bits"] for r in rows),
        "max_abs_diff_bits_vs_float64": {impl: max(r["max_abs_diff_bits_vs_float64"][impl] for r in rows)
                                         for impl in IMPLS},
        "same_sigma": {r["layer"]: r["same_sigma"] for r in rows},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: seconds (CI)")
    parser.add_argument("--out", default=None,
                        help="where to write the JSON (default: results/benchmarks/estimator.json; with --quick "
                             "results/benchmarks/.tmp-quick/estimator.json, git-ignored, so CI never overwrites "
                             "the full result)")
    parser.add_argument("--alpha", type=float, default=1.01)
    parser.add_argument("--candidates", type=int, default=300)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads for every measurement (default: torch's default)")
    parser.add_argument("--max-n", type=int, default=2000, help="largest N of the scaling table (default 2000)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one memory measurement in a fresh process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child_peak_memory(json.loads(args.child))))
        return
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__, "python": platform.python_version(), "quick": args.quick,
        "alpha": args.alpha, "n_candidates": args.candidates, "N": 100, "sigma_x": SIGMA_X,
        "cpu_count": os.cpu_count(), "load_average_at_start": list(os.getloadavg()),
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")},
        "memory_method_cpu": "fresh subprocess per measurement (glibc MALLOC_MMAP_THRESHOLD_=65536, malloc_trim "
                             "after building the inputs); peak RSS (VmHWM) after resetting it via "
                             "/proc/self/clear_refs, minus RSS before the estimate (ru_maxrss delta as fallback)",
        "memory_method_cuda": "torch.cuda.max_memory_allocated minus memory_allocated before the estimate",
        "timing_method": "one warm-up, then rounds timing ipkit and the authors' approach in turn; times are medians, "
                         "the speed-up the median of the per-round ratios; time.perf_counter (cuda: synchronized); "
                         "both under torch.inference_mode()",
    }
    result.update(run("cpu", args.quick, args.alpha, args.candidates, args.max_n))
    if torch.cuda.is_available():
        result["cuda"] = run("cuda", args.quick, args.alpha, args.candidates, args.max_n)
    result["wall_s"] = time.perf_counter() - t0
    result["load_average_at_end"] = list(os.getloadavg())

    out = write_report(result, "estimator", args.quick, args.out)
    print(f"\nVGG conv1-size layer (CPU): {result['vgg_conv1_speedup']:.1f}× faster, "
          f"{result['vgg_conv1_memory_ratio']:.1f}× less peak memory; largest |Δ| over H and I: "
          f"{result['max_abs_diff_bits']:.2e} bits. Wrote {out} in {result['wall_s']:.0f} s.")


if __name__ == "__main__":
    main()
