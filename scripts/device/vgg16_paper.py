"""The VGG-16 paper protocol on the lent GPU machine within one call's time, resumable, without papermill.

    python scripts/device/vgg16_paper.py --out $OUT --budget-s 400             # as vgg16_paper.sh calls it
    python scripts/device/vgg16_paper.py --out DIR --skip 0,1                   # seeds 0 and 1 are committed already
    python scripts/device/vgg16_paper.py --out DIR --set width=0.0625 --set epochs=2 --set "seeds=[0, 1]" \\
        --pack tiny.pt --device cpu                                             # the CPU test's tiny run

The experiment is notebook 03's: its parameters cell, then the profile (default the paper's,
notebooks/profiles/paper/03_vgg16_cifar10.yaml), then each --set, made into an `ipkit.experiment.Experiment` as
the notebook makes it. CIFAR-10 comes from a pack (scripts/device/pack_cifar10.py), decoded once and held on the
run's device (`ipkit.data.DATASETS["cifar10"]` is pointed at it in each run's process).

Each seed runs in its own process (--parallel at once, sharing the GPU), checkpointed every --checkpoint-every
steps under --work, which outlives a call only while the machine stays warm: a call made then goes on from there.
At the deadline the runs are stopped. Then, within what a call can bring back (8 files of 16 MiB), $OUT receives,
finished seeds first: one `save_results` folder per seed as vgg16_seed-S.tar.gz.NN (parts of 15 MiB; join with
`cat vgg16_seed-S.tar.gz.* | tar xz`), an unfinished seed's tables up to its last checkpoint as
vgg16_seed-S.partial.tar.gz.NN (run.json: "partial"), and vgg16_status.json: what ran, how far, tracked steps
per second. A seed already brought back is passed to the next call in --skip.
"""

import argparse
import ast
import dataclasses
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the checkout's ipkit, also where it is not installed (the GPU machine)

import ipkit.data  # noqa: E402
from ipkit.checkpoint import checkpoint_path, load_checkpoint  # noqa: E402
from ipkit.experiment import (Experiment, Results, defining_fields, experiment_from_parameters,  # noqa: E402
                              resolve_device, run_experiment, save_results)
from ipkit.protocol import estimation  # noqa: E402
from ipkit.tracker import COLUMNS  # noqa: E402
from ipkit.train import LOG_COLUMNS, early_stopping_steps  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pack_cifar10 import select, unpack  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "03_vgg16_cifar10.py"
PAPER_PROFILE = ROOT / "notebooks" / "profiles" / "paper" / "03_vgg16_cifar10.yaml"
PART_BYTES = 15 * 2**20  # under the 16 MiB a file can come back in
OUT_FILES, OUT_BYTES = 8, 60 * 2**20  # all files of a call (64 MiB, with room to spare); 3 are the others below
OTHER_FILES = ("tracking.json", "vgg16_status.json", "vgg16_log.txt")


def notebook_parameters(path: Path = NOTEBOOK) -> dict:
    """The literals of a jupytext notebook's cell tagged `parameters`."""
    text = path.read_text()
    cell = text.split('# %% tags=["parameters"]', 1)[1].split("\n# %%", 1)[0]
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell).body
            if isinstance(node, ast.Assign)}


def parameters(profile: Path, settings: list[str]) -> dict:
    """Notebook 03's parameters, updated by the profile's YAML and then by KEY=YAML settings."""
    params = notebook_parameters()
    params.update(yaml.safe_load(profile.read_text()) or {})
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or key not in params:
            raise ValueError(f"--set {setting!r}: expected KEY=VALUE with KEY a parameter of notebook 03 "
                             f"({', '.join(sorted(params))})")
        params[key] = yaml.safe_load(value)
    return params


def experiment(params: dict, **override) -> Experiment:
    """The Experiment notebook 03 builds from these parameters."""
    return experiment_from_parameters(params, model="vgg16", model_options={"width": params["width"]}, **override)


# --- one seed, in its own process -------------------------------------------------------------------------------

