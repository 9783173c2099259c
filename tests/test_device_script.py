"""The GPU machine's script (scripts/device/vgg16_paper.sh and .py) on a CPU: a tiny VGG-16 (width 1/16), 300
training images, 2 epochs, 2 seeds.

Three calls share one work folder, as calls to a machine that stays warm do: the first stops each seed right
after its first checkpoint (as the deadline would) and brings back the tables so far; the second goes on from the
checkpoints and brings back finished seeds whose tables equal an uninterrupted in-process run's, bit for bit;
the third, through the shell script, skips seed 0 (already brought back) and returns seed 1 without running it.
"""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from ipkit.experiment import load_results, merge_results, run_experiment, save_results

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "scripts" / "device"
sys.path.insert(0, str(DEVICE))
import pack_cifar10  # noqa: E402
import vgg16_paper  # noqa: E402

SETTINGS = ["width=0.0625", "epochs=2", "seeds=[0, 1]", "train_size=300", "test_size=200", "eval_every=2",
            "patience=[2, 4]"]
OPTIONS = ["--device", "cpu", "--threads", "1", "--parallel", "2", "--checkpoint-every", "2"]
FILES = {"ip.csv.gz", "training_log.csv.gz", "early_stopping.csv", "summary.csv", "dpi.csv", "compression.csv",
         "run.json"}


@pytest.fixture(scope="module")
def tiny_pack(cifar10_root, tmp_path_factory) -> Path:
    """A pack of the 300 training and 200 test images the tiny experiment reads."""
    pack = tmp_path_factory.mktemp("pack") / "tiny.pt"
    pack_cifar10.pack(cifar10_root, pack, train_size=300, test_size=200)
    return pack


