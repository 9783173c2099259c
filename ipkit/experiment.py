"""One information-plane experiment end to end (docs/method.md §4–5): data, model, training with the IP measured
along the way, for several seeds. The notebooks are thin readers of this; scripts can call it without Jupyter.
"""

import json
import math
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd
import torch

from ipkit.analysis import compression, dpi_fractions
from ipkit.checkpoint import callback_generators, checkpoint_path, load_checkpoint, save_checkpoint
from ipkit.comparison import SettingsTracker
from ipkit.data import load_dataset, train_val_split
from ipkit.models import build_model
from ipkit.protocol import estimation
from ipkit.tracker import InformationPlaneTracker, NonFiniteActivations, chain_callbacks, tracking_callback
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
    Several settings on one training run (`ipkit.comparison.SettingsTracker`): `settings` maps a setting name to
    its overrides of `estimation`, e.g. {"paper": {}, "α=2": {"alpha": 2.0}, "N=500": {"n": 500, "n_test": 500}};
    each setting may also set its own sample sizes "n" and "n_test" (default: the experiment's). The settings with
    the same sizes share one forward pass per measurement; those whose `n` exceeds the batch measure `n` fresh
    training samples instead (model in eval mode, drawn seeded, `ipkit.tracker.tracking_callback`), the same
    ones for every such setting (a larger N's sample holds a smaller one's). The IP table then has a `setting`
    column, and every row its N in column n. Not combined with checkpointing.
    `threads`: torch's CPU thread count for the run (None leaves it); results repeat bit for bit only on the same
    machine type with the same thread count.
    Resuming (`ipkit.checkpoint`): with `checkpoint_dir`, each seed's run is checkpointed there every
    `checkpoint_every` steps (0: only once it is done), and `run_experiment` called again continues every seed
    from its last checkpoint; the tables equal an uninterrupted run's (bit for bit on CPU). A checkpoint written by
    an experiment that differs (in any field but seeds, progress and these two) is refused.
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
    settings: dict = field(default_factory=dict)
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
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0

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
        if not (isinstance(self.checkpoint_every, int) and not isinstance(self.checkpoint_every, bool)
                and self.checkpoint_every >= 0):
            raise ValueError(f"checkpoint_every must be an integer ≥ 0 (steps; 0: only finished seeds), "
                             f"got {self.checkpoint_every!r}")
        if self.checkpoint_every and self.checkpoint_dir is None:
            raise ValueError(f"checkpoint_every={self.checkpoint_every} needs checkpoint_dir, the folder to write "
                             "the checkpoints into")
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = str(self.checkpoint_dir)
        if not isinstance(self.estimation, dict):
            raise ValueError(f"estimation must be a dict of settings, e.g. {{'alpha': 1.01}}, got {self.estimation!r}")
        self.seeds, self.splits, self.patience = tuple(self.seeds), tuple(self.splits), tuple(self.patience)
        estimation(self.protocol, **self.estimation)  # an unknown protocol or setting fails here, before any data
        self._check_settings()

    def _check_settings(self) -> None:
        if not isinstance(self.settings, dict) or not all(isinstance(name, str) and isinstance(overrides, dict)
                                                          for name, overrides in self.settings.items()):
            raise ValueError("settings must be a dict of setting name -> dict of estimation overrides, e.g. "
                             f"{{'paper': {{}}, 'α=2': {{'alpha': 2.0}}}}; got {self.settings!r}")
        if self.settings and self.checkpoint_dir is not None:
            raise ValueError("checkpoint_dir cannot be combined with settings (a checkpoint holds one tracker); "
                             "pass checkpoint_dir=None, or run each setting as its own Experiment")
        for name, overrides in self.settings.items():
            for size in SAMPLE_SIZES:
                value = overrides.get(size, 1)
                if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                    raise ValueError(f"settings[{name!r}][{size!r}] must be an integer ≥ 1, got {value!r}")
            try:
                setting_estimation(self, name)
            except ValueError as err:
                raise ValueError(f"settings[{name!r}]: {err}") from None


SAMPLE_SIZES = ("n", "n_test")  # what a setting may set besides estimation settings


def setting_estimation(exp: Experiment, name: str):
    """The `Estimation` of setting `name`: the protocol, then `exp.estimation`, then the setting's overrides."""
    overrides = {k: v for k, v in exp.settings[name].items() if k not in SAMPLE_SIZES}
    return estimation(exp.protocol, **{**exp.estimation, **overrides})


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


def run_experiment(exp: Experiment, scheduler: str | None = None) -> Results:
    """Train `exp.model` once per seed with the information plane measured during training.

    A run whose loss becomes NaN, or whose activations do (measuring then stops), keeps what it recorded, is
    listed in `info["diverged"]` and raises a warning; the other runs go on.

    Args:
        exp: the experiment.
        scheduler: where the seeds run. None: one after another in this process. "local" / "local:K": a
            dask.distributed LocalCluster of K worker processes (default one per seed, at most one per free core
            or, on CUDA, per GPU), one thread each. "tcp://host:port": a running Dask cluster. Each seed is one
            task (`ipkit.parallel`); the tables are merged in seed order (`merge_results`) and equal the
            in-process ones, bit for bit on CPU when that ran with the workers' thread count (`exp.threads`,
            else 1). info["dask_dashboard"] holds the dashboard's link; `exp.progress` shows a bar over seeds.
            On SLURM, start workers with dask-jobqueue and pass the scheduler's address::

                from dask_jobqueue import SLURMCluster
                cluster = SLURMCluster(cores=1, processes=1, memory="8GB", walltime="02:00:00",
                                       job_extra_directives=["--gres=gpu:1"])  # one seed per job
                cluster.scale(jobs=5)
                results = run_experiment(exp, scheduler=cluster.scheduler_address)

    Raises:
        ValueError: a malformed `scheduler` ("local:0", "8786", ...).
        ConnectionError: no scheduler answered at the address within 10 s.
    """
    if scheduler is not None:
        from ipkit.parallel import run_seeds

        return run_seeds(exp, scheduler)
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

    data = (x_tr, y_tr, x_val, y_val, x_test, y_test)
    ip, logs, stops, summary, diverged = [], [], [], [], []
    for run, seed in enumerate(exp.seeds):
        saved = None
        if exp.checkpoint_dir is not None:
            saved = load_checkpoint(checkpoint_path(exp.checkpoint_dir, seed), defining_fields(asdict(exp)))
        if saved is not None and saved["finished"] is not None:
            part = saved["finished"]
        else:
            part = _run_seed(exp, run, seed, data, device, saved)
        if part["failure"]:
            warnings.warn(f"run {run} (seed {seed}): {part['failure']}", RuntimeWarning, stacklevel=2)
            diverged.append(run)
        ip.append(part["ip"].assign(run=run))
        logs.append(part["log"].assign(run=run, seed=seed))
        stops.append(part["early_stopping"].assign(run=run, seed=seed))
        summary.append(dict(run=run, seed=seed, **part["summary"]))

    info = dict(experiment=asdict(exp), estimation=asdict(estimation(exp.protocol, **exp.estimation)),
                threads=torch.get_num_threads(), device=str(device), diverged=diverged,
                train_samples=len(y_tr), val_samples=len(y_val), test_samples=len(y_test),
                seconds=time.perf_counter() - start)
    if exp.settings:
        info["settings"] = {name: dict(n=s.get("n", exp.n), n_test=s.get("n_test", exp.n_test),
                                       estimation=asdict(setting_estimation(exp, name)))
                            for name, s in exp.settings.items()}
    return Results(ip=pd.concat(ip, ignore_index=True), log=pd.concat(logs, ignore_index=True),
                   early_stopping=pd.concat(stops, ignore_index=True), summary=pd.DataFrame(summary), info=info)


# Fields that change how a run is shown, stored or split up, never what it computes.
NOT_DEFINING = ("seeds", "progress", "checkpoint_dir", "checkpoint_every")


# Fields added after results and checkpoints were written without them, with the value that changes nothing.
ADDED_LATER = {"settings": {}}


def defining_fields(experiment: dict) -> dict:
    """An Experiment's fields (asdict, or read back from run.json) that define its results, in JSON form so
    tuples and lists compare equal; a field of `ADDED_LATER` at its neutral value is left out, so that older
    checkpoints and run.json files, which lack it, still match."""
    return {k: v for k, v in json.loads(json.dumps(experiment, default=str)).items()
            if k not in NOT_DEFINING and not (k in ADDED_LATER and v == ADDED_LATER[k])}


def merge_results(parts: list[Results]) -> Results:
    """One Results from the Results of the same Experiment run on disjoint seeds (one seed or a batch each).

    The runs follow the parts in the order given, each part's runs in its own order, re-indexed 0..R−1 in the
    `run` column of every table: parts given in seed order equal one `run_experiment` call on all the seeds.
    info: `experiment.seeds` lists all seeds in that order, `seconds` is summed, `diverged` holds the new run
    indices; everything else is the first part's.

    Raises:
        ValueError: no parts; parts whose experiments differ in anything but `NOT_DEFINING` (seeds, progress,
            checkpointing); a seed that appears in more than one part.
    """
    if not parts:
        raise ValueError("parts is empty: pass the Results of at least one run_experiment call")
    first = defining_fields(parts[0].info["experiment"])
    seeds, seen = [], {}
    for i, part in enumerate(parts):
        this = defining_fields(part.info["experiment"])
        differ = sorted(k for k in first.keys() | this.keys() if first.get(k) != this.get(k))
        if differ:
            details = ", ".join(f"{k}: {first.get(k)!r} vs {this.get(k)!r}" for k in differ)
            raise ValueError(f"parts 0 and {i} come from different experiments ({details}); only seeds may differ")
        for seed in part.info["experiment"]["seeds"]:
            if seed in seen:
                raise ValueError(f"seed {seed} is in parts {seen[seed]} and {i}: pass each seed's runs once")
            seen[seed] = i
        seeds.extend(part.info["experiment"]["seeds"])

    tables = {"ip": [], "log": [], "early_stopping": [], "summary": []}
    diverged, offset = [], 0
    for part in parts:
        for name, pieces in tables.items():
            table = getattr(part, name)
            pieces.append(table.assign(run=table["run"] + offset))
        diverged.extend(run + offset for run in part.info.get("diverged", []))
        offset += len(part.info["experiment"]["seeds"])
    info = dict(parts[0].info)
    info["experiment"] = dict(info["experiment"], seeds=type(info["experiment"]["seeds"])(seeds))
    info["seconds"] = sum(part.info["seconds"] for part in parts)
    info["diverged"] = diverged
    return Results(**{name: pd.concat(pieces, ignore_index=True) for name, pieces in tables.items()}, info=info)


def _run_seed(exp: Experiment, run: int, seed: int, data: tuple, device: torch.device, saved: dict | None) -> dict:
    """Run `run` on `seed` (from its checkpoint `saved`, if any): its tables, its summary's figures and
    what stopped it early (None if nothing did). With `exp.checkpoint_dir`, checkpoints it along the way and
    saves the result when it is done."""
    x_tr, y_tr, x_val, y_val, x_test, y_test = data
    seed_everything(seed)
    model = build_model(exp.model, **exp.model_options).to(device)
    if exp.settings:
        tracker, on_step = _settings_tracking(exp, model, run, seed, data)
    else:
        tracker = InformationPlaneTracker(model, NUM_CLASSES[exp.dataset], protocol=exp.protocol, run=run,
                                          seed=seed, **exp.estimation)
        on_step = _callback(exp, tracker, exp.n, exp.n_test, seed, data)
    measure_failed: list[str] = []
    state = None
    if saved is not None:
        state = saved["train"]
        tracker.rows_ = [dict(row, run=run) for row in saved["tracker"]["rows"]]
        tracker.widths_, tracker.warned_ = saved["tracker"]["widths"], set(saved["tracker"]["warned"])
        for name, generator in callback_generators(on_step).items():
            generator.set_state(saved["generators"][name])
        measure_failed.extend(saved["measure_failed"])

    def guarded(step, epoch, xb, yb):
        # Activations can blow up before the loss does; the loss check in `train` then comes too late.
        if measure_failed:
            return
        try:
            on_step(step, epoch, xb, yb)
        except NonFiniteActivations as err:
            measure_failed.append(f"measuring stopped at step {step}: {err}")

    path = checkpoint_path(exp.checkpoint_dir, seed) if exp.checkpoint_dir is not None else None
    record = dict(experiment=defining_fields(asdict(exp)), seed=seed)

    def checkpoint(train_state):
        generators = {name: g.get_state() for name, g in callback_generators(on_step).items()}
        save_checkpoint(path, dict(record, train=train_state, finished=None, measure_failed=measure_failed,
                                   generators=generators,
                                   tracker=dict(rows=tracker.rows_, widths=tracker.widths_, warned=tracker.warned_)))

    try:
        log = train(model, x_tr, y_tr, epochs=exp.epochs, lr=exp.lr, batch_size=exp.batch_size, seed=seed,
                    device=device, x_val=x_val if len(y_val) else None, y_val=y_val if len(y_val) else None,
                    x_test=x_test, y_test=y_test, eval_every=exp.eval_every, test_every=exp.test_every,
                    on_step=guarded, progress=exp.progress, state=state,
                    checkpoint=checkpoint if path is not None else None,
                    checkpoint_every=exp.checkpoint_every if path is not None else 0)
    except TrainingDiverged as err:
        measure_failed.insert(0, str(err))
        log = err.log
    test_loss, test_accuracy = evaluate(model, x_test, y_test)
    part = dict(ip=tracker.table(), log=log, early_stopping=early_stopping_steps(log, exp.patience),
                summary=dict(steps=int(log["step"].max()), final_loss=float(log["loss"].iloc[-1]),
                             test_loss=test_loss, test_accuracy=test_accuracy),
                failure=measure_failed[0] if measure_failed else None)
    if path is not None:
        save_checkpoint(path, dict(record, finished=part))
    return part


def _callback(exp: Experiment, tracker, n: int, n_test: int, seed: int, data: tuple):
    """The measuring callback of `tracker` at sample sizes n (train) and n_test (test)."""
    x_tr, y_tr, _, _, x_test, y_test = data
    large = n > exp.batch_size  # the "train" split then measures fresh training samples
    return tracking_callback(tracker, n=n, x_test=x_test, y_test=y_test, n_test=n_test, every=exp.every,
                             dense_until=exp.dense_until, splits=exp.splits, seed=seed,
                             x_train=x_tr if large else None, y_train=y_tr if large else None)


class _SettingsTables:
    """The `SettingsTracker`s of one run, one per sample size (n, n_test); `table` joins their rows in the order
    of `exp.settings`."""

    def __init__(self, trackers: list, order: list[str]):
        self.trackers, self.order = trackers, order

    def table(self) -> pd.DataFrame:
        table = pd.concat([t.table() for t in self.trackers], ignore_index=True)
        rank = {name: i for i, name in enumerate(self.order)}
        return table.sort_values("setting", key=lambda s: s.map(rank), kind="stable", ignore_index=True)


def _settings_tracking(exp: Experiment, model, run: int, seed: int, data: tuple):
    """One `SettingsTracker` and callback per sample size (n, n_test) among `exp.settings`, called in turn."""
    groups: dict[tuple, dict] = {}
    for name, s in exp.settings.items():
        overrides = {k: v for k, v in s.items() if k not in SAMPLE_SIZES}
        groups.setdefault((s.get("n", exp.n), s.get("n_test", exp.n_test)), {})[name] = {**exp.estimation,
                                                                                          **overrides}
    trackers, callbacks = [], []
    for (n, n_test), settings in groups.items():
        tracker = SettingsTracker(model, NUM_CLASSES[exp.dataset], settings, protocol=exp.protocol, run=run,
                                  seed=seed)
        trackers.append(tracker)
        callbacks.append(_callback(exp, tracker, n, n_test, seed, data))
    return _SettingsTables(trackers, list(exp.settings)), chain_callbacks(callbacks)


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


GZIPPED = ("ip", "training_log")  # the per-step tables (megabytes); the others hold a few rows per run
PER_STEP_FLOAT_FORMAT = "%#.9g"
"""How the per-step tables write floats: 9 significant digits hold every float32 (the precision the Gram matrices
are computed in) and a float64 to 5e-10 relative; the digits beyond are noise that gzip cannot compress (the tables
are about a third smaller). '#' keeps the decimal point, so a column of whole numbers (α = 1) reads back as floats."""


def table_path(folder, name: str) -> Path:
    """The file of table `name` ("ip", "training_log", "summary", ...) in a folder `save_results` wrote:
    name.csv.gz, else name.csv (the per-step tables of older results are plain CSV).

    Raises:
        FileNotFoundError: neither file is in `folder`.
    """
    folder = Path(folder)
    for path in (folder / f"{name}.csv.gz", folder / f"{name}.csv"):
        if path.is_file():
            return path
    raise FileNotFoundError(f"no {name}.csv.gz or {name}.csv in {folder}: run the experiment first, or point to "
                            "its output folder")


def _write_table(table: pd.DataFrame, path: Path, gzipped: bool) -> None:
    # Through a handle, so that the gzip header names no file (it would name the temporary one); with no time
    # either, the same table gives the same bytes.
    with open(path, "wb") as f:
        if gzipped:
            table.to_csv(f, index=False, float_format=PER_STEP_FLOAT_FORMAT,
                         compression={"method": "gzip", "mtime": 0, "filename": ""})
        else:
            table.to_csv(f, index=False)


def save_results(results: Results, folder, **extra) -> dict[str, Path]:
    """Write the tables as CSV and the set-up, provenance and wall time as run.json into `folder`.

    Files: ip.csv.gz and training_log.csv.gz (the per-step tables, gzipped, floats to 9 significant digits
    (`PER_STEP_FLOAT_FORMAT`): the same table always gives the same bytes), early_stopping.csv, summary.csv,
    dpi.csv, compression.csv, run.json. With a `setting` column in the IP table, dpi.csv and compression.csv hold
    each setting's rows apart. Each file is written to a temporary name and renamed, so none is ever half-written.
    `extra` goes into run.json (e.g. the notebook's parameters).

    Returns:
        The path of each file: keys ip, training_log, early_stopping, summary, dpi, compression, run.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"ip": results.ip, "training_log": results.log, "early_stopping": results.early_stopping,
              "summary": results.summary, "dpi": _per_setting(dpi_fractions, results.ip),
              "compression": _per_setting(compression, results.ip)}
    paths = {}
    for name, table in tables.items():
        gzipped = name in GZIPPED
        paths[name] = folder / f"{name}.csv{'.gz' if gzipped else ''}"
        _write_atomic(paths[name], lambda p, t=table, gz=gzipped: _write_table(t, p, gz))
    meta = dict(results.info, **extra)
    meta.setdefault("provenance", _provenance())  # results read back keep where they were made
    paths["run"] = folder / "run.json"
    _write_atomic(paths["run"], lambda p: p.write_text(json.dumps(meta, indent=2, default=str)))
    return paths


def _per_setting(analysis, ip: pd.DataFrame) -> pd.DataFrame:
    """`analysis` of the IP table, or with a `setting` column, of each setting's rows (a first column setting)."""
    if "setting" not in ip.columns:
        return analysis(ip)
    parts = [analysis(rows).assign(setting=name) for name, rows in ip.groupby("setting", sort=False)]
    return pd.concat(parts, ignore_index=True).pipe(lambda t: t[["setting", *t.columns[:-1]]])


def load_results(folder) -> Results:
    """Read back what `save_results` wrote; also older folders, whose per-step tables are plain ip.csv and
    training_log.csv.

    Raises:
        FileNotFoundError: `folder` holds no IP table (ip.csv.gz or ip.csv) or misses another table.
    """
    read = lambda name: pd.read_csv(table_path(folder, name))  # noqa: E731  (compression from the name)
    return Results(ip=read("ip"), log=read("training_log"), early_stopping=read("early_stopping"),
                   summary=read("summary"), info=json.loads((Path(folder) / "run.json").read_text()))


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


def experiment_from_parameters(parameters: dict, **overrides) -> Experiment:
    """The Experiment of a notebook's parameters: each `Experiment` field that `parameters` names, and
    `overrides` (which win); the other fields at their defaults.

    Notebooks 01–03 pass their own namespace, so every papermill parameter (``-p epochs 1``) reaches the
    experiment without being copied by hand into a keyword argument; what is not a field (output_dir,
    accuracy_floor, a model option such as activation) is left to the notebook.

    Args:
        parameters: name -> value: a notebook's `globals()`, or the literals of its parameters cell.
        **overrides: fields set by the caller rather than by the parameters (the model and its options).

    Raises:
        ValueError: a bad value, as `Experiment` refuses it.

    Example:
        >>> exp = experiment_from_parameters({"epochs": 2, "output_dir": "results/x"}, model="cnn")
        >>> exp.epochs, exp.model, exp.lr
        (2, 'cnn', 0.09)
    """
    names = {f.name for f in fields(Experiment)}
    return Experiment(**{name: value for name, value in parameters.items() if name in names} | overrides)
