"""Datasets as whole tensors: MNIST, Fashion-MNIST and CIFAR-10 through torchvision, plus seeded splits and samples.

The experiments index whole tensors (mini-batches, random evaluation samples), so each dataset is loaded once as
x: (N, C, H, W) float32 and y: (N,) int64 rather than through a DataLoader.

The data root is `root=`, else the environment variable IPKIT_DATA, else ./data. It holds torchvision's layouts
(MNIST/raw, FashionMNIST/raw, cifar-10-batches-py) or, for CIFAR-10, an ImageFolder copy at cifar10/{train,test}.

Example:
    >>> x, y = load_dataset("mnist", "test", download=False, n=200)  # from $IPKIT_DATA
    >>> x.shape, x.dtype, y.dtype
    (torch.Size([200, 1, 28, 28]), torch.float32, torch.int64)
"""

import contextlib
import os
import socket
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import Tensor

SPLITS = {"train": True, "test": False}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DOWNLOAD_TIMEOUT_S = 30.0  # per network operation: an offline machine must fail fast, not hang
DEFAULT_ROOT = Path("data")  # used when neither root= nor IPKIT_DATA names a folder; a download may create it


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: `root` if given, else the environment variable IPKIT_DATA, else ./data."""
    if root is None:
        root = os.environ.get("IPKIT_DATA", DEFAULT_ROOT)
    return Path(root).expanduser()


SUBSETS = {
    "random": lambda num, n, seed: torch.randperm(num, generator=torch.Generator().manual_seed(seed))[:n],
    "first": lambda num, n, seed: torch.arange(n),  # the authors' choice: the first 1,000 MNIST training images
}


def subset_indices(num: int, n: int | None, seed: int = 0, subset: str = "random") -> Tensor | None:
    """The positions of the samples `load_dataset(..., n=n, seed=seed, subset=subset)` takes from a split of `num`.

    Args:
        num: the split's size.
        n: the subset's size; None means the whole split.
        seed, subset: as in `load_dataset`.

    Returns:
        (n,) int64 positions in the split's order (`cifar10_files`' for the ImageFolder copy), or None for all.

    Raises:
        ValueError: n outside 1..num, or an unknown subset.
    """
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; valid names: {sorted(SUBSETS)}")
    if n is None:
        return None
    if not 0 < n <= num:
        raise ValueError(f"n must be between 1 and the dataset size {num}, got {n}")
    return SUBSETS[subset](num, n, seed)


def _missing(name: str, root: Path, looked_for: str, why: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"dataset {name!r} not found: no {looked_for} under {root.resolve()} ({why}). Pass root= pointing to a "
        "local copy (e.g. root='../shared/data') or set the IPKIT_DATA environment variable to it; with internet "
        "access, download=True fetches it through torchvision."
    )


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _open_torchvision(cls, name: str, root: Path, train: bool, download: bool, looked_for: str):
    """Open a torchvision dataset from disk, downloading it (with a timeout) only when missing and allowed.

    A root that was named (root= or IPKIT_DATA) but does not exist is refused rather than downloaded into:
    torchvision would create it, and a mistyped path would leave new folders behind.
    """
    try:
        return cls(root, train=train, download=False)
    except RuntimeError:
        if not download:
            raise _missing(name, root, looked_for, "download=False") from None
    if not root.is_dir() and root != DEFAULT_ROOT:
        raise FileNotFoundError(
            f"dataset {name!r} not found: the data root {root.resolve()} does not exist (from root= or the IPKIT_DATA "
            f"environment variable), and it should hold {looked_for}. Point IPKIT_DATA (or root=) at the folder "
            f"that holds {looked_for}, e.g. IPKIT_DATA=../shared/data; to download into a new folder, create it "
            "first (nothing was created)."
        )
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            return cls(root, train=train, download=True)
    except (RuntimeError, OSError) as error:  # urllib's URLError is an OSError
        raise _missing(name, root, looked_for, f"download failed: {error}".strip()) from error


def _load_mnist_like(cls, name: str):
    def load(root: Path, train: bool, download: bool, n: int | None, seed: int,
             subset: str) -> tuple[Tensor, Tensor]:
        ds = _open_torchvision(cls, name, root, train, download, f"{cls.__name__}/raw")
        x, y = ds.data, ds.targets  # (N, 28, 28) uint8, (N,) int64
        idx = subset_indices(len(y), n, seed, subset)
        if idx is not None:
            x, y = x[idx], y[idx]
        return x.unsqueeze(1), y.long()

    return load


def cifar10_files(folder) -> tuple[list[str], Tensor]:
    """The image files of one split of an ImageFolder copy of CIFAR-10, in the order `load_dataset` reads them.

    Args:
        folder: the split's folder, e.g. root/cifar10/train, holding one folder per class of `CIFAR10_CLASSES`.

    Returns:
        paths: the N files, class by class in CIFAR-10's own class order, sorted by name within a class;
        labels: (N,) int64 class indices.

    Raises:
        ValueError: the class folders are not CIFAR-10's.
    """
    folder = Path(folder)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if sorted(classes) != sorted(CIFAR10_CLASSES):
        raise ValueError(f"{folder} should hold one folder per CIFAR-10 class {CIFAR10_CLASSES}, found {classes}")
    paths, labels = [], []
    for label, cls in enumerate(CIFAR10_CLASSES):
        files = sorted(e.path for e in os.scandir(folder / cls) if e.is_file())  # str: 50,000 Paths are slow
        paths += files
        labels += [label] * len(files)
    return paths, torch.tensor(labels, dtype=torch.int64)


def decode_images(paths: list[str]) -> Tensor:
    """Decode image files to (N, 3, H, W) uint8 RGB pixels, as `load_dataset` does for the ImageFolder copy.

    Pillow rather than torchvision.io: torchvision 0.29 deprecates its decoders (pixels are identical; Pillow takes
    about 0.15 ms per 32×32 JPEG here, 2–3× slower than torchvision's batched decode_jpeg).
    """
    arrays = []
    for p in paths:
        with Image.open(p) as image:
            arrays.append(np.asarray(image.convert("RGB")))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, H, W, 3) -> (N, 3, H, W)


def _load_cifar10(root: Path, train: bool, download: bool, n: int | None, seed: int,
                  subset: str) -> tuple[Tensor, Tensor]:
    folder = root / "cifar10" / ("train" if train else "test")
    if not (root / "cifar-10-batches-py").is_dir() and folder.is_dir():
        paths, y = cifar10_files(folder)
        idx = subset_indices(len(y), n, seed, subset)
        if idx is not None:
            paths, y = [paths[i] for i in idx.tolist()], y[idx]
        return decode_images(paths), y
    looked_for = f"cifar-10-batches-py (torchvision) or {folder.relative_to(root)}/<class>/ (ImageFolder)"
    ds = _open_torchvision(torchvision.datasets.CIFAR10, "cifar10", root, train, download, looked_for)
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2)  # (N, 32, 32, 3) -> (N, 3, 32, 32) uint8
    y = torch.tensor(ds.targets, dtype=torch.int64)
    idx = subset_indices(len(y), n, seed, subset)
    if idx is not None:
        x, y = x[idx], y[idx]
    return x.contiguous(), y


# name -> loader(root, train, download, n, seed, subset) -> (x: (N, C, H, W) uint8, y: (N,) int64), the n-sample
# subset taken; scripts/device/vgg16_paper.py points "cifar10" at CIFAR-10 held on the GPU.
DATASETS = {
    "mnist": _load_mnist_like(torchvision.datasets.MNIST, "mnist"),
    "fashion_mnist": _load_mnist_like(torchvision.datasets.FashionMNIST, "fashion_mnist"),
    "cifar10": _load_cifar10,
}


def load_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    raw_pixels: bool = False,
    n: int | None = None,
    seed: int = 0,
    subset: str = "random",
) -> tuple[Tensor, Tensor]:
    """Load a dataset split as whole tensors.

    CIFAR-10 is read from torchvision's layout (root/cifar-10-batches-py) if present, else from an ImageFolder copy
    at root/cifar10/{train,test}/<class>/, else downloaded. With `n`, only the n sampled files are decoded.

    Args:
        name: "mnist", "fashion_mnist" or "cifar10".
        split: "train" or "test".
        root: data folder; None means IPKIT_DATA or ./data (see `data_root`).
        download: download through torchvision when the files are missing (fails fast when offline).
        raw_pixels: keep pixel values as 0–255 floats (the authors' CIFAR-10 input) instead of scaling to [0, 1].
        n: size of a subset; None loads the whole split.
        seed: seed of the subset's torch.Generator ("random" only).
        subset: which n samples: "random" (a seeded uniform subset, not stratified) or "first" (the first n in
            the dataset's order, e.g. the first 1,000 MNIST training images as the authors use).

    Returns:
        x: (N, C, H, W) float32, y: (N,) int64 class indices.

    Raises:
        ValueError: unknown name, split or subset, or n outside 1..dataset size.
        FileNotFoundError: the files are missing and cannot be downloaded, or a named root does not exist (it is
            not created); says where it looked and how to fix it.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {sorted(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid names: {sorted(SPLITS)}")
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; valid names: {sorted(SUBSETS)}")
    x, y = DATASETS[name](data_root(root), SPLITS[split], download, n, seed, subset)
    x = x.to(torch.float32)
    return (x if raw_pixels else x / 255.0), y


def train_val_split(
    x: Tensor, y: Tensor, val_fraction: float, seed: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Seeded random split into training and validation parts.

    Args:
        x: (N, ...) samples. y: (N,) labels.
        val_fraction: share of the N samples held out, in (0, 1); rounded to a whole count of at least 1.
        seed: seed of the permutation's torch.Generator.

    Returns:
        x_tr, y_tr, x_val, y_val.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    num = len(y)
    n_val = max(1, round(num * val_fraction))
    if n_val >= num:
        raise ValueError(f"val_fraction={val_fraction} leaves no training samples out of {num}")
    perm = torch.randperm(num, generator=torch.Generator().manual_seed(seed)).to(y.device)
    tr, val = perm[n_val:], perm[:n_val]
    return x[tr], y[tr], x[val], y[val]


def sample_batch(x: Tensor, y: Tensor, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Draw n distinct random samples, e.g. the fresh test samples measured at each iteration (docs/method.md §4).

    Args:
        x: (N, ...) samples. y: (N,) labels.
        n: number of samples, 1 ≤ n ≤ N.
        generator: CPU torch.Generator; successive calls advance it.

    Returns:
        (n, ...) samples and (n,) labels, on x's and y's device.
    """
    if not 0 < n <= len(y):
        raise ValueError(f"n must be between 1 and the number of samples {len(y)}, got {n}")
    idx = torch.randperm(len(y), generator=generator)[:n].to(y.device)
    return x[idx], y[idx]