@pytest.fixture(scope="module")
def calls(tiny_pack, tmp_path_factory):
    """The three calls' outputs: (out folder, status, stdout) each."""
    tmp = tmp_path_factory.mktemp("device")
    pack, work = tiny_pack, tmp / "work"
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def call(name, *extra, script=False):
        out = tmp / name
        args = ["--pack", str(pack), *OPTIONS, *[a for s in SETTINGS for a in ("--set", s)], *extra]
        if script:
            command = ["bash", str(DEVICE / "vgg16_paper.sh"), *args]
            call_env = dict(env, OUT=str(out), VGG16_WORK=str(work), VGG16_BENCHMARK="0", PYTHON=sys.executable)
        else:
            command = [sys.executable, str(DEVICE / "vgg16_paper.py"), "--out", str(out), "--work", str(work), *args]
            call_env = env
        done = subprocess.run(command, env=call_env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return out, json.loads((out / "vgg16_status.json").read_text()), done.stdout

    first = call("first", "--stop-after", "2")
    second = call("second")
    third = call("third", "--skip", "0", script=True)
    return dict(first=first, second=second, third=third)


def unpack(out: Path, name: str, into: Path) -> Path:
    """Join the parts of `name`'s archive in `out` and extract them into `into`; returns the results folder."""
    parts = sorted(out.glob(f"{name}.tar.gz.*"))
    assert parts, f"no {name}.tar.gz.* in {sorted(p.name for p in out.iterdir())}"
    into.mkdir(parents=True, exist_ok=True)
    whole = into / f"{name}.tar.gz"
    whole.write_bytes(b"".join(p.read_bytes() for p in parts))
    with tarfile.open(whole) as tar:
        tar.extractall(into, filter="data")
    return into / name


@pytest.mark.slow  # six short-lived processes that each import torch: ~75 s of CPU
def test_first_call_brings_back_what_each_seed_did_before_it_stopped(calls, tmp_path):
    out, status, _ = calls["first"]
    assert sorted(p.name for p in out.iterdir()) == ["vgg16_seed-0.partial.tar.gz.00",
                                                    "vgg16_seed-1.partial.tar.gz.00", "vgg16_status.json"]
    for seed in (0, 1):
        s = status["seed_status"][str(seed)]
        assert (s["state"], s["steps"], s["step_at_start"], s["steps_this_call"]) == ("partial", 2, 0, 2)
        folder = unpack(out, f"vgg16_seed-{seed}.partial", tmp_path)
        assert {p.name for p in folder.iterdir()} == FILES
        results = load_results(folder)
        assert results.info["partial"]["step"] == 2
        assert results.info["experiment"]["seeds"] == [seed]
        assert sorted(results.ip["step"].unique()) == [1, 2]  # every step measured, up to the checkpoint
        assert set(results.ip["split"]) == {"train", "test"} and results.ip["layer"].nunique() == 16
    assert status["tracked_steps_per_s"] > 0


@pytest.mark.slow  # six short-lived processes that each import torch: ~75 s of CPU
def test_second_call_goes_on_from_the_checkpoints_to_an_uninterrupted_runs_tables(calls, cifar10_root, tmp_path):
    out, status, _ = calls["second"]
    assert sorted(p.name for p in out.iterdir()) == ["vgg16_seed-0.tar.gz.00", "vgg16_seed-1.tar.gz.00",
                                                    "vgg16_status.json"]
    for seed in (0, 1):
        s = status["seed_status"][str(seed)]
        assert (s["state"], s["step_at_start"]) == ("finished", 2)
        assert s["steps_this_call"] == s["steps"] - 2 > 0
    folders = [unpack(out, f"vgg16_seed-{seed}", tmp_path) for seed in (0, 1)]
    assert all({p.name for p in f.iterdir()} == FILES for f in folders)
    device_run = merge_results([load_results(f) for f in folders])

    params = vgg16_paper.parameters(vgg16_paper.PAPER_PROFILE, SETTINGS)
    params.update(progress=False, threads=1, device="cpu", data_root=None)
    reference = run_experiment(vgg16_paper.experiment(params))  # the ImageFolder copy, in this process
    save_results(reference, tmp_path / "reference")
    reference = load_results(tmp_path / "reference")
    for table in ("ip", "log", "early_stopping", "summary"):
        pd.testing.assert_frame_equal(getattr(device_run, table), getattr(reference, table), check_exact=True)
    assert device_run.summary["steps"].tolist() == [s["steps"] for s in status["seed_status"].values()]


@pytest.mark.slow  # six short-lived processes that each import torch: ~75 s of CPU
def test_third_call_skips_brought_back_seeds_and_does_not_redo_finished_ones(calls, tmp_path):
    out, status, stdout = calls["third"]
    assert status["seeds"] == [1] and status["skipped"] == [0]
    s = status["seed_status"]["1"]
    assert s["state"] == "finished" and s["steps_this_call"] == 0 and "started_s" not in s
    assert "started" not in stdout  # no run was launched
    assert sorted(p.name for p in out.iterdir()) == ["vgg16_log.txt", "vgg16_seed-1.tar.gz.00", "vgg16_status.json"]
    again = load_results(unpack(out, "vgg16_seed-1", tmp_path))
    before = load_results(unpack(calls["second"][0], "vgg16_seed-1", tmp_path / "second"))
    pd.testing.assert_frame_equal(again.ip, before.ip, check_exact=True)
    assert "== done in" in (out / "vgg16_log.txt").read_text()


def test_pack_decodes_to_the_pixels_ipkit_data_reads(tiny_pack, cifar10_root):
    from ipkit.data import load_dataset

    for split, n in (("train", 300), ("test", 200)):
        x, y, held = pack_cifar10.unpack(tiny_pack, split, workers=2)
        x, y = pack_cifar10.select(x, y, held, n, 0, "random")
        x_ref, y_ref = load_dataset("cifar10", split, cifar10_root, download=False, n=n)
        assert (x.float() / 255.0).equal(x_ref) and y.equal(y_ref)
    with pytest.raises(ValueError, match="pack the whole split"):
        pack_cifar10.select(x, y, held, 100, 0, "random")


def test_archive_parts_join_back_to_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(vgg16_paper, "PART_BYTES", 1000)
    folder = tmp_path / "seed-0"
    folder.mkdir()
    data = os.urandom(2500)  # incompressible: the archive needs three parts
    (folder / "ip.csv.gz").write_bytes(data)
    parts = vgg16_paper.archive(folder, "vgg16_seed-0", tmp_path)
    assert [p.name for p in parts] == [f"vgg16_seed-0.tar.gz.{i:02d}" for i in range(3)]
    assert all(p.stat().st_size <= 1000 for p in parts)
    assert (unpack(tmp_path, "vgg16_seed-0", tmp_path / "back") / "ip.csv.gz").read_bytes() == data


def test_preflight_counts_what_the_device_tool_sends(tmp_path):
    """Tracked files as they are now, untracked ones git does not ignore, shared/ and the carried .carry; not
    ignored files, deleted ones, or a nested repository's."""
    repo = tmp_path / "repo"
    sizes = {"tracked.py": 100, "results/ip.csv.gz": 2000, "untracked.txt": 30, "shared/data.bin": 7,
             ".gitignore": 0, "ignored.log": 5000, ".carry/cifar10.pt": 400, "gone.txt": 9000, "nested/x.bin": 800}
    for name, size in sizes.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(b"x" * size)
    (repo / ".gitignore").write_text("*.log\n.carry/\nshared/\n")  # shared/ travels, ignored or not
    git = lambda *args, cwd=repo: subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("add", "tracked.py", "results/ip.csv.gz", "gone.txt")
    (repo / "gone.txt").unlink()  # tracked, deleted in the working tree: it does not travel
    git("init", "-q", cwd=repo / "nested")  # its files travel only if carried
    tree = 100 + 2000 + 30 + 7 + len("*.log\n.carry/\nshared/\n")
    assert vgg16_paper.travelling_bytes(repo) == (tree, 400)
    assert vgg16_paper.travelling_bytes(repo, carry=(".carry", "shared")) == (tree - 7, 400 + 7)  # counted once


FULL_PACK_BYTES = 19_075_397  # pack_cifar10.py's pack of all of CIFAR-10 (18.2 MiB), made here from ../shared/data


def test_the_checkout_leaves_room_for_the_pack():
    """A device call carries the checkout and the pack within 64 MiB (issue 14 §5): results committed beyond
    that would block the next GPU run, so the commit that adds them must make room."""
    tree, _ = vgg16_paper.travelling_bytes(ROOT, carry=())
    assert tree + FULL_PACK_BYTES <= 64 * 2**20, (
        f"checkout {tree / 2**20:.1f} MiB + pack {FULL_PACK_BYTES / 2**20:.1f} MiB > 64 MiB: shrink what is committed")
