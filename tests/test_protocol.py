"""The authors' protocols as presets (ipkit.protocol): each preset's width search equals an independent NumPy
re-implementation of that protocol (the authors' grid, mean distance, first argmax of the alignment), the grid
switches at the authors' iteration, overrides are applied and recorded, bad names are refused."""

import numpy as np
import pytest
import torch

from ipkit import PROTOCOLS, InformationPlaneTracker, estimation
from ipkit.experiment import Experiment
from ipkit.models import build_model
from ipkit.widths import alignment_grid, mean_distance

# protocol -> (grid's lower bound, points early, points after, last early step counted from 1)
AUTHORS = {"wickstrom2019": (0.3, 300, 100, 21), "wickstrom2023": (0.1, 75, 50, 41)}


def authors_sigma(t: np.ndarray, y: np.ndarray, low: float, points: int) -> float:
    """The authors' search, in float64: d = ‖t_i − t_j‖ (N × N), candidates linspace(low, 10 · d.mean(), points)
    with the mean over all N² entries, the first candidate maximizing ⟨K, K_Y⟩ / (‖K‖ ‖K_Y‖)."""
    t = t.reshape(len(t), -1)
    d = np.sqrt(((t[:, None, :] - t[None, :, :]) ** 2).sum(-1))
    k_y = (y[:, None] == y[None, :]).astype(float)
    scores = []
    for sigma in np.linspace(low, 10 * d.mean(), points):
        k = np.exp(-d**2 / sigma**2) / len(t)
        scores.append(np.trace(k @ k_y) / (np.linalg.norm(k) * np.linalg.norm(k_y)))
    return float(np.linspace(low, 10 * d.mean(), points)[int(np.argmax(scores))])


def batch(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g, dtype=torch.float64), torch.randint(0, 10, (n,), generator=g)


@pytest.fixture
def mlp64():
    torch.manual_seed(0)
    return build_model("mlp").double()


def hidden(model, x, layer):
    model.eval()
    out = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: out.update(t=o))
    with torch.no_grad():
        model(x)
    handle.remove()
    return out["t"]


@pytest.mark.parametrize("protocol", sorted(AUTHORS))
def test_preset_width_is_the_authors_argmax(protocol, mlp64):
    low, early, _, _ = AUTHORS[protocol]
    x, y = batch()
    tracker = InformationPlaneTracker(mlp64, 10, protocol=protocol)
    tracker.measure(x, y, step=1)
    table = tracker.table().set_index("layer")
    for layer in ["fc1", "fc2", "fc4"]:
        t = hidden(mlp64, x, layer).numpy()
        assert table.loc[layer, "sigma_T"] == pytest.approx(authors_sigma(t, y.numpy(), low, early), rel=1e-9)
    assert (table["protocol"] == protocol).all() and (table["overrides"] == "").all()


@pytest.mark.parametrize("protocol", sorted(AUTHORS))
def test_grid_switches_at_the_authors_iteration(protocol, mlp64):
    low, early, late, last_early = AUTHORS[protocol]
    tracker = InformationPlaneTracker(mlp64, 10, protocol=protocol, beta=0.0)  # σ_T = σ*_t at every step
    switched = False
    for step in (last_early, last_early + 1):
        x, y = batch(seed=step)
        tracker.measure(x, y, step=step)
        t = hidden(mlp64, x, "fc2").numpy()
        points = early if step == last_early else late
        sigma = tracker.table().query("step == @step and layer == 'fc2'")["sigma_T"].item()
        assert sigma == pytest.approx(authors_sigma(t, y.numpy(), low, points), rel=1e-9)
        other = authors_sigma(t, y.numpy(), low, late if points == early else early)
        switched |= abs(other - sigma) > 1e-6 * sigma  # the batch tells the two grids apart
    assert switched, "choose batches on which the two grid sizes give different widths"
    assert tracker.table()["overrides"].unique().tolist() == ["beta=0.0"]


def test_mean_distance_conventions():
    d2 = torch.tensor([[0.0, 4.0, 9.0], [4.0, 0.0, 1.0], [9.0, 1.0, 0.0]])  # distances 2, 3, 1
    assert mean_distance(d2, "all").item() == pytest.approx(2 * (2 + 3 + 1) / 9)
    assert mean_distance(d2, "pairs").item() == pytest.approx(2 * (2 + 3 + 1) / 6)
    assert alignment_grid(d2, 3, 0.3, 10.0, "all")[-1].item() == pytest.approx(10 * 12 / 9)
    with pytest.raises(ValueError, match="all, pairs"):
        mean_distance(d2, "offdiagonal")


def test_presets_differ_only_where_the_authors_did():
    a, b = (estimation(p) for p in ("wickstrom2019", "wickstrom2023"))
    differ = {name for name in PROTOCOLS["wickstrom2019"] if getattr(a, name) != getattr(b, name)}
    assert differ == {"sigma_min", "n_candidates_early", "n_candidates", "early_steps"}
    assert a.alpha == b.alpha == 1.0 and a.sigma_x == 8.0 and a.mean_distance == "all" and a.beta == 0.9


def test_overrides_are_applied_and_recorded():
    est = estimation("wickstrom2023", alpha=1.01, mean_distance="pairs")
    assert est.protocol == "wickstrom2023" and est.alpha == 1.01 and est.sigma_min == 0.1
    assert est.describe_overrides() == "alpha=1.01;mean_distance='pairs'"
    assert estimation(est, beta=0.5).overrides == ("alpha", "beta", "mean_distance")


def test_experiment_records_protocol_and_overrides():
    exp = Experiment(protocol="wickstrom2023", estimation={"alpha": 1.01})
    assert exp.protocol == "wickstrom2023" and exp.estimation == {"alpha": 1.01}


@pytest.mark.parametrize("call, message", [
    (lambda: estimation("wickstrom2020"), "valid protocols: wickstrom2019, wickstrom2023"),
    (lambda: estimation(alphaa=1.0), "unknown estimation setting.*alphaa.*valid settings"),
    (lambda: estimation(sigma_x="abc"), "sigma_x 'abc'; valid: alignment, knn, silverman"),
    (lambda: estimation(width_rule="median"), "width_rule 'median'"),
    (lambda: estimation(alpha=float("inf")), "alpha must be finite"),
    (lambda: estimation(n_candidates=0), "n_candidates must be an integer"),
    (lambda: Experiment(protocol="paper"), "valid protocols"),
    (lambda: Experiment(estimation={"sigma": 2.0}), "unknown estimation setting"),
])
def test_bad_names_and_values_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
