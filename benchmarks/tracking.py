"""Cost of information-plane tracking per training step (docs/method.md §4: every layer, every iteration, N = 100).

For the MLP, the small CNN (2023 variant) and full-width VGG-16, on one batch of 100 random inputs, in one run:
  plain     a plain SGD step at batch 100 (forward, backward, optimizer step, model in train mode);
  +IP(300)  that step plus one `InformationPlaneTracker.measure` of all measured layers on the same batch
            (split "train", N = 100, alignment width rule on the 300-candidate grid of a layer's first 20 steps);
  +IP(100)  the same with the 100-candidate grid used for every later step.
Steps are warmed up, then the three variants are timed interleaved, median over the repeats. The overhead is
(step + measurement) / (plain step). A breakdown of one measurement by stage says what dominates it.
Peak memory: ru_maxrss of the process so far (CPU), torch.cuda.max_memory_allocated per variant (CUDA).

    python benchmarks/tracking.py                 # CPU (and CUDA if present), writes results/benchmarks/tracking.json
    python benchmarks/tracking.py --quick         # seconds-long smoke run (VGG-16 at width 1/8), JSON under
                                                  # results/benchmarks/.tmp-quick/ so it never replaces the real figures
    python benchmarks/tracking.py --device cuda --repeats 10
On CUDA the JSON also holds `vgg16_gpu_overhead` (the +IP(100) overhead of VGG-16) and `vgg16_gpu_device`.
"""

import argparse
import datetime
import math
import platform
import resource
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ipkit import InformationPlaneTracker, alignment_sigmas, information_plane, label_gram, pairwise_sq_dists
from ipkit.hooks import capture
from ipkit.models import build_model
from report import write_report  # benchmarks/report.py: where the JSON goes

N = 100
MODELS = {  # name -> (build_model arguments, input shape of one sample)
    "mlp": (("mlp", {}), (1, 28, 28)),
    "cnn": (("cnn", {"variant": "2023"}), (1, 28, 28)),
    "vgg16": (("vgg16", {}), (3, 32, 32)),
}
GRIDS = {"+IP(300)": 10**9, "+IP(100)": 0}  # label -> early_steps: always the 300-point grid, or never


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def breakdown(model, x, y, layers, device, n_candidates) -> dict:
    """Seconds per stage of one measurement, re-done stage by stage with the public functions the tracker uses."""
    stages = {}
    model.eval()
    with torch.no_grad():
        stages["forward (eval)"] = timed(lambda: model(x), device)
        d2 = {}

        def keep(name, out):
            if name == layers[-1]:
                out = torch.softmax(out.flatten(1), dim=1)
            d2[name] = pairwise_sq_dists(out)

        def forward_with_distances():
            with capture(model, layers, keep):
                model(x)

        stages["forward + distances"] = timed(forward_with_distances, device)
    with torch.inference_mode():  # as the tracker's estimate
        K_y = label_gram(y, 10)
        sigmas = {}

        def widths():  # as the tracker: one batched search for all layers
            sigmas.update(zip(layers, alignment_sigmas(torch.stack([d2[k] for k in layers]), K_y, n_candidates)))

        stages["widths (alignment)"] = timed(widths, device)
        d2_x, d2_t = pairwise_sq_dists(x), torch.stack([d2[k] for k in layers])

        def plane():  # as the tracker: kernels, H(T), H(X,T), H(X) batched, H(T,Y) by class blocks, H(Y) from counts
            information_plane(d2_t, d2_x, y, [float(sigmas[k]) for k in layers], 8.0, alpha=1.0)

        stages[f"kernels + entropies ({2 * len(layers) + 1} eigvalsh + class blocks)"] = timed(plane, device)
    model.train()
    return stages


