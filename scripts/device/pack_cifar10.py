"""Pack the ImageFolder copy of CIFAR-10 into one small file that can travel to the GPU machine, and read it back.

    python scripts/device/pack_cifar10.py                                  # ../shared/data -> .carry/cifar10.pt
    python scripts/device/pack_cifar10.py --train-size 300 --test-size 200 --out /tmp/tiny.pt   # a subset only

The copy's 60,000 JPEG files (56 MB on disk) all begin with the same 623-byte header (JFIF, quantization and
Huffman tables, frame and scan headers); what differs is ~300 bytes of entropy-coded scan per image. The file
keeps that header once and every image's remaining bytes, unchanged: the images decode to exactly the pixels
`ipkit.data.load_dataset` reads from the JPEG files (18 MB for all of CIFAR-10). Decoded pixels would take
184 MB, and do not compress much (JPEG noise), so they could not travel within the device call's 64 MiB.

Layout (torch.save of a dict): format, classes, header (uint8), and per split ("train", "test"): scans (uint8,
all images' bytes after the header, concatenated), lengths (int32, per image), labels (int64), total (the split's
size in the copy), and which images it holds: index (int64 positions in `ipkit.data`'s ImageFolder order, the
order of the labels) with the subset's n, seed and name, or n = None for the whole split.

`unpack` decodes a split with Pillow, as `ipkit.data` does; `select` applies `load_dataset`'s n/seed/subset to it.
"""

import argparse
import io
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ipkit.data import CIFAR10_CLASSES, cifar10_files, decode_images, subset_indices  # as `load_dataset` reads

FORMAT = "ipkit-cifar10-jpeg-scans-1"
ROOT = Path(__file__).resolve().parents[2]


def _pack_split(folder: Path, n: int | None, seed: int, subset: str) -> tuple[dict, list[bytes]]:
    paths, labels = cifar10_files(folder)
    idx = subset_indices(len(labels), n, seed, subset)
    keep = range(len(paths)) if idx is None else idx.tolist()
    files = [Path(paths[i]).read_bytes() for i in keep]
    split = dict(labels=labels if idx is None else labels[idx], total=len(labels), n=n, seed=seed, subset=subset,
                 index=torch.arange(len(labels)) if idx is None else idx.clone())
    return split, files


def pack(root: Path, out: Path, train_size: int | None = None, test_size: int | None = None, seed: int = 0,
         subset: str = "random") -> dict:
    """Write the pack of root/cifar10/{train,test} to `out`; returns its split sizes and bytes.

    Args:
        root: the data folder holding cifar10/train/<class>/*.jpg and cifar10/test/...
        out: the file to write (its folder is created).
        train_size, test_size: pack only the subset `load_dataset(..., n=size, seed=seed, subset=subset)` reads
            (None: the whole split).

    Raises:
        ValueError: a folder that is not the CIFAR-10 ImageFolder copy, or a file that is not a JPEG.
    """
    splits, files = {}, {}
    for name, size in (("train", train_size), ("test", test_size)):
        splits[name], files[name] = _pack_split(root / "cifar10" / name, size, seed, subset)
    every = files["train"] + files["test"]
    if not every[0].startswith(b"\xff\xd8"):
        raise ValueError(f"{root / 'cifar10'} holds a file that is not a JPEG")
    header = _common_header(every)
    for name, split in splits.items():
        scans = [f[len(header):] for f in files[name]]
        split["lengths"] = torch.tensor([len(s) for s in scans], dtype=torch.int32)
        split["scans"] = torch.frombuffer(bytearray(b"".join(scans)), dtype=torch.uint8)
    payload = dict(format=FORMAT, classes=list(CIFAR10_CLASSES),
                   header=torch.frombuffer(bytearray(header), dtype=torch.uint8), **splits)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(out)
    return {name: len(s["labels"]) for name, s in splits.items()} | {"bytes": out.stat().st_size}


def _common_header(files: list[bytes]) -> bytes:
    """The bytes up to the end of the first file's start-of-scan segment, if every file begins with them; else
    b"" (each image then keeps its whole file)."""
    data, i = files[0], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        i += 2 + length
        if marker == 0xDA:  # start of scan: its header ends here, the entropy-coded data follows
            header = data[:i]
            return header if all(f.startswith(header) for f in files) else b""
    return b""


