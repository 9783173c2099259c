"""Plain SGD training with a per-step callback, as in the paper's experiments (docs/method.md §5).

Cross-entropy, torch.optim.SGD without momentum (lr 0.09, batch 100 in the paper), shuffled mini-batches from a
seeded generator, no augmentation, no early stopping in training itself. After every optimizer step `on_step`
receives the batch just trained on, so a tracker can measure the information plane at that iteration.
Where early stopping *would* have stopped is computed afterwards from the log by `early_stopping_steps`.

Example (random stand-ins for MNIST images; `tracking_callback` measures the IP after every step):
    >>> from ipkit import InformationPlaneTracker
    >>> from ipkit.models import build_model
    >>> from ipkit.tracker import tracking_callback
    >>> seed_everything(0)
    >>> x, y = torch.rand(300, 1, 28, 28), torch.arange(300) % 10
    >>> model = build_model("mlp")
    >>> tracker = InformationPlaneTracker(model, num_classes=10)
    >>> log = train(model, x[:200], y[:200], epochs=2, x_val=x[200:], y_val=y[200:], eval_every=1,
    ...             on_step=tracking_callback(tracker, n=100), progress=False)
    >>> log["step"].tolist(), len(tracker.table())  # 2 steps per epoch, 5 measured layers per step
    ([1, 2, 3, 4], 20)
    >>> early_stopping_steps(log, patience=[1, 100]).columns.tolist()
    ['patience', 'stop_step', 'best_step']
"""

import copy
import math
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ipkit.hooks import eval_mode

LOG_COLUMNS = ["epoch", "step", "loss", "batch_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"]


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or Inf; `.log` holds the training log up to and including that step."""

    def __init__(self, message: str, log: pd.DataFrame):
        super().__init__(message)
        self.log = log


@dataclass
class TrainState:
    """Where `train` stands after a step: what it needs to go on as if it had never stopped (`train(state=...)`).

    Attributes:
        step: steps taken. epoch: the epoch of that step, counted from 1.
        order: (N,) int64, that epoch's sample order (on the CPU).
        generator: the batch-order generator's state (it draws one order per epoch).
        rows: the training log's rows so far.
        model, optimizer: their state_dict()s.
        rng: the global random streams (`rng_states`): dropout's torch CPU and CUDA generators, Python, NumPy.
    """

    step: int
    epoch: int
    order: Tensor
    generator: Tensor
    rows: list
    model: dict
    optimizer: dict
    rng: dict


def rng_states() -> dict:
    """The global random streams' states: torch's CPU generator, every CUDA device's (if any), Python's, NumPy's."""
    return dict(torch=torch.get_rng_state(), python=random.getstate(), numpy=np.random.get_state(),
                cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)


def set_rng_states(states: dict) -> None:
    """Restore what `rng_states` returned."""
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    if states["cuda"] is not None:
        torch.cuda.set_rng_state_all(states["cuda"])


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices), e.g. before building a model.

    CPU runs repeat bit for bit with the seed alone. CUDA runs do not (cuDNN/cuBLAS pick non-deterministic
    kernels: two VGG-16 runs on an H100 differed by 0.1 in the loss after 10 steps) unless `deterministic`.

    Args:
        seed: the seed.
        deterministic: also make torch use deterministic algorithms (process-wide, slower on GPU). For cuBLAS
            this sets CUBLAS_WORKSPACE_CONFIG, which only takes effect if no CUDA matmul ran earlier.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def model_device(model: nn.Module) -> torch.device:
    """The model's device: that of its first parameter or buffer; the CPU for a model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` on (x, y), in eval mode under no_grad.

    The data moves to the model's device batch by batch; the model's previous train/eval mode is restored.

    Args:
        x: (N, ...) inputs. y: (N,) int64 labels.

    Returns:
        (loss, accuracy) as floats.
    """
    device = model_device(model)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with eval_mode(model), torch.no_grad():
        for i in range(0, len(y), batch_size):
            xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
            logits = model(xb)
            loss_sum += F.cross_entropy(logits, yb, reduction="sum").double()
            correct += (logits.argmax(dim=1) == yb).sum()
    return loss_sum.item() / len(y), correct.item() / len(y)


