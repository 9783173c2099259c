"""Reliability (issue 15): what a new user and a reliability probe met, each ending in the right number or a clear
error. Layers called twice or never, tuple outputs picked by index, first-n subsets, a mistyped data root,
seeded models, set_up_env.sh on a broken venv, run_all.sh's Ctrl-C and --threads, compare_results.py, and what
was already right (estimator input checks, identical tables for the same thread count)."""

import contextlib
import functools
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

import ipkit
from ipkit.data import load_dataset
from ipkit.hooks import capture, resolve_layers
from ipkit.models import build_model
from ipkit.tracker import InformationPlaneTracker

REPO = Path(__file__).resolve().parents[1]


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# --- hooks: a module called twice, a layer never called, tuple outputs ----------------------------------------

class Reused(nn.Module):
    """fc is applied twice in one forward pass; `unused` never."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.out = nn.Linear(3, 2)
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        return self.out(self.fc(self.fc(x)))


class Recurrent(nn.Module):
    """An LSTM and a self-attention block: both return tuples."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(input_size=3, hidden_size=4, batch_first=True)
        self.attn = nn.MultiheadAttention(embed_dim=4, num_heads=2, batch_first=True)
        self.out = nn.Linear(4, 2)

    def forward(self, x):  # x: (N, L, 3)
        seq, _ = self.lstm(x)  # (N, L, 4)
        att, _ = self.attn(seq, seq, seq)  # (N, L, 4)
        return self.out(att[:, -1])


def test_module_called_twice_in_one_forward_pass_is_refused_naming_it():
    torch.manual_seed(0)
    model = Reused()
    seen = []
    with pytest.raises(ValueError, match=r"module 'fc' was called 2 times in one forward pass"):
        with capture(model, ["fc", "out"], lambda name, out: seen.append(name)):
            model(torch.rand(4, 3))
    assert seen == ["fc"]  # the second call never reached fn
    assert hook_count(model) == 0


def test_layer_that_forward_never_calls_is_reported_by_name():
    torch.manual_seed(0)
    model = Reused()
    model.forward = lambda x: model.out(model.fc(x))  # fc once, `unused` never
    for layers in (["fc", "unused", "out"], ["unused"]):
        with pytest.raises(ValueError, match=r"\['unused'\] of Reused were not called by its forward pass"):
            with capture(model, layers, lambda name, out: None):
                model(torch.rand(4, 3))
        assert hook_count(model) == 0


def test_tracker_refuses_a_layer_that_forward_never_calls():
    torch.manual_seed(0)
    model = Reused()
    model.forward = lambda x: model.out(model.fc(x))
    tracker = InformationPlaneTracker(model, 2, layers=["fc", "unused", "out"])
    with pytest.raises(ValueError, match="'unused'"):  # was KeyError: 'unused'
        tracker.measure(torch.rand(6, 3), torch.tensor([0, 1, 0, 1, 0, 1]), step=0)


def test_each_forward_pass_is_checked_on_its_own():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    seen = []
    with capture(model, ["0", "1"], lambda name, out: seen.append(name)):
        model(torch.rand(2, 3))
        model(torch.rand(2, 3))  # a second pass is not a second call
    assert seen == ["0", "1", "0", "1"]
    with capture(model, ["0"], lambda name, out: None):
        pass  # no forward pass: nothing to check


def test_index_suffix_picks_one_element_of_a_tuple_output():
    torch.manual_seed(0)
    model = Recurrent().eval()
    x = torch.rand(5, 6, 3)
    assert resolve_layers(model, ["lstm[0]", "lstm[1][0]", "attn[0]"]) == {
        "lstm[0]": model.lstm, "lstm[1][0]": model.lstm, "attn[0]": model.attn}
    got = {}
    with torch.no_grad(), capture(model, ["lstm[0]", "lstm[1][0]", "attn[0]", "out"],
                                  lambda name, t: got.setdefault(name, t)):
        model(x)
    assert list(got) == ["lstm[0]", "lstm[1][0]", "attn[0]", "out"]  # names as given
    with torch.no_grad():
        seq, (h_n, _) = model.lstm(x)
        att = model.attn(seq, seq, seq)[0]
    torch.testing.assert_close(got["lstm[0]"], seq, rtol=0, atol=0)
    torch.testing.assert_close(got["lstm[1][0]"], h_n, rtol=0, atol=0)
    torch.testing.assert_close(got["attn[0]"], att, rtol=0, atol=0)
    assert hook_count(model) == 0


