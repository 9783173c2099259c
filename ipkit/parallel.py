"""The seeds of one experiment in parallel on dask.distributed: one task per seed, merged in seed order.

Each task is `run_experiment` on one seed in a worker process; the tables come back and `merge_results`
renumbers the runs, so the result equals the in-process one (bit for bit on CPU with the same torch thread
count: a worker uses `exp.threads`, or 1). `ipkit.experiment.run_experiment(exp, scheduler=...)` calls this;
dask is imported only then.
"""

import logging
import os
import re
import warnings
from dataclasses import asdict, replace

import torch
from tqdm.auto import tqdm

from ipkit.experiment import Experiment, Results, merge_results, resolve_device, run_experiment

CONNECT_TIMEOUT = 10  # seconds to wait for a running scheduler to answer
_ADDRESS = re.compile(r"^(tcp|tls)://[^\s:/]+:\d{1,5}$")


def parse_scheduler(scheduler: str) -> tuple[str, int | str | None]:
    """("local", K or None) for "local" / "local:K", ("address", address) for "tcp://host:port" or "tls://...".

    Raises:
        ValueError: anything else, or K < 1.
    """
    if isinstance(scheduler, str):
        if scheduler == "local":
            return "local", None
        if scheduler.startswith("local:"):
            k = scheduler[len("local:"):]
            if k.isdigit() and int(k) >= 1:
                return "local", int(k)
            raise ValueError(f"scheduler {scheduler!r}: K in 'local:K' must be an integer ≥ 1 (workers), "
                             "e.g. 'local:2'; 'local' alone starts one worker per free core")
        if _ADDRESS.match(scheduler):
            return "address", scheduler
    raise ValueError(f"scheduler must be None (in process), 'local', 'local:K' (K ≥ 1 workers) or a running "
                     f"Dask scheduler's address such as 'tcp://host:8786', got {scheduler!r}")


def default_workers(exp: Experiment) -> int:
    """One worker per seed, at most one per GPU on CUDA, else one per core this process may use."""
    if resolve_device(exp.device).type == "cuda":
        available = torch.cuda.device_count()
    else:
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(len(exp.seeds), available))


def run_seed(exp: Experiment, seed: int) -> tuple[Results, list[tuple[type, str]]]:
    """The task: `exp` on the one `seed`, with torch's threads set to `exp.threads` or 1; returns the Results
    and the warnings it raised (category, message), which the client raises again."""
    torch.set_num_threads(exp.threads or 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = run_experiment(replace(exp, seeds=(seed,), progress=False))
    return results, [(w.category, str(w.message)) for w in caught]


def run_seeds(exp: Experiment, scheduler: str) -> Results:
    """`exp`'s seeds as one Dask task each on `scheduler` (see `parse_scheduler`); the Results merged in seed
    order, info["dask_dashboard"] holding the dashboard's address (its pages need bokeh installed).

    Raises:
        ValueError: a malformed `scheduler`.
        ConnectionError: no scheduler answered at the address within `CONNECT_TIMEOUT` seconds.
    """
    kind, value = parse_scheduler(scheduler)
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if kind == "local":
        cluster = LocalCluster(n_workers=value or default_workers(exp), processes=True, threads_per_worker=1,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        try:
            client = Client(value, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as err:
            raise ConnectionError(f"no Dask scheduler answered at {value} within {CONNECT_TIMEOUT} s; start one "
                                  "(dask scheduler, or dask-jobqueue's SLURMCluster) or check the address") from err
    try:
        dashboard = client.dashboard_link if "dashboard" in client.scheduler_info().get("services", {}) else None
        futures = [client.submit(run_seed, exp, seed, pure=False, key=f"ipkit-seed-{seed}-{os.urandom(4).hex()}")
                   for seed in exp.seeds]
        with tqdm(total=len(futures), disable=not exp.progress, desc="seeds", unit="seed") as bar:
            if dashboard:
                bar.set_postfix_str(dashboard, refresh=False)
            for _ in as_completed(futures):
                bar.update()
        done = [future.result() for future in futures]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    for run, (_, caught) in enumerate(done):
        for category, message in caught:
            # A task ran its seed as run 0; say which run it is in the merged tables.
            warnings.warn(re.sub(r"\brun 0\b", f"run {run}", message), category, stacklevel=3)
    merged = merge_results([results for results, _ in done])
    merged.info["experiment"] = asdict(exp)
    merged.info["dask_dashboard"] = dashboard
    return merged