def hold_cifar10(decoded: Path, device: torch.device) -> None:
    """Point `ipkit.data`'s CIFAR-10 loader at the decoded pack, held on `device` (no per-step host transfer)."""
    splits = torch.load(decoded, weights_only=False)
    held = {train: (x.to(device), y.to(device), info)
            for train, (x, y, info) in ((True, splits["train"]), (False, splits["test"]))}

    def load(root, train, download, n, seed, subset):
        x, y, info = held[train]
        return select(x, y, info, n, seed, subset)

    ipkit.data.DATASETS["cifar10"] = load


def run_seed(seed: int, work: Path, params: dict, decoded: Path, checkpoint_every: int, stop_after: int = 0) -> None:
    """Run one seed to the end (from its checkpoint, if any) and publish its results at work/results/seed-S.

    stop_after (the tests' stand-in for a deadline): end the process right after the first checkpoint at a step
    ≥ stop_after, as a kill there would.
    """
    exp = experiment(params, seeds=(seed,), checkpoint_dir=str(work / "checkpoints"),
                     checkpoint_every=checkpoint_every)
    if stop_after:
        import ipkit.experiment

        save = ipkit.experiment.save_checkpoint

        def save_then_stop(path, payload):
            save(path, payload)
            if payload["finished"] is None and payload["train"].step >= stop_after:
                os._exit(3)

        ipkit.experiment.save_checkpoint = save_then_stop
    hold_cifar10(decoded, resolve_device(exp.device))
    results = run_experiment(exp)
    final = work / "results" / f"seed-{seed}"
    stage = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(stage, ignore_errors=True)
    save_results(results, stage, notebook="03_vgg16_cifar10", parameters=params, driver=Path(__file__).name)
    stage.rename(final)


# --- the call: data, runs in parallel, the deadline, what comes back --------------------------------------------

def decode_pack(pack: Path, work: Path) -> Path:
    """The pack decoded to uint8 tensors in `work` (kept there for the next call while the machine stays warm)."""
    stat = pack.stat()
    decoded = work / f"cifar10-{stat.st_size}-{int(stat.st_mtime)}.pt"
    if not decoded.exists():
        splits = {}
        for split in ("train", "test"):
            x, y, info = unpack(pack, split, workers=os.cpu_count() or 1)
            splits[split] = (x, y, info)
        torch.save(splits, decoded.with_name(f".{decoded.name}.tmp"))
        decoded.with_name(f".{decoded.name}.tmp").replace(decoded)
    return decoded


def saved_state(exp: Experiment, work: Path, seed: int) -> dict | None:
    """The seed's checkpoint (None if there is none)."""
    one = dataclasses.replace(exp, seeds=(seed,))
    return load_checkpoint(checkpoint_path(work / "checkpoints", seed), defining_fields(dataclasses.asdict(one)))


def partial_results(exp: Experiment, saved: dict, seed: int, seconds: float) -> Results:
    """What an unfinished seed's checkpoint holds, as Results: the IP rows and the training log up to it
    (`seconds`: the wall time of this call's run of it)."""
    state = saved["train"]
    log = pd.DataFrame(state.rows, columns=LOG_COLUMNS).astype({"epoch": "int64", "step": "int64"})
    ip = pd.DataFrame(saved["tracker"]["rows"], columns=COLUMNS).assign(run=0)
    one = dataclasses.replace(exp, seeds=(seed,))
    summary = pd.DataFrame([dict(run=0, seed=seed, steps=state.step,
                                 final_loss=float(log["loss"].iloc[-1]) if len(log) else math.nan,
                                 test_loss=math.nan, test_accuracy=math.nan)])
    info = dict(experiment=dataclasses.asdict(one), estimation=dataclasses.asdict(estimation(exp.protocol,
                                                                                            **exp.estimation)),
                threads=exp.threads, device=str(resolve_device(exp.device)), diverged=[], seconds=seconds,
                partial=dict(step=state.step, epoch=state.epoch, epochs=exp.epochs,
                             note="stopped at the call's deadline; tables up to the last checkpoint"))
    return Results(ip=ip, log=log.assign(run=0, seed=seed),
                   early_stopping=early_stopping_steps(log, exp.patience).assign(run=0, seed=seed),
                   summary=summary, info=info)


