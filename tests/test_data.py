"""Datasets as tensors: MNIST and CIFAR-10 from the local copies, clear errors, seeded splits and samples."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from ipkit.data import (CIFAR10_CLASSES, cifar10_files, data_root, decode_images, load_dataset, sample_batch,
                        subset_indices, train_val_split)


def test_mnist_test_split_shapes_range_dtype(mnist_root):
    x, y = load_dataset("mnist", "test", root=mnist_root, download=False)
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (10000,) and y.dtype == torch.int64
    assert x.min().item() == 0.0 and x.max().item() == 1.0
    assert torch.equal(y.unique(), torch.arange(10))


def test_subset_is_seeded(mnist_root):
    x1, y1 = load_dataset("mnist", "train", root=mnist_root, download=False, n=20, seed=1)
    x2, y2 = load_dataset("mnist", "train", root=mnist_root, download=False, n=20, seed=1)
    x3, _ = load_dataset("mnist", "train", root=mnist_root, download=False, n=20, seed=2)
    assert x1.shape == (20, 1, 28, 28) and y1.shape == (20,)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)


def test_raw_pixels_keeps_0_to_255(mnist_root):
    x, _ = load_dataset("mnist", "test", root=mnist_root, download=False, n=10)
    raw, _ = load_dataset("mnist", "test", root=mnist_root, download=False, n=10, raw_pixels=True)
    assert raw.max().item() == 255.0
    torch.testing.assert_close(raw / 255.0, x, rtol=0, atol=1e-7)


def test_fashion_mnist(fashion_mnist_root):
    x, y = load_dataset("fashion_mnist", "test", root=fashion_mnist_root, download=False, n=30)
    assert x.shape == (30, 1, 28, 28) and y.dtype == torch.int64
    assert 0.0 <= x.min().item() and x.max().item() <= 1.0


def test_cifar10_imagefolder_subset(cifar10_root):
    x, y = load_dataset("cifar10", "train", root=cifar10_root, download=False, n=50)
    assert x.shape == (50, 3, 32, 32) and x.dtype == torch.float32
    assert 0.0 <= x.min().item() and x.max().item() <= 1.0
    assert y.shape == (50,) and y.dtype == torch.int64
    assert 0 <= y.min().item() and y.max().item() <= 9
    raw, y_raw = load_dataset("cifar10", "train", root=cifar10_root, download=False, n=50, raw_pixels=True)
    assert raw.max().item() > 1.0
    torch.testing.assert_close(raw / 255.0, x, rtol=0, atol=1e-6)
    assert torch.equal(y_raw, y)


def test_cifar10_test_split(cifar10_root):
    x, y = load_dataset("cifar10", "test", root=cifar10_root, download=False, n=20, seed=3)
    assert x.shape == (20, 3, 32, 32) and y.shape == (20,)


def test_cifar10_labels_follow_the_standard_class_order(tmp_path):
    # one constant-colour PNG per class, its grey level encodes the class index
    for label, name in enumerate(CIFAR10_CLASSES):
        folder = tmp_path / "cifar10" / "test" / name
        folder.mkdir(parents=True)
        Image.new("RGB", (32, 32), (20 * label,) * 3).save(folder / "0000.png")
    x, y = load_dataset("cifar10", "test", root=tmp_path, download=False, raw_pixels=True)
    assert torch.equal(y, torch.arange(10))
    assert torch.equal(x[:, 0, 0, 0], 20.0 * torch.arange(10))


def test_subset_indices_are_load_datasets_subsets():
    assert subset_indices(10, None) is None  # the whole split
    assert subset_indices(10, 3, subset="first").tolist() == [0, 1, 2]
    drawn = subset_indices(10, 4, seed=5)
    assert drawn.tolist() == torch.randperm(10, generator=torch.Generator().manual_seed(5))[:4].tolist()
    assert drawn.dtype == torch.int64 and len(set(drawn.tolist())) == 4
    assert subset_indices(10, 4, seed=5).equal(drawn) and not subset_indices(10, 4, seed=6).equal(drawn)
    for n in (0, 11):
        with pytest.raises(ValueError, match="n must be between 1 and the dataset size 10"):
            subset_indices(10, n)
    with pytest.raises(ValueError, match=r"unknown subset 'middle'; valid names: \['first', 'random'\]"):
        subset_indices(10, None, subset="middle")


def test_cifar10_files_and_decode_images_are_what_load_dataset_reads(tmp_path):
    # two constant-colour PNGs per class, written b before a: the red level encodes the class, green the file
    for label, name in enumerate(CIFAR10_CLASSES):
        folder = tmp_path / "cifar10" / "train" / name
        folder.mkdir(parents=True)
        for green, file in ((200, "b.png"), (100, "a.png")):
            Image.new("RGB", (32, 32), (20 * label, green, 7)).save(folder / file)
    paths, labels = cifar10_files(tmp_path / "cifar10" / "train")
    assert [Path(p).relative_to(tmp_path / "cifar10" / "train").as_posix() for p in paths[:3]] == [
        "airplane/a.png", "airplane/b.png", "automobile/a.png"]
    assert labels.dtype == torch.int64 and labels.tolist() == [c for c in range(10) for _ in range(2)]
    x = decode_images(paths)
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.uint8
    assert x[:, :, 5, 5].tolist() == [[20 * c, green, 7] for c in range(10) for green in (100, 200)]
    some = subset_indices(len(labels), 5, seed=1)
    raw, y = load_dataset("cifar10", "train", root=tmp_path, download=False, raw_pixels=True, n=5, seed=1)
    assert raw.equal(decode_images([paths[i] for i in some.tolist()]).float()) and y.equal(labels[some])


def test_cifar10_wrong_class_folders_raise(tmp_path):
    (tmp_path / "cifar10" / "train" / "cats").mkdir(parents=True)
    with pytest.raises(ValueError, match="CIFAR-10 class"):
        load_dataset("cifar10", "train", root=tmp_path, download=False)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_missing_data_raises_a_clear_error(tmp_path, name):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(name, "train", root=tmp_path, download=False)
    message = str(info.value)
    assert name in message and str(tmp_path.resolve()) in message
    assert "IPKIT_DATA" in message and "root=" in message


def test_env_var_sets_the_root(monkeypatch, mnist_root):
    monkeypatch.setenv("IPKIT_DATA", str(mnist_root))
    assert data_root() == mnist_root
    assert data_root("elsewhere") == Path("elsewhere")
    x, _ = load_dataset("mnist", "test", download=False, n=5)
    assert x.shape == (5, 1, 28, 28)
    monkeypatch.delenv("IPKIT_DATA")
    assert data_root() == Path("data")


def test_unknown_dataset_or_split_raises():
    with pytest.raises(ValueError, match=r"'svhn'.*\['cifar10', 'fashion_mnist', 'mnist'\]"):
        load_dataset("svhn")
    with pytest.raises(ValueError, match=r"'valid'.*\['test', 'train'\]"):
        load_dataset("mnist", "valid")


@pytest.mark.parametrize("n", [0, 10001])
def test_subset_larger_than_dataset_raises(mnist_root, n):
    with pytest.raises(ValueError, match="between 1 and the dataset size 10000"):
        load_dataset("mnist", "test", root=mnist_root, download=False, n=n)


def test_train_val_split_partitions_and_is_seeded():
    x = torch.arange(100.0).reshape(100, 1)
    y = torch.arange(100)
    x_tr, y_tr, x_val, y_val = train_val_split(x, y, 0.2, seed=0)
    assert (len(y_tr), len(y_val)) == (80, 20)
    assert torch.equal(torch.cat([y_tr, y_val]).sort().values, y)
    assert torch.equal(x_tr[:, 0].long(), y_tr) and torch.equal(x_val[:, 0].long(), y_val)
    again = train_val_split(x, y, 0.2, seed=0)
    assert torch.equal(again[3], y_val)
    assert not torch.equal(train_val_split(x, y, 0.2, seed=1)[3], y_val)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_train_val_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\)"):
        train_val_split(torch.zeros(10, 1), torch.zeros(10), fraction, seed=0)


def test_sample_batch_without_replacement_and_seeded():
    x = torch.arange(50.0).reshape(50, 1)
    y = torch.arange(50)
    xb, yb = sample_batch(x, y, 50, torch.Generator().manual_seed(0))
    assert torch.equal(yb.sort().values, y) and torch.equal(xb[:, 0].long(), yb)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    first = sample_batch(x, y, 10, g1)[1]
    assert torch.equal(first, sample_batch(x, y, 10, g2)[1])
    assert not torch.equal(first, sample_batch(x, y, 10, g1)[1])  # the generator advances
    with pytest.raises(ValueError, match="between 1 and the number of samples 50"):
        sample_batch(x, y, 51, g1)