def train(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    lr: float = 0.09,
    batch_size: int = 100,
    seed: int = 0,
    device: str | torch.device | None = None,
    x_val: Tensor | None = None,
    y_val: Tensor | None = None,
    x_test: Tensor | None = None,
    y_test: Tensor | None = None,
    eval_every: int | None = None,
    test_every: int | None = None,
    on_step: Callable[[int, int, Tensor, Tensor], None] | None = None,
    progress: bool = True,
    max_steps: int | None = None,
    state: TrainState | None = None,
    checkpoint: Callable[[TrainState], None] | None = None,
    checkpoint_every: int = 0,
) -> pd.DataFrame:
    """Train `model` in place with plain mini-batch SGD on cross-entropy; return the training log.

    Each epoch visits the N samples in a fresh random order (the last batch may be smaller). `seed` seeds the
    shuffling generator and torch's global generator (dropout), so a CPU run is repeatable bit for bit.

    Args:
        model: the network; moved to `device` if one is given.
        x: (N, ...) training inputs, any device; moved to `device` batch by batch. y: (N,) int64 labels.
        epochs: passes over the data.
        lr: SGD learning rate (no momentum, no weight decay).
        batch_size: mini-batch size.
        seed: seed of the batch order and of dropout.
        device: where to train; None means the model's device.
        x_val, y_val: optional validation data, evaluated with `evaluate`.
        x_test, y_test: optional test data, evaluated every `test_every` steps (recorded, never used for stopping).
        eval_every: evaluate the validation data every this many steps and at the last step; None means at the end
            of every epoch.
        test_every: evaluate the test data every this many steps and at the last step; None: as `eval_every`.
        on_step: called as on_step(step, epoch, xb, yb) after each optimizer step, step counting from 1 and epoch
            from 1, xb/yb the batch just trained on (on `device`). It decides itself whether to measure; it may
            switch the model to eval mode, each step switches back to train mode.
        progress: show a tqdm progress bar.
        max_steps: stop after this many steps in total (quick runs); None trains all `epochs`.
        state: continue from this `TrainState` (model, optimizer, random streams, log, mid-epoch position)
            instead of starting afresh; with the same arguments the log equals an uninterrupted run's, bit for
            bit on CPU.
        checkpoint: called as checkpoint(TrainState) every `checkpoint_every` steps, after `on_step`.
        checkpoint_every: steps between checkpoints; 0 never calls `checkpoint`.

    Returns:
        One row per step with columns epoch, step, loss (the batch loss before the step), batch_accuracy,
        val_loss, val_accuracy, test_loss, test_accuracy; the evaluation columns are NaN except on evaluation
        rows (all NaN without that data).

    Raises:
        TrainingDiverged: the loss became NaN or Inf; no step is taken with it, and `.log` holds the rows so far.
    """
    device = torch.device(device) if device is not None else model_device(model)
    model.to(device)
    validate = x_val is not None and y_val is not None
    steps_per_epoch = math.ceil(len(y) / batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    eval_every = steps_per_epoch if eval_every is None else eval_every
    test_every = eval_every if test_every is None else test_every
    if eval_every < 1 or test_every < 1:
        raise ValueError(f"eval_every and test_every must be ≥ 1, got {eval_every} and {test_every}")
    if checkpoint_every < 0 or (checkpoint_every and checkpoint is None):
        raise ValueError(f"checkpoint_every must be ≥ 0 and needs a checkpoint callback, got {checkpoint_every}")

    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator()
    if state is None:
        torch.manual_seed(seed)
        generator.manual_seed(seed)
        rows: list[dict] = []
        step, first_epoch, order = 0, 1, None
    else:
        model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        generator.set_state(state.generator)
        set_rng_states(state.rng)
        rows = [dict(row) for row in state.rows]
        step, first_epoch, order = state.step, state.epoch, state.order
    with tqdm(total=total, initial=step, disable=not progress, desc="train", unit="step") as bar:
        for epoch in range(first_epoch, epochs + 1):
            if order is None:
                order = torch.randperm(len(y), generator=generator)
            on_device = order.to(y.device)
            done = step - (epoch - 1) * steps_per_epoch  # batches of this epoch already trained (resumed runs)
            for start in range(done * batch_size, len(y), batch_size):
                if step == total:
                    break
                step += 1
                idx = on_device[start : start + batch_size]
                xb, yb = x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
                model.train()
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                accuracy = (logits.argmax(dim=1) == yb).double().mean()
                loss_value, accuracy_value = torch.stack([loss.detach().double(), accuracy]).tolist()  # one sync
                row = {"epoch": epoch, "step": step, "loss": loss_value, "batch_accuracy": accuracy_value}
                rows.append(row)
                if not math.isfinite(loss_value):
                    raise TrainingDiverged(
                        f"training diverged at step {step} (epoch {epoch}): the loss became {loss_value}; "
                        f"try a lower learning rate than lr={lr}",
                        _log(rows),
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if validate and (step % eval_every == 0 or step == total):
                    row["val_loss"], row["val_accuracy"] = evaluate(model, x_val, y_val)
                if x_test is not None and y_test is not None and (step % test_every == 0 or step == total):
                    row["test_loss"], row["test_accuracy"] = evaluate(model, x_test, y_test)
                if on_step is not None:
                    on_step(step, epoch, xb, yb)
                if checkpoint_every and step % checkpoint_every == 0:
                    checkpoint(TrainState(step, epoch, order, generator.get_state(), [dict(r) for r in rows],
                                          copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()),
                                          rng_states()))
                bar.update()
                if step % 10 == 0 or step == total:
                    bar.set_postfix(loss=f"{loss_value:.3f}", refresh=False)
            if step == total:
                break
            order = None
    return _log(rows)


def _log(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=LOG_COLUMNS).astype({"epoch": "int64", "step": "int64"})


def early_stopping_steps(log: pd.DataFrame, patience: Iterable[int]) -> pd.DataFrame:
    """Where early stopping on the validation loss would have stopped training, for several patiences.

    Early stopping with patience p (in steps) stops at the first evaluation step s with s − b ≥ p, b the step of
    the lowest val_loss so far (a tie does not count as an improvement). Training itself never stops early; the
    paper marks these steps in the information plane (PAPER.md §6, Figure 1).

    Args:
        log: training log from `train`; only rows with a val_loss are used.
        patience: patiences p ≥ 0, in steps.

    Returns:
        Columns patience, stop_step (<NA> if it would never have stopped), best_step (the best step at the stop,
        or over the whole run if it never stopped); one row per patience.

    Example:
        >>> log = pd.DataFrame({"step": [10, 20, 30, 40], "val_loss": [1.0, 0.5, 0.6, 0.7]})
        >>> early_stopping_steps(log, [10, 20, 100]).stop_step.tolist()
        [30, 40, <NA>]
    """
    evals = log.loc[log["val_loss"].notna(), ["step", "val_loss"]].sort_values("step")
    rows = []
    for p in patience:
        if p < 0:
            raise ValueError(f"patience must be ≥ 0 steps, got {p}")
        best_loss, best_step, stop_step = math.inf, None, None
        for step, val_loss in zip(evals["step"].tolist(), evals["val_loss"].tolist()):
            if val_loss < best_loss:
                best_loss, best_step = val_loss, step
            if best_step is not None and step - best_step >= p:
                stop_step = step
                break
        rows.append({"patience": p, "stop_step": stop_step, "best_step": best_step})
    return pd.DataFrame(rows, columns=["patience", "stop_step", "best_step"]).astype(
        {"stop_step": "Int64", "best_step": "Int64"}
    )
