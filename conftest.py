"""pytest set-up for the tests (tests/) and the docstring examples (ipkit/, collected by --doctest-modules).

The one place that knows where the datasets are: IPKIT_DATA, else ../shared/data beside the repository. The
docstring examples load data through IPKIT_DATA as a user would, so it is set here when it is not set already.
Tests ask for a data folder through the fixtures below, which skip a test whose dataset is not there.
"""

import os
from pathlib import Path

import pytest
import torch

DEFAULT_DATA_ROOT = Path(__file__).resolve().parent.parent / "shared" / "data"
os.environ.setdefault("IPKIT_DATA", str(DEFAULT_DATA_ROOT))
# Figures are drawn and saved, never shown: no display is needed (ipkit/plot.py's examples, tests/test_plot.py).
os.environ.setdefault("MPLBACKEND", "Agg")

# The tests work on tiny tensors, where a second thread gains nothing; on a shared machine whose cores are
# busy, two spinning OpenMP threads made them 5–7× slower (eigvalsh on 100×100 matrices took seconds).
# An explicit OMP_NUM_THREADS still wins.
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The data folder (IPKIT_DATA, else ../shared/data); skips the test when it does not exist."""
    root = Path(os.environ["IPKIT_DATA"]).expanduser()
    if not root.is_dir():
        pytest.skip(f"no data folder at {root}: set IPKIT_DATA to a folder holding MNIST/raw, cifar10/, ...")
    return root


def _holding(root: Path, folders: tuple[str, ...], dataset: str) -> Path:
    """`root` if it holds one of `folders`, else skip the test naming what was looked for."""
    if not any((root / folder).is_dir() for folder in folders):
        pytest.skip(f"no {dataset} under {root} (expected {' or '.join(folders)}; set IPKIT_DATA)")
    return root


@pytest.fixture(scope="session")
def mnist_root(data_root: Path) -> Path:
    """The data folder, checked to hold MNIST in torchvision's layout (MNIST/raw)."""
    return _holding(data_root, ("MNIST/raw",), "MNIST")


@pytest.fixture(scope="session")
def fashion_mnist_root(data_root: Path) -> Path:
    """The data folder, checked to hold Fashion-MNIST (FashionMNIST/raw)."""
    return _holding(data_root, ("FashionMNIST/raw",), "Fashion-MNIST")


@pytest.fixture(scope="session")
def cifar10_root(data_root: Path) -> Path:
    """The data folder, checked to hold CIFAR-10 as an ImageFolder copy (cifar10/train, cifar10/test)."""
    return _holding(data_root, ("cifar10/train",), "CIFAR-10 ImageFolder copy")