def test_tuple_output_without_index_says_how_to_pick_one():
    model = Recurrent()
    with pytest.raises(TypeError, match=r"'lstm' returned a tuple .* layers=\['lstm\[0\]'\]"):
        with capture(model, ["lstm"], lambda name, t: None):
            model(torch.rand(2, 4, 3))
    with pytest.raises(TypeError, match=r"'lstm\[1\]' returned a tuple .* layers=\['lstm\[1\]\[0\]'\]"):
        with capture(model, ["lstm[1]"], lambda name, t: None):
            model(torch.rand(2, 4, 3))


@pytest.mark.parametrize("layer, message", [
    ("lstm[2]", r"'lstm\[2\]': lstm is a tuple of 2 elements, so \[2\] is out of range; use an index from 0 to 1"),
    ("out[0]", r"'out\[0\]': out is a Tensor, not a tuple, so it has no element \[0\]; measure 'out' without"),
])
def test_bad_index_is_a_value_error_at_capture_time(layer, message):
    model = Recurrent()
    resolve_layers(model, [layer])  # the index is checked against the output, not here
    with pytest.raises(ValueError, match=message):
        with capture(model, [layer], lambda name, t: None):
            model(torch.rand(2, 4, 3))
    assert hook_count(model) == 0


def test_index_suffix_on_an_unknown_module_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['gru\[0\]'\].*'lstm'"):
        resolve_layers(Recurrent(), ["gru[0]"])


def test_tracker_measures_an_lstm_output_element():
    torch.manual_seed(0)
    model = Recurrent()
    tracker = InformationPlaneTracker(model, 2, layers=["lstm[0]", "attn[0]", "out"])
    rows = tracker.measure(torch.rand(8, 5, 3), torch.tensor([0, 1] * 4), step=0)
    assert [row["layer"] for row in rows] == ["lstm[0]", "attn[0]", "out"]
    assert all(0 <= row["H_T"] <= 3 + 1e-9 for row in rows)  # log2 8 = 3 bits


@pytest.mark.parametrize("layers, message", [
    ("fc1", r"got the string 'fc1'; pass \['fc1'\]"),
    (["fc1", "fc2", "fc1"], r"lists \['fc1'\] more than once"),
])
def test_layers_as_a_string_or_listing_one_twice_is_refused(layers, message):
    with pytest.raises(ValueError, match=message):
        resolve_layers(build_model("mlp"), layers)


# --- data: the first n images, a mistyped data root ---------------------------------------------------------

def test_first_n_images_are_the_datasets_first(mnist_root):
    x, y = load_dataset("mnist", "train", mnist_root, download=False, n=7, subset="first")
    ds = torchvision.datasets.MNIST(mnist_root, train=True, download=False)
    torch.testing.assert_close(x, ds.data[:7, None].float() / 255.0, rtol=0, atol=0)
    assert y.tolist() == ds.targets[:7].tolist()
    x_random, _ = load_dataset("mnist", "train", mnist_root, download=False, n=7)
    x_seeded, _ = load_dataset("mnist", "train", mnist_root, download=False, n=7, subset="random")
    torch.testing.assert_close(x_random, x_seeded, rtol=0, atol=0)  # the default is unchanged
    assert not torch.equal(x_random, x)


def test_unknown_subset_lists_the_valid_names(mnist_root):
    with pytest.raises(ValueError, match=r"unknown subset 'head'; valid names: \['first', 'random'\]"):
        load_dataset("mnist", "test", mnist_root, download=False, n=5, subset="head")