def bench_model(name: str, device: torch.device, repeats: int, warmup: int, vgg_width: float) -> dict:
    (model_name, options), shape = MODELS[name]
    if name == "vgg16" and vgg_width != 1.0:
        options = {**options, "width": vgg_width}
    torch.manual_seed(0)
    model = build_model(model_name, **options).to(device)
    layers = model.measured_layers()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(N, *shape, generator=g).to(device)
    y = torch.randint(0, 10, (N,), generator=g).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.09)
    trackers = {label: InformationPlaneTracker(model, 10, early_steps=early)
                for label, early in GRIDS.items()}
    step = 0

    def plain():
        nonlocal step
        step += 1
        model.train()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    def with_ip(tracker):
        def run():
            plain()
            tracker.measure(x, y, step=step, split="train")
        return run

    variants = {"plain": plain, **{label: with_ip(t) for label, t in trackers.items()}}
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    times = {label: [] for label in variants}
    peak_cuda = {}
    for _ in range(repeats):
        for label, fn in variants.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            times[label].append(timed(fn, device))
            if device.type == "cuda":
                peak_cuda[label] = max(peak_cuda.get(label, 0), torch.cuda.max_memory_allocated(device))
    median = {label: statistics.median(t) for label, t in times.items()}
    result = {
        "model": model_name, "options": options, "layers": len(layers),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": median, "all_seconds": times,
        "overhead": {label: median[label] / median["plain"] for label in GRIDS},
        "breakdown_100": breakdown(model, x, y, layers, device, 100),
        "breakdown_300": breakdown(model, x, y, layers, device, 300),
    }
    if device.type == "cuda":
        result["peak_cuda_mib"] = {label: v / 2**20 for label, v in peak_cuda.items()}
    else:
        result["peak_rss_mib_so_far"] = peak_rss_mib()
    # The measurements must be real ones: finite rows within the bounds.
    rows = trackers["+IP(100)"].table()
    assert len(rows) == len(layers) * (warmup + repeats), len(rows)
    assert rows[["H_T", "I_XT", "I_TY"]].apply(lambda c: c.between(-1e-6, math.log2(N) + 1e-6)).all().all()
    return result


def print_table(device: torch.device, results: dict) -> None:
    memory = "peak CUDA MiB (plain/+IP)" if device.type == "cuda" else "peak RSS MiB (so far)"
    print(f"\n{device.type.upper()}  N = {N}, batch {N}; median seconds per training step")
    columns = ["plain", "+IP(300)", "+IP(100)", "ovh(300)", "ovh(100)"]
    header = f"{'model':<8} {'layers':>6} " + " ".join(f"{c:>9}" for c in columns) + f"  {memory}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        s, o = r["seconds"], r["overhead"]
        if device.type == "cuda":
            m = r["peak_cuda_mib"]
            mem = f"{m['plain']:.0f}/{max(m['+IP(300)'], m['+IP(100)']):.0f}"
        else:
            mem = f"{r['peak_rss_mib_so_far']:.0f}"
        print(f"{name:<8} {r['layers']:>6} {s['plain']:>9.4f} {s['+IP(300)']:>9.4f} {s['+IP(100)']:>9.4f} "
              f"{o['+IP(300)']:>9.2f} {o['+IP(100)']:>9.2f}  {mem}")
    print("\none measurement by stage, seconds (100-point grid | 300-point grid):")
    for name, r in results.items():
        parts = ", ".join(f"{stage} {r['breakdown_100'][stage]:.4f} | {r['breakdown_300'][stage]:.4f}"
                          for stage in r["breakdown_100"])
        print(f"  {name}: {parts}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run (VGG-16 at width 1/8, 1 repeat)")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                        help="auto: CPU, and CUDA too when available")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default results/benchmarks/tracking.json, or under results/benchmarks/.tmp-quick/ "
                             "with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per variant (default 5; quick 1)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed rounds first (default 2; quick 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    vgg_width = 0.125 if args.quick else 1.0
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--device cuda: torch.cuda.is_available() is False")

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "python": platform.python_version(), "cpu": cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name() if "cuda" in devices else None,
        "quick": args.quick, "n": N, "batch": N, "repeats": repeats, "warmup": warmup, "vgg16_width": vgg_width,
        "overhead": "(plain step + one measure of all layers) / plain step, medians",
        "results": {},
    }
    for dev in devices:
        device = torch.device(dev)
        results = {name: bench_model(name, device, repeats, warmup, vgg_width) for name in MODELS}
        report["results"][dev] = results
        for label, key in [("+IP(100)", ""), ("+IP(300)", "_early")]:
            report[f"vgg16_{dev}_overhead{key}"] = results["vgg16"]["overhead"][label]
        if dev == "cuda":  # issue 14's figure: all 16 VGG-16 layers at N = 100 against a plain step, same run
            report["vgg16_gpu_overhead"] = results["vgg16"]["overhead"]["+IP(100)"]
            report["vgg16_gpu_device"] = report["cuda_device"]
        print_table(device, results)
    print(f"\nwrote {write_report(report, 'tracking', args.quick, args.out)}")
    return report


if __name__ == "__main__":
    main()
