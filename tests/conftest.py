"""Shared fixtures: where the datasets are (IPKIT_DATA, else ../shared/data beside the repository)."""

import os
from pathlib import Path

import pytest
import torch

# The tests work on tiny tensors, where a second thread gains nothing; on a shared machine whose cores are
# busy, two spinning OpenMP threads made them 5–7× slower (eigvalsh on 100×100 matrices took seconds).
# An explicit OMP_NUM_THREADS still wins.
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(1)

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The data folder (env IPKIT_DATA, else ../shared/data); skips the test when it does not exist."""
    root = Path(os.environ.get("IPKIT_DATA", DEFAULT_DATA_ROOT)).expanduser()
    if not root.is_dir():
        pytest.skip(f"no data folder at {root}: set IPKIT_DATA to a folder holding MNIST/raw, cifar10/, ...")
    return root


@pytest.fixture(scope="session")
def mnist_root(data_root: Path) -> Path:
    """The data folder, checked to hold MNIST in torchvision's layout (MNIST/raw); skips otherwise."""
    if not (data_root / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST under {data_root} (expected {data_root / 'MNIST' / 'raw'}; set IPKIT_DATA)")
    return data_root
