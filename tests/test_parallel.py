"""Seeds in parallel on dask.distributed (ipkit.parallel): the scheduler strings accepted and refused, an
unreachable address, and 2 seeds on 2 worker processes giving the in-process tables bit for bit."""

import logging
import socket
import warnings

import pandas as pd
import pytest

from ipkit import parallel
from ipkit.experiment import Experiment, run_experiment
from ipkit.parallel import parse_scheduler
from ipkit.tracker import DegenerateMeasurement

TABLES = ("ip", "log", "early_stopping", "summary")


def tiny(root, **kwargs) -> Experiment:
    """270 training images after the validation split (3 steps of 100), one epoch, one thread."""
    options = dict(model="mlp", train_size=300, test_size=300, epochs=1, n=20, n_test=20, seeds=(0, 1),
                   progress=False, device="cpu", threads=1, data_root=str(root))
    return Experiment(**(options | kwargs))


def run_recording(exp, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = run_experiment(exp, **kwargs)
    return results, sorted(str(w.message) for w in caught if w.category is DegenerateMeasurement)


@pytest.mark.parametrize("scheduler, parsed", [
    ("local", ("local", None)), ("local:3", ("local", 3)), ("tcp://10.0.0.5:8786", ("address", "tcp://10.0.0.5:8786")),
    ("tls://scheduler.cluster:8786", ("address", "tls://scheduler.cluster:8786")),
])
def test_parse_scheduler(scheduler, parsed):
    assert parse_scheduler(scheduler) == parsed


@pytest.mark.parametrize("scheduler", ["local:0", "local:-1", "local:two", "local:", "8786", "tcp://host",
                                       "http://host:8786", "Local", "", 2])
def test_malformed_scheduler_is_refused_before_any_work(scheduler, tmp_path):
    exp = tiny(tmp_path / "no-data")  # no data there: the scheduler is refused before anything is loaded
    with pytest.raises(ValueError, match="scheduler"):
        run_experiment(exp, scheduler=scheduler)


def test_unreachable_address_fails_within_the_timeout_naming_it(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 1)
    with pytest.raises(ConnectionError, match=f"no Dask scheduler answered at {address} within 1 s"):
        run_experiment(tiny(tmp_path), scheduler=address)


@pytest.fixture(scope="module")
def in_process(mnist_root):
    return run_recording(tiny(mnist_root))


def test_two_seeds_on_two_workers_equal_the_in_process_run(mnist_root, in_process):
    exp = tiny(mnist_root, progress=True)  # the bar runs in this process, over finished seeds
    results, messages = run_recording(exp, scheduler="local:2")
    expected, expected_messages = in_process
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(results, name), getattr(expected, name), check_exact=True)
    assert results.summary[["run", "seed"]].values.tolist() == [[0, 0], [1, 1]]
    assert results.info["dask_dashboard"].startswith("http://")
    assert results.info["experiment"]["progress"] is True and results.info["threads"] == 1
    same = lambda info: {k: v for k, v in info.items() if k not in ("seconds", "dask_dashboard", "experiment")}  # noqa: E731
    assert same(results.info) == same(expected.info)
    assert messages == expected_messages and any("(run 1," in m for m in messages)  # warnings name the merged run


def test_running_cluster_by_address(mnist_root, in_process):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, protocol="tcp", threads_per_worker=1, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster:
        results, _ = run_recording(tiny(mnist_root), scheduler=cluster.scheduler_address)
        assert len(cluster.scheduler.workers) == 1  # the cluster outlives the run: only the client was closed
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(results, name), getattr(in_process[0], name), check_exact=True)
