"""Experiment parameters as papermill passes them: bad values are refused where they enter, with a message that
says what was wrong and how to pass it (issue 15: `-p epochs 0`, `-y "seeds: []"`, `-p seeds "[]"`); and every
parameter of notebooks 01–03 reaches their Experiment (`experiment_from_parameters`) or the notebook itself."""

import ast
import dataclasses
from pathlib import Path

import jupytext
import pytest

from ipkit.experiment import Experiment, experiment_from_parameters

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("options, message", [
    (dict(epochs=0), "epochs must be an integer ≥ 1, got 0"),
    (dict(epochs=2.5), "epochs must be an integer"),
    (dict(seeds=[]), "seeds must be a non-empty list"),
    (dict(seeds="[]"), r"seeds must be a non-empty list.*-y"),
    (dict(seeds=[0, "1"]), "seeds must be a non-empty list of integers"),
    (dict(lr=float("nan")), "lr must be a number > 0"),
    (dict(lr=-0.1), "lr must be a number > 0"),
    (dict(n=1.0), "n must be an integer"),
    (dict(val_fraction=1.0), r"val_fraction must lie in \[0, 1\)"),
    (dict(threads=0), "threads must be an integer ≥ 1 or None"),
    (dict(dataset="mnits"), "unknown dataset 'mnits'; valid: mnist, fashion_mnist, cifar10"),
    (dict(estimation="alpha=1"), "estimation must be a dict"),
])
def test_bad_parameters_are_refused_before_any_data_is_read(options, message):
    with pytest.raises(ValueError, match=message):
        Experiment(data_root="/nonexistent", **options)


def test_lists_from_papermill_become_tuples():
    exp = Experiment(seeds=[3, 1], splits=["train"], patience=[5])
    assert exp.seeds == (3, 1) and exp.splits == ("train",) and exp.patience == (5,)


def test_experiment_from_parameters_takes_the_fields_it_names_and_the_overrides():
    parameters = dict(epochs=2, seeds=[3], estimation={"alpha": 2.0}, output_dir="results/x", activation="relu",
                      model="cnn")
    exp = experiment_from_parameters(parameters, model="mlp", model_options={"activation": "relu"})
    assert exp == Experiment(epochs=2, seeds=(3,), estimation={"alpha": 2.0}, model="mlp",
                             model_options={"activation": "relu"})
    with pytest.raises(ValueError, match="epochs must be an integer ≥ 1, got 0"):
        experiment_from_parameters(dict(epochs=0))


@pytest.mark.parametrize("name", ["01_mlp_mnist", "02_cnn_mnist", "03_vgg16_cifar10"])
def test_every_notebook_parameter_reaches_the_experiment_or_the_notebook(name):
    """Notebooks 01–03 hand their namespace to `experiment_from_parameters`: a parameter that is neither an
    Experiment field nor read by the notebook (a misspelt `eval_evry`) would be dropped without a word."""
    cells = [c for c in jupytext.read(NOTEBOOKS / f"{name}.py").cells if c.cell_type == "code"]
    assert "parameters" in cells[0].metadata.get("tags", [])
    parameters = {t.id for node in ast.parse(cells[0].source).body for t in node.targets}
    read = {node.id for cell in cells[1:] for node in ast.walk(ast.parse(cell.source))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    assert "experiment_from_parameters" in read and "globals" in read
    fields = {f.name for f in dataclasses.fields(Experiment)}
    assert not parameters - fields - read, f"{name}: parameters used nowhere"
