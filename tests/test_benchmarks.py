"""The benchmark scripts run (--quick) and write the figures the README quotes. Not timed: smoke tests."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.benchmark
@pytest.mark.parametrize("script, keys", [
    ("estimator.py", ["vgg_conv1_speedup", "vgg_conv1_memory_ratio", "max_abs_diff_bits"]),
    ("tracking.py", ["vgg16_cpu_overhead"]),
])
def test_benchmark_quick_writes_its_figures(script, keys, tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    for key in keys:
        assert result[key] > 0, f"{script}: {key} = {result[key]}"
    if script == "estimator.py":
        assert result["max_abs_diff_bits"] < 1e-3  # ipkit agrees with the authors' approach