def stop(children: dict) -> None:
    for proc in children.values():
        proc.send_signal(signal.SIGTERM)
    grace = time.monotonic() + 15
    for proc in children.values():
        try:
            proc.wait(max(0.1, grace - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_seeds(seeds: list[int], args, work: Path, params_file: Path, decoded: Path, deadline: float,
              status: dict) -> None:
    """Run the seeds, `args.parallel` at once, until all end or the deadline passes; record each in `status`."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               PYTHONUNBUFFERED="1")
    pending, children, opened = list(seeds), {}, {}
    while pending or children:
        while pending and len(children) < args.parallel and time.monotonic() < deadline:
            seed = pending.pop(0)
            log = open(work / "logs" / f"seed-{seed}.log", "a")
            opened[seed] = log
            children[seed] = subprocess.Popen(
                [sys.executable, __file__, "--child", str(seed), "--work", str(work), "--params", str(params_file),
                 "--decoded", str(decoded), "--checkpoint-every", str(args.checkpoint_every),
                 "--stop-after", str(args.stop_after)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
            status[seed].update(started_s=round(time.monotonic() - status["_start"], 1))
            print(f"seed {seed}: started", flush=True)
        if time.monotonic() >= deadline:
            print(f"deadline: stopping seeds {sorted(children)}", flush=True)
            stop(children)
            for seed, proc in children.items():
                status[seed].update(rc=proc.returncode, stopped_at_deadline=True,
                                    stopped_s=round(time.monotonic() - status["_start"], 1))
            children.clear()
            pending.clear()
            break
        for seed, proc in list(children.items()):
            if proc.poll() is not None:
                status[seed].update(rc=proc.returncode, ended_s=round(time.monotonic() - status["_start"], 1))
                print(f"seed {seed}: ended with exit code {proc.returncode}", flush=True)
                del children[seed]
        time.sleep(0.5)
    for log in opened.values():
        log.close()


def archive(folder: Path, name: str, into: Path) -> list[Path]:
    """folder as name.tar.gz, in parts of at most PART_BYTES: name.tar.gz.00, .01, ..."""
    whole = into / f"{name}.tar.gz"
    with tarfile.open(whole, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=name)
    parts = []
    with open(whole, "rb") as src:
        while chunk := src.read(PART_BYTES):
            parts.append(into / f"{whole.name}.{len(parts):02d}")
            parts[-1].write_bytes(chunk)
    whole.unlink()
    return parts


def bring_back(exp, params, seeds, work: Path, out: Path, status: dict) -> None:
    """Archive finished seeds, then unfinished ones' tables, into `out` while the files fit what comes back."""
    staged = work / "outgoing"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    candidates = []
    for seed in seeds:
        done = work / "results" / f"seed-{seed}"
        if (done / "run.json").exists():
            summary = pd.read_csv(done / "summary.csv").iloc[0]
            seconds = json.loads((done / "run.json").read_text())["seconds"]
            status[seed].update(state="finished", steps=int(summary["steps"]), seconds=round(seconds, 1),
                                test_accuracy=float(summary["test_accuracy"]))
            candidates.append((seed, done, f"vgg16_seed-{seed}"))
            continue
        saved = saved_state(exp, work, seed)
        if saved is None or saved.get("finished") is not None:
            rc = status[seed].get("rc")
            status[seed]["state"] = ("finished, not saved (see vgg16_log.txt)" if saved is not None else
                                     "not started" if rc is None else f"failed with exit code {rc}, see vgg16_log.txt")
            continue
        folder = work / "results" / f"seed-{seed}.partial"
        shutil.rmtree(folder, ignore_errors=True)
        s = status[seed]
        seconds = s.get("ended_s", s.get("stopped_s", 0.0)) - s.get("started_s", 0.0)
        save_results(partial_results(exp, saved, seed, seconds), folder, notebook="03_vgg16_cifar10",
                     parameters=params, driver=Path(__file__).name)
        status[seed].update(state="partial", steps=saved["train"].step, epoch=saved["train"].epoch)
        candidates.append((seed, folder, f"vgg16_seed-{seed}.partial"))
    files = len(list(out.iterdir())) + sum(1 for f in OTHER_FILES if not (out / f).exists())
    used = sum(f.stat().st_size for f in out.iterdir())
    for seed, folder, name in sorted(candidates, key=lambda c: (c[2].endswith(".partial"), c[0])):
        parts = archive(folder, name, staged)
        size = sum(p.stat().st_size for p in parts)
        if files + len(parts) <= OUT_FILES and used + size <= OUT_BYTES:
            for p in parts:
                shutil.move(p, out / p.name)
            files, used = files + len(parts), used + size
            status[seed]["returned"] = [p.name for p in parts]
        else:
            status[seed]["returned"] = []
            status[seed]["not_returned"] = f"{len(parts)} part(s), {size / 2**20:.1f} MiB did not fit this call"
    shutil.rmtree(staged, ignore_errors=True)


def travelling_bytes(root: Path = ROOT, carry: tuple[str, ...] = (".carry",)) -> tuple[int, int]:
    """The bytes a device call sends from the checkout at `root`, counted as the device tool counts them.

    Returns:
        (the working tree: tracked files, untracked ones git does not ignore, and shared/ if there is one; the
        `carry` paths, which travel besides, git-ignored or not). A nested git repository travels without its
        files unless carried (git lists it as one folder, not counted).
    """
    def listed(*options):
        out = subprocess.run(["git", "ls-files", "-z", *options], cwd=root, capture_output=True, check=True).stdout
        return [root / p for p in out.decode().split("\0") if p]

    def files(path: Path) -> set[Path]:
        if path.is_dir():
            return {p for p in path.rglob("*") if p.is_file()}
        return {path} if path.is_file() else set()

    carried = set().union(*(files(root / c) for c in carry))
    tree = {p for p in listed() + listed("-o", "--exclude-standard") if p.is_file()} | files(root / "shared")
    return sum(p.stat().st_size for p in tree - carried), sum(p.stat().st_size for p in carried)


def preflight(pack: Path) -> int:
    """Here, before the call: is the pack there, and does the checkout plus .carry fit the 64 MiB a call sends?"""
    tree, carry = travelling_bytes()
    total, limit = tree + carry, 64 * 2**20
    print(f"checkout {tree / 2**20:.1f} MiB + .carry {carry / 2**20:.1f} MiB = {total / 2**20:.1f} MiB "
          f"(limit {limit / 2**20:.0f} MiB)")
    problems = [] if pack.exists() else [f"no pack at {pack}: run scripts/device/pack_cifar10.py"]
    if total > limit:
        problems.append(f"{(total - limit) / 2**20:.1f} MiB too much travels: shrink the checkout or .carry")
    for problem in problems:
        print("preflight:", problem, file=sys.stderr)
    return 1 if problems else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where the call's results go ($OUT)")
    parser.add_argument("--profile", type=Path, default=PAPER_PROFILE, help="notebook 03's parameter file")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a parameter of notebook 03 as YAML, after the profile (repeatable)")
    parser.add_argument("--skip", default="", help="comma-separated seeds not to run (already brought back)")
    parser.add_argument("--pack", type=Path, default=ROOT / ".carry" / "cifar10.pt", help="CIFAR-10 pack")
    parser.add_argument("--work", type=Path, default=Path("/tmp/ipkit-vgg16"),
                        help="checkpoints and finished seeds; outlives a call while the machine stays warm")
    parser.add_argument("--budget-s", type=float, default=400,
                        help="seconds for the whole driver: runs stop --reserve-s before, to archive what is done")
    parser.add_argument("--reserve-s", type=float, default=60)
    parser.add_argument("--parallel", type=int, default=5, help="seeds at once (one process each, one GPU)")
    parser.add_argument("--threads", type=int, default=3,
                        help="CPU threads per run (Experiment.threads: keep it across calls and seeds)")
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints")
    parser.add_argument("--device", default=None, help="Experiment.device (default the profile's: auto)")
    parser.add_argument("--source-commit", default=None, help="git commit of the checkout sent (for the record)")
    parser.add_argument("--preflight", action="store_true", help="only check here that the call can be made")
    parser.add_argument("--stop-after", type=int, default=0, help=argparse.SUPPRESS)  # tests: see run_seed
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--params", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--decoded", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        run_seed(args.child, args.work, json.loads(args.params.read_text()), args.decoded, args.checkpoint_every,
                 args.stop_after)
        return 0

    if args.preflight:
        return preflight(args.pack)
    start = time.monotonic()
    if args.out is None:
        parser.error("--out is required")
    params = parameters(args.profile, args.settings)
    params.update(progress=False, threads=args.threads, **({"device": args.device} if args.device else {}))
    exp = experiment(params)  # refuses bad parameters before anything runs
    skip = {int(s) for s in args.skip.split(",") if s.strip()}
    seeds = [s for s in exp.seeds if s not in skip]
    args.out.mkdir(parents=True, exist_ok=True)
    for folder in ("checkpoints", "results", "logs"):
        (args.work / folder).mkdir(parents=True, exist_ok=True)
    params_file = args.work / "params.json"
    params_file.write_text(json.dumps(params, indent=1))
    status = {"_start": start} | {seed: {} for seed in seeds}
    report = dict(experiment=dataclasses.asdict(exp), profile=str(args.profile), settings=args.settings,
                  skipped=sorted(skip), seeds=seeds, parallel=args.parallel, threads=args.threads,
                  checkpoint_every=args.checkpoint_every, budget_s=args.budget_s, source_commit=args.source_commit,
                  torch=torch.__version__, cuda=torch.version.cuda)
    for seed in seeds:
        saved = saved_state(exp, args.work, seed)
        status[seed]["step_at_start"] = 0 if saved is None else (
            saved["finished"]["summary"]["steps"] if saved["finished"] is not None else saved["train"].step)
    decoded = decode_pack(args.pack, args.work)  # before CUDA starts in this process: it forks decoders
    report["device"] = torch.cuda.get_device_name() if resolve_device(exp.device).type == "cuda" else "cpu"
    report["data_s"] = round(time.monotonic() - start, 1)
    todo = [s for s in seeds if not (args.work / "results" / f"seed-{s}" / "run.json").exists()]
    run_start = time.monotonic()
    run_seeds(todo, args, args.work, params_file, decoded, start + args.budget_s - args.reserve_s, status)
    report["runs_s"] = round(time.monotonic() - run_start, 1)
    bring_back(exp, params, seeds, args.work, args.out, status)
    steps = 0
    for seed in seeds:
        s = status[seed]
        s["steps_this_call"] = max(0, s.get("steps", s["step_at_start"]) - s["step_at_start"]) if seed in todo else 0
        steps += s["steps_this_call"]
    report["tracked_steps_per_s"] = round(steps / report["runs_s"], 2) if report["runs_s"] else None
    report["seed_status"] = {str(seed): status[seed] for seed in seeds}
    report["wall_s"] = round(time.monotonic() - start, 1)
    (args.out / "vgg16_status.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    for seed in seeds:
        print(f"seed {seed}: {status[seed].get('state')}, step {status[seed].get('steps')}, "
              f"returned {status[seed].get('returned')}")
    print(f"tracked steps per second over the runs: {report['tracked_steps_per_s']} ({steps} steps in "
          f"{report['runs_s']} s); wall {report['wall_s']} s")
    return 0 if all(status[s].get("state") in ("finished", "partial") for s in seeds) else 1


if __name__ == "__main__":
    sys.exit(main())
