"""One information-plane experiment end to end (PAPER.md §4–5): data, model, training with the IP measured
along the way, for several seeds. The notebooks are thin readers of this; scripts can call it without Jupyter.
"""

import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ipkit.analysis import compression, dpi_fractions
from ipkit.data import load_dataset, train_val_split
from ipkit.models import build_model
from ipkit.tracker import InformationPlaneTracker, NonFiniteActivations, tracking_callback
from ipkit.train import TrainingDiverged, early_stopping_steps, evaluate, seed_everything, train

NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10}


@dataclass
class Experiment:
    """Everything that defines an IP experiment; the defaults are the paper's MLP on MNIST.

    Sizes: `train_size`/`test_size` take seeded subsets (None = the whole split); `val_fraction` of the training
    subset is held out for validation (early-stopping bookkeeping), evaluated every `eval_every` steps.
    Measurement: every step up to `dense_until`, then every `every`-th step, on `n` samples of the batch just
    trained on and on `n_test` fresh test samples (splits "train" and/or "test").
    Estimation (`alpha`, `sigma_x`, `estimator`, `width_rule`, `beta`, `width_options`, `sigma_layers`,
    `silverman_gamma`) is passed to `InformationPlaneTracker`.
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
    alpha: float = 1.01
    sigma_x: float | str = 8.0
    estimator: str = "tensor"
    width_rule: str = "alignment"
    beta: float = 0.9
    width_options: dict = field(default_factory=dict)
    sigma_layers: dict = field(default_factory=dict)
    silverman_gamma: float = 1.0
    every: int = 1
    dense_until: int = 0
    splits: tuple = ("train", "test")
    train_size: int | None = None
    test_size: int | None = None
    val_fraction: float = 0.1
    eval_every: int = 50
    patience: tuple = (100, 200, 400)
    raw_pixels: bool = False
    device: str = "auto"
    data_root: str | None = None
    progress: bool = True


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
    start = time.perf_counter()
    x, y = load_dataset(exp.dataset, "train", exp.data_root, raw_pixels=exp.raw_pixels, n=exp.train_size)
    x_test, y_test = load_dataset(exp.dataset, "test", exp.data_root, raw_pixels=exp.raw_pixels, n=exp.test_size)
    x_tr, y_tr, x_val, y_val = train_val_split(x, y, exp.val_fraction, seed=0)
    x_test, y_test = x_test.to(device), y_test.to(device)

    ip, logs, stops, summary, diverged = [], [], [], [], []
    for run, seed in enumerate(exp.seeds):
        seed_everything(seed)
        model = build_model(exp.model, **exp.model_options).to(device)
        tracker = InformationPlaneTracker(model, NUM_CLASSES[exp.dataset], sigma_x=exp.sigma_x, alpha=exp.alpha,
                                          estimator=exp.estimator, width_rule=exp.width_rule, beta=exp.beta,
                                          width_options=exp.width_options, sigma_layers=exp.sigma_layers,
                                          silverman_gamma=exp.silverman_gamma, run=run, seed=seed)
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
                        device=device, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test,
                        eval_every=exp.eval_every, on_step=guarded,
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

    info = dict(experiment=asdict(exp), device=str(device), diverged=diverged,
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
