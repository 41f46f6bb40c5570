"""``compute.backend: jax`` end to end: ``train_run`` on Keras's JAX backend with TensorFlow
blocked from import (a machine without it), bit-identical across runs and across a kill,
its state never resumed on the other backend, and the smoke preset through the workflow.

Each backend is tested against its own reference: the numbers differ between backends
(other generators for the initial weights), so nothing here compares JAX to TensorFlow
numbers except where they must agree (the blocks of the shared order, the shard reader).
"""

import csv
import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, make_workflow_copy, run_snakemake
from test_backend_jax import finished as jax_finished
from test_backend_jax import jax_script, needs_jax

from reproduce.backend import BACKENDS
from reproduce.train.resume import fingerprint_differences

HERE = Path(__file__).parent
# A shallow net (fast to compile), 5 epochs of 90 batches in blocks of 30.
SETTINGS = {"model": "shallow", "max_epochs": 5, "momentum_saturation_epochs": 3,
            "learning_rate_decay_factor": 1.01, "steps_per_execution": 30, "threads": 2}


def train_on_jax(shards, run_dir, **overrides):
    """``tests/train_once.py`` in a process on Keras's JAX backend without TensorFlow."""
    return jax_script(HERE / "train_once.py", shards, run_dir, json.dumps(SETTINGS | overrides))


def finished(proc):
    jax_finished(proc, timeout=600)


def saved_weights(run_dir) -> list[np.ndarray]:
    """The final model's weights, read from ``model.keras``'s h5 file (no Keras needed)."""
    import zipfile

    import h5py

    with zipfile.ZipFile(Path(run_dir) / "model.keras") as archive:
        path = Path(run_dir) / "weights.h5"
        path.write_bytes(archive.read("model.weights.h5"))
    out = []
    with h5py.File(path) as f:
        f["layers"].visititems(lambda name, obj: out.append((name, obj[()]))
                               if isinstance(obj, h5py.Dataset) else None)
    return [w for _, w in sorted(out, key=lambda item: item[0])]


def log_rows(run_dir):
    with open(Path(run_dir) / "log.csv") as f:
        return list(csv.DictReader(f))


def test_schema_enumerates_the_backends_meanings():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    backend = schema["properties"]["compute"]["properties"]["backend"]
    assert backend["enum"] == list(BACKENDS)
    assert backend["default"] == "tensorflow"
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["compute"]["backend"] == backend["default"]


def test_a_state_saved_on_one_backend_is_not_resumed_on_the_other():
    base = {"dataset": "HIGGS", "seed": 1, "settings": {"max_epochs": 3}}
    assert fingerprint_differences(base | {"backend": "tensorflow"},
                                   base | {"backend": "jax"}) == ["backend"]
    # a state saved before the choice existed was TensorFlow's
    assert fingerprint_differences(base, base | {"backend": "tensorflow"}) == []
    assert fingerprint_differences(base, base | {"backend": "jax"}) == ["backend"]


@needs_jax
def test_jax_training_is_bit_identical_across_runs_and_a_kill(sample_shards, sample_array,
                                                              tmp_path):
    """Two runs of one config and seed on JAX give the same weights and log, and a run
    SIGKILLed after two epochs resumes to the same weights, losses and test AUC; the
    logged validation loss is the whole cost computed by hand from the final weights."""
    from test_training import _objective
    reference = tmp_path / "reference"
    killed = tmp_path / "killed"
    finished(train_on_jax(sample_shards, reference))
    proc = train_on_jax(sample_shards, killed)
    log = killed / "progress" / "log.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 3:  # header + 2 epochs
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists()
    state = json.loads((killed / "state" / "state.json").read_text())
    assert 1 <= state["epochs_completed"] < 5
    assert state["fingerprint"]["backend"] == "jax"
    finished(train_on_jax(sample_shards, killed))
    assert [int(r["epoch"]) for r in log_rows(killed)] == list(range(5))
    for a, b in zip(saved_weights(reference), saved_weights(killed), strict=True):
        assert np.array_equal(a, b)
    assert [r["val_loss"] for r in log_rows(reference)] == \
        [r["val_loss"] for r in log_rows(killed)]
    ref = json.loads((reference / "metrics.json").read_text())
    resumed = json.loads((killed / "metrics.json").read_text())
    assert resumed["test_auc"] == ref["test_auc"] and ref["test_auc"] > 0.6
    assert ref["versions"]["backend"] == "jax" and "tensorflow" not in ref["versions"]
    valid = sample_array[8984:9984]  # the sample's validation split
    assert float(log_rows(reference)[-1]["val_loss"]) == pytest.approx(
        _objective(saved_weights(reference), valid[:, 1:], valid[:, 0]), rel=2e-5)


@needs_jax
@pytest.mark.slow
def test_smoke_preset_end_to_end_on_jax(tmp_path):
    """The smoke preset through the workflow on JAX; then, in a second copy, the shallow
    net's three runs as one pack (``compute.pack: by_network``, the ``train_pack`` rule) on
    JAX: each run as the unpacked workflow trained it."""
    from reproduce.layout import run_name

    unpacked, packed = tmp_path / "unpacked", tmp_path / "packed"
    for folder in (unpacked, packed):
        folder.mkdir()
        make_workflow_copy(folder)
    run_snakemake(unpacked, "--cores", "2", "--config", "preset=smoke",
                  "compute={backend: jax}", pythonpath=REPO)
    results = unpacked / "results" / "smoke"
    metrics = [path for path in sorted(results.glob("HIGGS/runs/*/metrics.json"))
               if not path.parent.name.startswith("bdt-")]  # the BDTs use no Keras
    assert len(metrics) == 6  # shallow and deep on 3 feature sets, one seed
    for path in metrics:
        record = json.loads(path.read_text())
        assert record["versions"]["backend"] == "jax", path
        assert "tensorflow" not in record["versions"], path
        assert "pack" not in record, path
    assert (results / "paper_figures" / "auc_table.csv").exists()

    names = [run_name("shallow", f, 1) for f in ("low", "high", "complete")]
    run_snakemake(packed, *[f"results/smoke/HIGGS/runs/{n}/metrics.json" for n in names],
                  "--cores", "2", "--config", "preset=smoke",
                  "compute={backend: jax, pack: by_network}", pythonpath=REPO)
    assert (packed / "results/smoke/logs/train_pack/HIGGS/shallow.log").exists()
    for name in names:
        ours = json.loads((packed / "results/smoke/HIGGS/runs" / name / "metrics.json").read_text())
        theirs = json.loads((results / "HIGGS/runs" / name / "metrics.json").read_text())
        assert ours["pack"]["runs"] == names, name
        assert ours["versions"]["backend"] == "jax" and "tensorflow" not in ours["versions"]
        assert ours["fingerprint_sha256"] == theirs["fingerprint_sha256"], name
        assert (ours["steps"], ours["epochs_trained"]) == (theirs["steps"], theirs["epochs_trained"])
        assert ours["test_auc"] == pytest.approx(theirs["test_auc"], abs=1e-4), name