def _decode(args: tuple[bytes, bytes, list[int]]) -> np.ndarray:
    header, scans, lengths = args
    out, start = [], 0
    for length in lengths:
        with Image.open(io.BytesIO(header + scans[start:start + length])) as image:
            out.append(np.asarray(image.convert("RGB")))
        start += length
    return np.stack(out)  # (n, H, W, 3)


def unpack(pack_file, split: str, workers: int = 1) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Decode one split of a pack.

    Args:
        pack_file: a file written by `pack`.
        split: "train" or "test".
        workers: processes that decode in parallel (Pillow, as `ipkit.data`).

    Returns:
        x: (N, 3, 32, 32) uint8, y: (N,) int64, and the split's description (total, n, seed, subset, index).
    """
    payload = torch.load(pack_file, weights_only=True)
    if payload.get("format") != FORMAT:
        raise ValueError(f"{pack_file} is not a CIFAR-10 pack of format {FORMAT!r}: write it with "
                         "scripts/device/pack_cifar10.py")
    part = payload[split]
    header, scans = payload["header"].numpy().tobytes(), part["scans"].numpy().tobytes()
    lengths = part["lengths"].tolist()
    chunks, start, size = [], 0, max(1, -(-len(lengths) // max(1, workers)))
    for i in range(0, len(lengths), size):
        stop = start + sum(lengths[i:i + size])
        chunks.append((header, scans[start:stop], lengths[i:i + size]))
        start = stop
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(workers) as pool:
            arrays = list(pool.map(_decode, chunks))
    else:
        arrays = [_decode(c) for c in chunks]
    x = torch.from_numpy(np.concatenate(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, H, W, 3) -> (N, 3, H, W)
    return x, part["labels"].long(), {k: part[k] for k in ("total", "n", "seed", "subset", "index")}


def select(x: torch.Tensor, y: torch.Tensor, held: dict, n: int | None, seed: int, subset: str):
    """The samples `load_dataset(..., n=n, seed=seed, subset=subset)` would return, from a decoded split that holds
    the images `held` describes (as `unpack` returns it).

    Raises:
        ValueError: the pack holds a subset other than the one asked for; says how to pack the right one.
    """
    if held["n"] is None:
        idx = subset_indices(held["total"], n, seed, subset)
        return (x, y) if idx is None else (x[idx.to(x.device)], y[idx.to(y.device)])
    if (n, seed, subset) == (held["n"], held["seed"], held["subset"]):
        return x, y
    raise ValueError(f"the pack holds the subset n={held['n']}, seed={held['seed']}, subset={held['subset']!r} of "
                     f"this split, not n={n}, seed={seed}, subset={subset!r}: pack the whole split (no --train-size "
                     "/ --test-size) or that subset")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("IPKIT_DATA", ROOT.parent / "shared" /
                                                                          "data")),
                        help="data folder holding cifar10/{train,test} (default $IPKIT_DATA, else ../shared/data)")
    parser.add_argument("--out", type=Path, default=ROOT / ".carry" / "cifar10.pt")
    parser.add_argument("--train-size", type=int, default=None, help="pack only this subset of the training split")
    parser.add_argument("--test-size", type=int, default=None, help="pack only this subset of the test split")
    parser.add_argument("--subset", default="random", help="which subset, as Experiment.subset")
    parser.add_argument("--check", type=int, default=200,
                        help="decode this many images of each split and compare with ipkit.data (0: skip)")
    args = parser.parse_args(argv)
    if not (args.root / "cifar10" / "train").is_dir():
        print(f"pack_cifar10: no cifar10/train under {args.root}: pass --root or set IPKIT_DATA", file=sys.stderr)
        return 2
    sizes = pack(args.root, args.out, args.train_size, args.test_size, subset=args.subset)
    print(f"packed {sizes['train']} training and {sizes['test']} test images into {args.out} "
          f"({sizes['bytes'] / 2**20:.1f} MiB)")
    if args.check:
        for split in ("train", "test"):
            x, y, held = unpack(args.out, split)
            paths, labels = cifar10_files(args.root / "cifar10" / split)
            some = held["index"][:args.check].tolist()
            same = torch.equal(decode_images([paths[i] for i in some]), x[:len(some)]) and \
                torch.equal(labels[some], y[:len(some)])
            print(f"{split}: the first {len(some)} images decode as the JPEG files do: {same}")
            if not same:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
