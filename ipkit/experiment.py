"""One information-plane experiment end to end (docs/method.md §4–5): data, model, training with the IP measured
along the way, for several seeds. The notebooks are thin readers of this; scripts can call it without Jupyter.
"""

import json
import math
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ipkit.analysis import compression, dpi_fractions
from ipkit.data import load_dataset, train_val_split
from ipkit.models import build_model
from ipkit.protocol import estimation
from ipkit.tracker import InformationPlaneTracker, NonFiniteActivations, tracking_callback
from ipkit.train import TrainingDiverged, early_stopping_steps, evaluate, seed_everything, train

NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10}


@dataclass
class Experiment:
    """Everything that defines an IP experiment; the defaults are the paper's MLP on MNIST.

    Sizes: `train_size`/`test_size` take subsets (None = the whole split), seeded random ones or, with
    `subset="first"`, the first images (the authors' 2023 notebook trains on the first 1,000). `val_fraction` of the
    training subset is held out for validation (the early-stopping bookkeeping; 0: no validation), its loss
    evaluated every `eval_every` steps on the whole validation split; the test set's loss and accuracy every
    `test_every` steps (None: with the validation).
    Measurement: every step up to `dense_until`, then every `every`-th step, on `n` samples of the batch just
    trained on and on `n_test` fresh test samples (splits "train" and/or "test").
    Estimation: `protocol` names the preset (`ipkit.protocol.PROTOCOLS`) and `estimation` overrides any of its
    settings, e.g. {"alpha": 1.01}; both go to `InformationPlaneTracker` and into every row.
    `threads`: torch's CPU thread count for the run (None leaves it); results repeat bit for bit only on the same
    machine type with the same thread count.
    """

    dataset: str = "mnist"
    model: str = "mlp"
    model_options: dict = field(default_factory=dict)
    epochs: int = 10
    lr: float = 0.09
    batch_size: int = 100
    seeds: tuple = (0,)
    n: int = 100
    n_test: int = 200
    protocol: str = "wickstrom2019"
    estimation: dict = field(default_factory=dict)
    every: int = 1
    dense_until: int = 0
    splits: tuple = ("train", "test")
    train_size: int | None = None
    test_size: int | None = None
    subset: str = "random"
    val_fraction: float = 0.1
    eval_every: int = 50
    test_every: int | None = None
    patience: tuple = (100, 200, 400)
    raw_pixels: bool = False
    device: str = "auto"
    threads: int | None = None
    data_root: str | None = None
    progress: bool = True

    def __post_init__(self):
        # Notebook parameters arrive as whatever papermill passed: check them here, where they enter.
        for name in ("epochs", "batch_size", "n", "n_test", "every", "eval_every"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
        if not isinstance(self.seeds, (list, tuple)) or not self.seeds or \
                not all(isinstance(s, int) and not isinstance(s, bool) for s in self.seeds):
            raise ValueError(f"seeds must be a non-empty list of integers, e.g. [0, 1, 2], got {self.seeds!r} "
                             "(with papermill pass a list through -y \"seeds: [0, 1]\", not -p)")
        if self.dataset not in NUM_CLASSES:
            raise ValueError(f"unknown dataset {self.dataset!r}; valid: {', '.join(NUM_CLASSES)}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in [0, 1), got {self.val_fraction!r}")
        if self.threads is not None and not (isinstance(self.threads, int) and self.threads >= 1):
            raise ValueError(f"threads must be an integer ≥ 1 or None, got {self.threads!r}")
        if not isinstance(self.estimation, dict):
            raise ValueError(f"estimation must be a dict of settings, e.g. {{'alpha': 1.01}}, got {self.estimation!r}")
        self.seeds, self.splits, self.patience = tuple(self.seeds), tuple(self.splits), tuple(self.patience)
        estimation(self.protocol, **self.estimation)  # an unknown protocol or setting fails here, before any data


@dataclass
class Results:
    """What an experiment produced: the IP table, the training log, early-stopping steps and the set-up."""

    ip: pd.DataFrame
    log: pd.DataFrame
    early_stopping: pd.DataFrame
    summary: pd.DataFrame
    info: dict


def resolve_device(device: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; any other string is passed to torch.device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def run_experiment(exp: Experiment) -> Results:
    """Train `exp.model` once per seed with the information plane measured during training.

    A run whose loss becomes NaN, or whose activations do (measuring then stops), keeps what it recorded, is
    listed in `info["diverged"]` and raises a warning; the other runs go on.
    """
    device = resolve_device(exp.device)
    if exp.threads is not None:
        torch.set_num_threads(exp.threads)
    start = time.perf_counter()
    x, y = load_dataset(exp.dataset, "train", exp.data_root, raw_pixels=exp.raw_pixels, n=exp.train_size,
                        subset=exp.subset)
    x_test, y_test = load_dataset(exp.dataset, "test", exp.data_root, raw_pixels=exp.raw_pixels, n=exp.test_size,
                                  subset=exp.subset)
    if exp.val_fraction:
        x_tr, y_tr, x_val, y_val = train_val_split(x, y, exp.val_fraction, seed=0)
    else:
        x_tr, y_tr, x_val, y_val = x, y, x[:0], y[:0]
    x_test, y_test = x_test.to(device), y_test.to(device)

    ip, logs, stops, summary, diverged = [], [], [], [], []
    for run, seed in enumerate(exp.seeds):
        seed_everything(seed)
        model = build_model(exp.model, **exp.model_options).to(device)
        tracker = InformationPlaneTracker(model, NUM_CLASSES[exp.dataset], protocol=exp.protocol, run=run, seed=seed,
                                          **exp.estimation)
        on_step = tracking_callback(tracker, n=exp.n, x_test=x_test, y_test=y_test, n_test=exp.n_test,
                                    every=exp.every, dense_until=exp.dense_until, splits=exp.splits, seed=seed)
        measure_failed: list[str] = []

        def guarded(step, epoch, xb, yb, on_step=on_step, measure_failed=measure_failed):
            # Activations can blow up before the loss does; the loss check in `train` then comes too late.
            if measure_failed:
                return
            try:
                on_step(step, epoch, xb, yb)
            except NonFiniteActivations as err:
                measure_failed.append(f"measuring stopped at step {step}: {err}")

        try:
            log = train(model, x_tr, y_tr, epochs=exp.epochs, lr=exp.lr, batch_size=exp.batch_size, seed=seed,
                        device=device, x_val=x_val if len(y_val) else None, y_val=y_val if len(y_val) else None,
                        x_test=x_test, y_test=y_test, eval_every=exp.eval_every, test_every=exp.test_every,
                        on_step=guarded,
                        progress=exp.progress)
        except TrainingDiverged as err:
            measure_failed.insert(0, str(err))
            log = err.log
        if measure_failed:
            warnings.warn(f"run {run} (seed {seed}): {measure_failed[0]}", RuntimeWarning, stacklevel=2)
            diverged.append(run)
        test_loss, test_accuracy = evaluate(model, x_test, y_test)
        ip.append(tracker.table())
        logs.append(log.assign(run=run, seed=seed))
        stops.append(early_stopping_steps(log, exp.patience).assign(run=run, seed=seed))
        summary.append(dict(run=run, seed=seed, steps=int(log["step"].max()), final_loss=float(log["loss"].iloc[-1]),
                            test_loss=test_loss, test_accuracy=test_accuracy))

    info = dict(experiment=asdict(exp), estimation=asdict(estimation(exp.protocol, **exp.estimation)),
                threads=torch.get_num_threads(), device=str(device), diverged=diverged,
                train_samples=len(y_tr), val_samples=len(y_val), test_samples=len(y_test),
                seconds=time.perf_counter() - start)
    return Results(ip=pd.concat(ip, ignore_index=True), log=pd.concat(logs, ignore_index=True),
                   early_stopping=pd.concat(stops, ignore_index=True), summary=pd.DataFrame(summary), info=info)


def _provenance() -> dict:
    """Package versions, the git commit of the working tree, and the hardware."""
    import platform
    import subprocess

    import numpy
    import torchvision

    from ipkit import __version__

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=__file__.rsplit("/", 2)[0]).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return dict(ipkit=__version__, torch=torch.__version__, torchvision=torchvision.__version__,
                numpy=numpy.__version__, pandas=pd.__version__, python=platform.python_version(),
                git_commit=commit, machine=platform.machine(), cpu_count=os.cpu_count(),
                cuda_device=torch.cuda.get_device_name() if torch.cuda.is_available() else None)


def staging(output_dir) -> Path:
    """An empty folder beside `output_dir` to write a run's files into until its checks pass (`publish`), so a
    failing run never overwrites earlier results. Any leftover of an earlier failed run is removed."""
    stage = Path(f"{Path(output_dir)}.staging")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    return stage


def publish(stage, output_dir) -> Path:
    """Replace `output_dir` by the folder `stage` (made by `staging`) in two renames; returns output_dir."""
    stage, output_dir = Path(stage), Path(output_dir)
    old = Path(f"{output_dir}.old")
    shutil.rmtree(old, ignore_errors=True)
    if output_dir.exists():
        output_dir.rename(old)
    stage.rename(output_dir)
    shutil.rmtree(old, ignore_errors=True)
    return output_dir


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    tmp.replace(path)


def save_results(results: Results, folder, **extra) -> dict[str, Path]:
    """Write the tables as CSV and the set-up, provenance and wall time as run.json into `folder`.

    Files: ip.csv, training_log.csv, early_stopping.csv, summary.csv, dpi.csv, compression.csv, run.json.
    Each file is written to a temporary name and renamed, so none is ever half-written. `extra` goes into
    run.json (e.g. the notebook's parameters).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"ip": results.ip, "training_log": results.log, "early_stopping": results.early_stopping,
              "summary": results.summary, "dpi": dpi_fractions(results.ip), "compression": compression(results.ip)}
    paths = {}
    for name, table in tables.items():
        paths[name] = folder / f"{name}.csv"
        _write_atomic(paths[name], lambda p, t=table: t.to_csv(p, index=False))
    meta = dict(results.info, **extra)
    meta.setdefault("provenance", _provenance())  # results read back keep where they were made
    paths["run"] = folder / "run.json"
    _write_atomic(paths["run"], lambda p: p.write_text(json.dumps(meta, indent=2, default=str)))
    return paths


def load_results(folder) -> Results:
    """Read back what `save_results` wrote."""
    folder = Path(folder)
    if not (folder / "ip.csv").exists():
        raise FileNotFoundError(f"no ip.csv in {folder}: run the experiment first, or point to its output folder")
    read = lambda name: pd.read_csv(folder / f"{name}.csv")  # noqa: E731
    return Results(ip=read("ip"), log=read("training_log"), early_stopping=read("early_stopping"),
                   summary=read("summary"), info=json.loads((folder / "run.json").read_text()))


def check_results(results: Results, accuracy_floor: float = 0.0, atol: float = 1e-6) -> None:
    """Fail loudly if an experiment's results are broken (notebooks end with this).

    Checks: no run diverged; every H_T, I_XT, I_TY finite and within [0, log2 n] (up to `atol`); test accuracy
    of every run ≥ `accuracy_floor`; on training data, the output layer's run-mean I(T;Y) is higher at the last
    measurement than at the first.

    Raises:
        AssertionError: listing every failed check.
    """
    ip, problems = results.ip, []
    if results.info.get("diverged"):
        problems.append(f"runs {results.info['diverged']} diverged (loss NaN/Inf)")
    if ip.empty:
        problems.append("the IP table is empty: no step was measured")
    values = ip[["H_T", "I_XT", "I_TY"]]
    if not values.apply(lambda c: c.map(math.isfinite)).all().all():
        problems.append("some estimates are NaN or Inf")
    upper = ip["n"].map(math.log2)
    for col in values:
        if ((ip[col] < -atol) | (ip[col] > upper + atol)).any():
            problems.append(f"{col} leaves [0, log2 n]: range {ip[col].min():.4f} .. {ip[col].max():.4f}")
    worst = results.summary["test_accuracy"].min()
    if worst < accuracy_floor:
        problems.append(f"test accuracy {worst:.3f} is below the floor {accuracy_floor}")
    train = ip[(ip["split"] == "train") & (ip["layer_index"] == ip["layer_index"].max())]
    if not train.empty:
        curve = train.groupby("step")["I_TY"].mean().sort_index()
        if not curve.iloc[-1] > curve.iloc[0]:
            problems.append(f"output-layer I(T;Y) on training data did not rise: {curve.iloc[0]:.3f} at step "
                            f"{curve.index[0]} → {curve.iloc[-1]:.3f} at step {curve.index[-1]}")
    if problems:
        raise AssertionError("result checks failed:\n- " + "\n- ".join(problems))