@pytest.fixture
def fake_download(monkeypatch):
    """Replaces torchvision's MNIST download (no network in tests); records the roots it was asked for."""
    calls = []

    def download(self):
        calls.append(Path(self.root))
        raise RuntimeError("no network in tests")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", download)
    return calls


def test_mistyped_data_root_is_refused_and_nothing_is_created(tmp_path, fake_download):
    root = tmp_path / "shraed" / "data"
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist", "train", root, download=True)
    message = str(info.value)
    assert f"{root.resolve()} does not exist" in message and "MNIST/raw" in message and "IPKIT_DATA" in message
    assert not (tmp_path / "shraed").exists()
    assert fake_download == []


def test_mistyped_ipkit_data_is_refused_too(tmp_path, monkeypatch, fake_download):
    monkeypatch.setenv("IPKIT_DATA", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("mnist", "test")
    assert not (tmp_path / "nope").exists() and fake_download == []


def test_existing_or_default_root_keeps_torchvisions_download(tmp_path, monkeypatch, fake_download):
    with pytest.raises(FileNotFoundError, match="download failed: no network in tests"):
        load_dataset("mnist", "train", tmp_path, download=True)  # exists, empty
    monkeypatch.delenv("IPKIT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="download failed"):
        load_dataset("mnist", "train")  # the default ./data, not there yet
    assert fake_download == [tmp_path, Path("data")]


def test_mistyped_data_root_makes_no_folders_without_a_stub(tmp_path):
    """The real torchvision path (no stub): the root is refused before any download could create it."""
    root = tmp_path / "typo"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("mnist", "test", root)
    assert list(tmp_path.iterdir()) == []


# --- models: a seeded initialization ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_build_model_seed_gives_identical_parameters(name):
    state = torch.random.get_rng_state()
    a, b, c = (build_model(name, seed=s).state_dict() for s in (3, 3, 4))
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is untouched
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    torch.manual_seed(3)
    d = build_model(name).state_dict()  # the same as seeding torch before building
    assert all(torch.equal(a[k], d[k]) for k in a)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_build_model_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        build_model("mlp", seed=seed)


# --- scripts/setup_env.sh: an existing venv whose python cannot run -----------------------------------------

def broken_symlink(venv_python: Path) -> None:
    venv_python.symlink_to("/nonexistent/python3.99")


def failing_script(venv_python: Path) -> None:
    venv_python.write_text("#!/bin/sh\nexit 127\n")
    venv_python.chmod(0o755)


@pytest.mark.parametrize("make_python", [broken_symlink, failing_script])
def test_setup_env_stops_on_a_venv_whose_python_cannot_run(tmp_path, make_python):
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup_env.sh", tmp_path / "scripts")
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    make_python(venv_python)
    before = sorted(p.name for p in (tmp_path / ".venv").rglob("*"))
    env = {k: v for k, v in os.environ.items() if k not in ("CONDA_PREFIX", "VIRTUAL_ENV")}
    done = subprocess.run(["bash", str(tmp_path / "scripts" / "setup_env.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert ".venv exists but its python" in done.stderr and "rm -rf .venv" in done.stderr
    assert sorted(p.name for p in (tmp_path / ".venv").rglob("*")) == before  # not recreated
    assert venv_python.is_symlink() == (make_python is broken_symlink)


# --- run_all.sh: Ctrl-C stops everything; --threads ---------------------------------------------------------

FAKE_PYTHON = """#!{python}
# Stands in for the venv's python: setup_env.sh's checks pass; "-m papermill IN OUT ..." logs its arguments and
# thread variables, optionally sleeps, and writes OUT. A Ctrl-C is caught and ends in a failed run, as papermill's.
import json, os, sys, time
if sys.argv[1:3] != ["-m", "papermill"]:
    sys.exit(0)
try:
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps(dict(argv=sys.argv[3:], omp=os.environ.get("OMP_NUM_THREADS"),
                                  mkl=os.environ.get("MKL_NUM_THREADS"))) + "\\n")
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
except KeyboardInterrupt:
    sys.exit(1)
open(sys.argv[4], "w").write("{{}}")
"""
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))  # every notebook the quick profile runs


@pytest.fixture
def fake_repo(tmp_path):
    """A copy of run_all.sh and setup_env.sh with empty notebooks, committed-looking results and a fake python."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "run_all.sh", repo)
    shutil.copy(REPO / "scripts" / "setup_env.sh", repo / "scripts")
    (repo / "notebooks").mkdir()
    for nb in NOTEBOOKS:
        (repo / "notebooks" / f"{nb}.ipynb").write_text("{}")
        (repo / "results" / nb).mkdir(parents=True)
        (repo / "results" / nb / "ip.csv").write_text("committed\n")
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python").write_text(FAKE_PYTHON.format(python=sys.executable))
    (prefix / "bin" / "python").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(CONDA_PREFIX=str(prefix), FAKE_LOG=str(tmp_path / "log.jsonl"))
    return repo, env, tmp_path / "log.jsonl"


def as_from_a_terminal() -> None:
    """SIGINT handled by default, as in a terminal: a test runner started in the background (CI, nohup) inherits
    SIGINT ignored, and a shell started with a signal ignored cannot trap it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def logged(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_ctrl_c_stops_the_whole_run_and_keeps_earlier_results(fake_repo):
    repo, env, log = fake_repo
    env["FAKE_SLEEP"] = "5"
    proc = subprocess.Popen(["bash", str(repo / "run_all.sh")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=as_from_a_terminal)
    try:
        deadline = time.monotonic() + 15
        while not logged(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(logged(log)) == 1, "the first notebook did not start"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        deadline = time.monotonic() + 8
        while proc.poll() is None and len(logged(log)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(logged(log)) == 1, "the next notebook started after Ctrl-C"
        _, stderr = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130
    assert "interrupted by SIGINT during 01_mlp_mnist" in stderr
    for nb in NOTEBOOKS:
        assert (repo / "results" / nb / "ip.csv").read_text() == "committed\n"


@pytest.mark.parametrize("only, args, omp, expected", [
    ("0", ["--threads", "3"], None, "3"),  # "0": every notebook
    ("01", [], None, "2"),
    ("01", [], "5", "5"),
    ("01", ["--threads", "1"], "5", "1"),
])
def test_threads_are_set_and_passed_to_every_notebook(fake_repo, only, args, omp, expected):
    repo, env, log = fake_repo
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    done = subprocess.run(["bash", str(repo / "run_all.sh"), "quick", "--only", only, *args], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    calls = logged(log)
    assert len(calls) == (len(NOTEBOOKS) if only == "0" else 1)
    for call in calls:
        i = call["argv"].index("threads")
        assert call["argv"][i - 1:i + 2] == ["-p", "threads", expected]
        assert call["omp"] == expected and call["mkl"] == expected


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_thread_count_is_refused(fake_repo, value):
    repo, env, log = fake_repo
    done = subprocess.run(["bash", str(repo / "run_all.sh"), "--threads", value], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2
    assert f"threads must be a positive integer (--threads N, or OMP_NUM_THREADS), got '{value}'" in done.stderr
    assert logged(log) == []


# --- scripts/compare_results.py ------------------------------------------------------------------------------

def write_results(folder: Path, ip: pd.DataFrame, findings: pd.DataFrame | None = None) -> None:
    (folder / "01_mlp_mnist").mkdir(parents=True)
    ip.to_csv(folder / "01_mlp_mnist" / "ip.csv", index=False)
    if findings is not None:
        findings.to_csv(folder / "findings.csv", index=False)


@functools.cache
def load_compare_results():
    spec = importlib.util.spec_from_file_location("compare_results", REPO / "scripts" / "compare_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module



def compare(rerun: Path, committed: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run the script's main() in-process (a subprocess per case costs seconds of imports)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = load_compare_results().main([str(rerun), "--against", str(committed), *extra])
    return subprocess.CompletedProcess([], code, out.getvalue(), err.getvalue())


def test_compare_results_command_line(tmp_path, tables):
    ip, findings = tables
    write_results(tmp_path / "a", ip, findings)
    write_results(tmp_path / "b", ip, findings)
    script = REPO / "scripts" / "compare_results.py"
    same = subprocess.run([sys.executable, str(script), str(tmp_path / "b"), "--against", str(tmp_path / "a")],
                          capture_output=True, text=True, timeout=60)
    assert same.returncode == 0 and "2 tables compared, 0 differ" in same.stdout
    bad = subprocess.run([sys.executable, str(script), str(tmp_path / "b"), "--tol", "H_T"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "--tol takes COLUMN=ATOL" in bad.stderr


@pytest.fixture
def tables():
    ip = pd.DataFrame(dict(step=[0, 1, 2], layer=["fc1", "fc1", "fc1"], H_T=[1.25, 2.5, 3.125],
                           I_XT=[0.5, float("nan"), 0.75], seconds=[1.0, 2.0, 3.0]))
    findings = pd.DataFrame(dict(finding=["compression", "dpi"], verdict=["reproduced", "not reproduced"]))
    return ip, findings


def test_compare_identical_results_exit_0(tmp_path, tables):
    ip, findings = tables
    write_results(tmp_path / "a", ip, findings)
    write_results(tmp_path / "b", ip.assign(H_T=ip.H_T + 5e-7, seconds=[9.0, 9.0, 9.0]), findings)
    done = compare(tmp_path / "b", tmp_path / "a")
    assert done.returncode == 0, done.stdout
    assert "2 tables compared, 0 differ beyond tolerance (atol 1e-06" in done.stdout


def test_compare_value_beyond_tolerance_exit_1_naming_file_and_column(tmp_path, tables):
    ip, _ = tables
    write_results(tmp_path / "a", ip)
    changed = ip.copy()
    changed.loc[1, "H_T"] += 2e-3
    write_results(tmp_path / "b", changed)
    done = compare(tmp_path / "b", tmp_path / "a")
    assert done.returncode == 1
    assert ("DIFFERS  01_mlp_mnist/ip.csv: column H_T: 1 of 3 rows differ by more than atol=1e-06; "
            "largest difference 0.002") in done.stdout
    assert compare(tmp_path / "b", tmp_path / "a", "--tol", "H_T=1e-2").returncode == 0


@pytest.mark.parametrize("column, value, expected", [
    ("step", 7, "column step: 1 of 3 rows differ (exact column); first at row 2"),
    ("layer", "fc2", "column layer: 1 of 3 rows differ (exact column); first at row 2"),
    ("I_XT", 0.75, "column I_XT: 1 of 3 rows differ by more than atol=1e-06; largest difference 0, NaN against "
                   "a number in 1 rows"),
])
def test_compare_exact_columns_and_nan(tmp_path, tables, column, value, expected):
    ip, _ = tables
    write_results(tmp_path / "a", ip)
    changed = ip.copy()
    changed.loc[1 if column == "I_XT" else 2, column] = value
    write_results(tmp_path / "b", changed)
    done = compare(tmp_path / "b", tmp_path / "a")
    assert done.returncode == 1 and expected in done.stdout


def test_compare_findings_verdicts_exactly(tmp_path, tables):
    ip, findings = tables
    write_results(tmp_path / "a", ip, findings)
    write_results(tmp_path / "b", ip, findings.assign(verdict=["reproduced", "reproduced"]))
    done = compare(tmp_path / "b", tmp_path / "a")
    assert done.returncode == 1
    assert "DIFFERS  findings.csv: column verdict: 1 of 2 rows differ" in done.stdout


def test_compare_gzipped_tables_with_plain_ones(tmp_path, tables):
    """A rerun's ip.csv.gz (as save_results writes it) against committed results' older ip.csv: one table."""
    ip, _ = tables
    write_results(tmp_path / "a", ip)
    (tmp_path / "b" / "01_mlp_mnist").mkdir(parents=True)
    changed = ip.copy()
    changed.loc[1, "H_T"] += 2e-3
    changed.to_csv(tmp_path / "b" / "01_mlp_mnist" / "ip.csv.gz", index=False)
    done = compare(tmp_path / "b", tmp_path / "a")
    assert done.returncode == 1 and "DIFFERS  01_mlp_mnist/ip.csv: column H_T: 1 of 3 rows differ" in done.stdout
    ip.to_csv(tmp_path / "b" / "01_mlp_mnist" / "ip.csv.gz", index=False)
    done = compare(tmp_path / "b", tmp_path / "a")
    assert done.returncode == 0 and "1 tables compared, 0 differ" in done.stdout and "not compared" not in done.stdout


def test_compare_partial_rerun_and_unrelated_folders(tmp_path, tables):
    ip, findings = tables
    write_results(tmp_path / "a", ip, findings)
    write_results(tmp_path / "b", ip)
    done = compare(tmp_path / "b", tmp_path / "a")
    assert done.returncode == 0 and f"not compared (only in {tmp_path / 'a'}): findings.csv" in done.stdout
    write_results(tmp_path / "c", ip.iloc[:2])
    assert "2 rows in the rerun, 3 committed" in compare(tmp_path / "c", tmp_path / "a").stdout
    (tmp_path / "empty").mkdir()
    assert compare(tmp_path / "empty", tmp_path / "a").returncode == 2


# --- keep what is right --------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: ipkit.pairwise_sq_dists(torch.tensor([[0.0, float("nan")], [1.0, 2.0]])), "x contains 1 non-finite"),
    (lambda: ipkit.pairwise_sq_dists(torch.zeros(1, 3)), "x needs at least 2 samples"),
    (lambda: ipkit.renyi_entropy(torch.rand(3, 4)), r"K must be square \(..., N, N\), got shape \(3, 4\)"),
    (lambda: ipkit.renyi_entropy(torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]])), "K contains 2 non-fin"),
    (lambda: ipkit.renyi_entropy(torch.eye(3), alpha=0), "alpha must be finite and > 0"),
    (lambda: ipkit.gaussian_gram(torch.rand(4, 3), 0.0), "sigma must be finite and > 0, got 0.0"),
    (lambda: ipkit.gaussian_gram(torch.rand(4, 3), -1.0), "sigma must be finite and > 0, got -1.0"),
    (lambda: ipkit.gaussian_gram(torch.rand(4, 3).numpy(), 1.0), "x must be a torch.Tensor, got ndarray"),
])
def test_estimator_bad_input_is_a_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_same_thread_count_gives_identical_tables(mnist_root):
    from ipkit.experiment import Experiment, run_experiment

    exp = Experiment(dataset="mnist", model="mlp", train_size=300, epochs=1, seeds=(0,), every=1, n=20, n_test=20,
                     device="cpu", progress=False, data_root=str(mnist_root))
    first, second = run_experiment(exp), run_experiment(exp)
    for table in ("ip", "log", "early_stopping", "summary"):
        a, b = getattr(first, table), getattr(second, table)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_sigkill_of_run_all_leaves_every_committed_result_intact(fake_repo):
    """Keep what is right (issue 15): killed outright while a notebook runs, run_all.sh has touched no result."""
    repo, env, log = fake_repo
    env["FAKE_SLEEP"] = "30"
    proc = subprocess.Popen(["bash", str(repo / "run_all.sh")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while not logged(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(logged(log)) == 1, "the first notebook did not start"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    for nb in NOTEBOOKS:
        assert [p.name for p in (repo / "results" / nb).iterdir()] == ["ip.csv"]
        assert (repo / "results" / nb / "ip.csv").read_text() == "committed\n"
