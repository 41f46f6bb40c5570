"""``benchmarks/gpu_packed.py --quick`` runs on Keras's JAX backend in a process where
TensorFlow cannot be imported (the GPU machine's case) and prints its three tables, with
every replica of each pack within float rounding of its unpacked run, and writes them to
``--json``; without ``--quick`` it refuses a machine where JAX sees no GPU."""

import json
import os
import re
import subprocess
import sys

from conftest import REPO
from test_backend_jax import WITHOUT_TENSORFLOW, needs_jax


@needs_jax
def test_gpu_check_runs_without_tensorflow(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(WITHOUT_TENSORFLOW)  # no TensorFlow to import
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(tmp_path))
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_packed.py"),
                           "--quick", "--json", "tables.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert "## Device, as a run's metrics.json records it\n\nCPU " in out, out
    for title in ("## Packed against unpacked", "## Seconds per 10,000,000-row epoch",
                  "## Table 1 projected"):
        assert title in out, out
    checks = re.findall(r"^\| (shallow|deep) \| 3 \| \d+ \| (\S+) \| (\S+) \|$", out, re.M)
    assert [c[0] for c in checks] == ["shallow", "deep"], out
    for _, weights, loss in checks:  # float32 rounding over a few steps
        assert float(weights) < 1e-5 and float(loss) < 1e-5, out
    for what in ("hand-written JAX step", "Keras, unpacked", "Keras, pack of 3"):
        assert re.search(rf"^\| deep \| {what} \| [\d.]+ \| [\d.]+x \|$", out, re.M), out
    assert re.search(r"^\| Keras, pack of 3 \| [\d.]+ \|$", out, re.M), out
    assert "tensorflow imported: False" in out
    # the JSON holds what was printed, row for row
    tables = json.loads((tmp_path / "tables.json").read_text())
    assert not (tmp_path / "tables.json.part").exists()
    assert [(c["network"], f"{c['weights']:.1e}", f"{c['loss']:.1e}")
            for c in tables["checks"]] == [(n, w, lo) for n, w, lo in checks]
    printed = re.findall(r"^\| (shallow|deep) \| ([^|]+) \| ([\d.]+) \| [\d.]+x \|$", out, re.M)
    assert [(n, row["what"], f"{row['seconds']:.2f}") for n, rows in tables["speeds"].items()
            for row in rows] == [(n, what.strip(), s) for n, what, s in printed]
    assert tables["tensorflow_imported"] is False and set(tables["hours"]) == {
        "hand-written JAX step", "Keras, unpacked", "Keras, pack of 3"}


@needs_jax
def test_gpu_check_refuses_the_full_sizes_without_a_gpu(tmp_path):
    """No GPU (this CPU): the full sizes stop at once, saying why, and write nothing."""
    env = dict(os.environ, KERAS_BACKEND="jax")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_packed.py"),
                           "--json", "tables.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "JAX sees no GPU" in proc.stderr and "--quick" in proc.stderr
    assert not list(tmp_path.iterdir())
    # a --json file in a folder that does not exist: refused before minutes of measuring
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_packed.py"),
                           "--quick", "--json", "missing/tables.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--json missing/tables.json: no folder" in proc.stderr
    assert not list(tmp_path.iterdir())


@needs_jax
def test_package_gpu_check_trains_the_packages_runs_without_tensorflow(tmp_path, sample_shards):
    """``tests/gpu/check_package_on_gpu.py`` on this CPU, where TensorFlow cannot be
    imported: the package's own pack and alone runs train on the sample's shards, the
    packed run's test scores equal its run alone, and each run is reported as trained on
    the CPU, which the check (on a GPU machine) counts as a failure."""
    (tmp_path / "sitecustomize.py").write_text(WITHOUT_TENSORFLOW)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "gpu" / "check_package_on_gpu.py"),
                           "--shards", str(sample_shards), "--out", str(tmp_path / "runs")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout
    assert proc.returncode == 1, proc.stderr[-4000:]
    rows = re.findall(r"^\| ((?:shallow|deep)-\w+-seed1) \| (pack of 3|alone) \| CPU .*\(jax\) "
                      r"\| 3 \| (0\.\d{4}) \| [\d.]+ \| (\S+) \|$", out, re.M)
    assert len(rows) == 8, out
    for network in ("shallow", "deep"):
        packed = [r for r in rows if r[0] == f"{network}-complete-seed1"]
        assert [r[1] for r in packed] == ["pack of 3", "alone"], out
        assert packed[0][2] == packed[1][2] and float(packed[1][3]) <= 1e-4, out
    failed = re.findall(r"^FAILED: (.*)$", out, re.M)
    assert len(failed) == 8 and all("trained on CPU" in f for f in failed), out
    assert "tensorflow imported: False" in out
    for run in ("packed/deep-low-seed1", "alone/deep-complete-seed1"):
        metrics = json.loads((tmp_path / "runs" / run / "metrics.json").read_text())
        assert metrics["device"]["kind"] == "cpu" and metrics["device"]["backend"] == "jax"
