"""Experiment parameters as papermill passes them: bad values are refused where they enter, with a message that
says what was wrong and how to pass it (issue 15: `-p epochs 0`, `-y "seeds: []"`, `-p seeds "[]"`)."""

import pytest

from ipkit.experiment import Experiment


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
