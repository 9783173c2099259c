"""Resumable runs: one checkpoint file per seed, written atomically, refused when another experiment wrote it.

`run_experiment` with `Experiment(checkpoint_dir=..., checkpoint_every=k)` saves every k training steps what the
seed's run needs to go on as if it had never stopped (`ipkit.train.TrainState`: model, optimizer, batch order,
the global random streams, the log so far; the tracker's rows, width smoothing and warnings given; the test-sample
generator), and the seed's finished tables once it is done. Calling it again continues from there.
"""

import os
from pathlib import Path

import torch


def checkpoint_path(folder, seed: int) -> Path:
    """The checkpoint file of `seed` in `folder`."""
    return Path(folder) / f"seed-{seed}.pt"


def save_checkpoint(path: Path, payload: dict) -> None:
    """torch.save `payload` to a temporary name beside `path`, then rename: a kill leaves the old file or the new
    one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, experiment: dict) -> dict | None:
    """The checkpoint at `path` (None if there is none), checked to come from `experiment`.

    Args:
        path: from `checkpoint_path`.
        experiment: the defining fields of the Experiment now run (`ipkit.experiment.defining_fields`), which
            must equal those saved in the checkpoint.

    Raises:
        ValueError: the checkpoint was written by an experiment that differs; names the differing fields.
    """
    if not path.exists():
        return None
    payload = torch.load(path, weights_only=False)  # our own file: it holds the tracker's objects too
    saved = payload["experiment"]
    differ = sorted(k for k in saved.keys() | experiment.keys() if saved.get(k) != experiment.get(k))
    if differ:
        details = ", ".join(f"{k}: {saved.get(k)!r} there, {experiment.get(k)!r} now" for k in differ)
        raise ValueError(f"checkpoint {path} was written by a different experiment ({details}); use another "
                         "checkpoint_dir, or delete that file to start this seed afresh")
    return payload


def callback_generators(on_step) -> dict[str, torch.Generator]:
    """The generators a `ipkit.tracker.tracking_callback` draws its samples from (its `generators` attribute:
    "test", and "train" for large-N draws), so a checkpoint can save and restore their states."""
    generators = getattr(on_step, "generators", None)
    if not isinstance(generators, dict):
        raise TypeError("on_step is not a tracking_callback: it has no `generators`")
    return generators
