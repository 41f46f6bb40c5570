"""Packed training on Keras's JAX backend (TensorFlow blocked from import): a pack of 15
(5 seeds x 3 feature sets) against the 15 runs trained one by one on JAX, with the paper
text's stopping rule firing at different epochs in different replicas over thousands of
steps, and a pack killed mid-run that resumes bit-identically, one of its runs continued
unpacked.

The references are JAX's own (the backends' generators differ: tests/test_training_jax.py);
tests/test_packed.py and tests/test_packed_training.py hold the same checks on TensorFlow.
"""

import csv
import json
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from test_backend_jax import finished, jax_script, needs_jax
from test_training_jax import saved_weights
from train_pack_once import RUNS, run_name

HERE = Path(__file__).parent
# Small shallow nets on standardized inputs (the demo's), thousands of steps: the paper
# text's rule (no relative improvement of 1% for 25 epochs once momentum has saturated)
# stops the replicas after 26 to 28 epochs of 90 batches, at different epochs.
SETTINGS = {"width": 16, "max_epochs": 40, "momentum_saturation_epochs": 2,
            "learning_rate_decay_factor": 1.01, "steps_per_execution": 30,
            "train_monitor_rows": 1000, "threads": 2, "stopping": "paper_text",
            "patience": 25, "min_relative_improvement": 0.01, "standardize": "zscore"}
WEIGHTS_RTOL = 1e-5  # relative to each layer's largest weight; measured 1e-6
LOG_RTOL = {"loss": 1e-5, "val_loss": 1e-5, "train_monitor_loss": 1e-5,
            # binned at 200 thresholds: a score crossing a bin edge moves it by ~1e-5
            "val_auc": 1e-4}

pytestmark = needs_jax


def train_on_jax(shards, out, mode: str):
    """``tests/train_pack_once.py`` in a process on JAX without TensorFlow."""
    return jax_script(HERE / "train_pack_once.py", shards, out, mode, json.dumps(SETTINGS))


def log_rows(folder):
    with open(Path(folder) / "log.csv") as f:
        return list(csv.DictReader(f))


def metrics(folder):
    return json.loads((Path(folder) / "metrics.json").read_text())


@pytest.fixture(scope="module")
def trained(sample_shards, tmp_path_factory):
    """(the pack's folder, the folder of the 15 runs trained alone), both on JAX."""
    pack, alone = tmp_path_factory.mktemp("jax-pack"), tmp_path_factory.mktemp("jax-alone")
    finished(train_on_jax(sample_shards, pack, "pack"))
    finished(train_on_jax(sample_shards, alone, "alone"))
    return pack, alone


def test_every_replica_of_a_15_pack_equals_its_run_trained_alone(trained):
    pack, alone = trained
    epochs = set()
    for feature_set, seed in RUNS:
        name = run_name(feature_set, seed)
        ours, theirs = metrics(pack / name), metrics(alone / name)
        assert ours["pack"]["replicas"] == 15 and ours["pack"]["runs"][ours["pack"]["replica"]] == name
        assert ours["versions"]["backend"] == theirs["versions"]["backend"] == "jax"
        assert ours["device"]["backend"] == "jax"
        assert ours["fingerprint_sha256"] == theirs["fingerprint_sha256"]
        assert ours["stopping"] == theirs["stopping"], name
        assert ours["stopping"]["stopped_by"] == "paper_text"
        assert (ours["steps"], ours["epochs_trained"]) == (theirs["steps"], theirs["epochs_trained"])
        epochs.add(ours["epochs_trained"])
        assert ours["steps"] >= 2000  # thousands of SGD steps
        assert abs(ours["test_auc"] - theirs["test_auc"]) < 1e-4
        for a, b in zip(log_rows(pack / name), log_rows(alone / name), strict=True):
            assert a.keys() == b.keys()
            for key, rtol in LOG_RTOL.items():
                assert float(a[key]) == pytest.approx(float(b[key]), rel=rtol), (name, key)
        for a, b in zip(saved_weights(pack / name), saved_weights(alone / name), strict=True):
            assert a.shape == b.shape
            assert np.max(np.abs(a - b)) <= WEIGHTS_RTOL * np.max(np.abs(b)), name
    assert len(epochs) >= 2, f"every replica stopped after the same epoch count {epochs}"


def test_a_replica_stopped_early_stays_bit_unchanged(trained):
    """A replica's saved state is written at its last epoch; the pack trained on after it
    stopped, and the run's final weights are still that state's, bit for bit."""
    pack, _ = trained
    pack_epochs = json.loads((pack / "pack_state" / "state.json").read_text())
    frozen = 0
    for feature_set, seed in RUNS:
        folder = pack / run_name(feature_set, seed)
        state = json.loads((folder / "state" / "state.json").read_text())
        assert state["epochs_completed"] == metrics(folder)["epochs_trained"]
        if state["epochs_completed"] < pack_epochs["epochs_completed"]:
            frozen += 1
            final, saved = saved_weights(folder), saved_weights(folder / "state")
            assert all(np.array_equal(a, b) for a, b in zip(final, saved, strict=True))
    assert frozen >= 1


def test_a_killed_jax_pack_resumes_bit_identically(sample_shards, trained, tmp_path):
    """A pack SIGKILLed after its second epoch resumes bit-identically; one of its runs,
    copied at the kill, continues unpacked."""
    pack, _ = trained
    proc = train_on_jax(sample_shards, tmp_path, "pack")
    state = tmp_path / "pack_state" / "state.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text())["epochs_completed"] >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the pack ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / run_name(*RUNS[0]) / "metrics.json").exists()
    shutil.copytree(tmp_path / run_name(*RUNS[0]), tmp_path / "unpacked" / run_name(*RUNS[0]))
    resumed = train_on_jax(sample_shards, tmp_path, "pack")
    finished(resumed)
    assert "resuming the pack after epoch" in resumed.stderr.read().decode()
    for feature_set, seed in RUNS:
        name = run_name(feature_set, seed)
        ours, theirs = log_rows(tmp_path / name), log_rows(pack / name)
        assert _without_wall_time(ours) == _without_wall_time(theirs), name
    # the first run, copied at the kill, continued alone from its own state (packing is not
    # in the fingerprint): it ends as the run trained alone from the start, to rounding
    _, alone = trained
    continued = train_on_jax(sample_shards, tmp_path / "unpacked", "first")
    finished(continued)
    assert "resuming after epoch" in continued.stderr.read().decode()
    name = run_name(*RUNS[0])
    ours, theirs = metrics(tmp_path / "unpacked" / name), metrics(alone / name)
    assert "pack" not in ours
    assert (ours["steps"], ours["epochs_trained"]) == (theirs["steps"], theirs["epochs_trained"])
    assert abs(ours["test_auc"] - theirs["test_auc"]) < 1e-4
    for a, b in zip(saved_weights(tmp_path / "unpacked" / name), saved_weights(alone / name),
                    strict=True):
        assert np.max(np.abs(a - b)) <= WEIGHTS_RTOL * np.max(np.abs(b))
        assert all(np.array_equal(a, b) for a, b in
                   zip(saved_weights(tmp_path / name), saved_weights(pack / name), strict=True))


def _without_wall_time(rows):
    """A log's rows without the wall-time column (the one that differs across a kill)."""
    return [{k: v for k, v in row.items() if k != "wall_time"} for row in rows]
