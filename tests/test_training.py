import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

HERE = Path(__file__).parent
SETTINGS = {"max_epochs": 8, "momentum_saturation_epochs": 4, "patience": 20,
            "steps_per_execution": 30, "threads": 2}


def train(shards, run_dir, **overrides):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, str(HERE / "train_once.py"), str(shards), str(run_dir),
           json.dumps(SETTINGS | overrides)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def weights(run_dir, name="model.keras"):
    from reproduce.optimizers import ScheduledMomentumSGD  # noqa: F401  (registers it)

    return keras.models.load_model(Path(run_dir) / name).get_weights()


def log_rows(run_dir):
    with open(Path(run_dir) / "log.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference_run(sample_shards, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    proc = train(sample_shards, run_dir)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]
    return run_dir


def test_outputs_of_a_run(reference_run):
    metrics = json.loads((reference_run / "metrics.json").read_text())
    rows = log_rows(reference_run)
    assert [int(r["epoch"]) for r in rows] == list(range(8))
    for key in ("loss", "auc", "val_loss", "val_auc", "learning_rate", "momentum", "wall_time"):
        assert key in rows[0]
    assert float(rows[-1]["momentum"]) == pytest.approx(0.99)
    steps = 8 * 90  # 8,984 rows in batches of 100
    assert metrics["steps"] == steps
    assert float(rows[-1]["learning_rate"]) == pytest.approx(0.05 / 1.0000002**steps, rel=1e-6)
    assert metrics["trainable_parameters"] == 279_901
    assert 0.5 < metrics["test_auc"] <= 1.0
    scores = np.load(reference_run / "test_scores.npz")
    assert scores["scores"].shape == (1000,)
    assert metrics["settings"]["steps_per_execution_used"] == 30


def test_same_seed_gives_bit_identical_weights(sample_shards, reference_run, tmp_path):
    proc = train(sample_shards, tmp_path)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]
    for a, b in zip(weights(reference_run), weights(tmp_path)):
        assert np.array_equal(a, b)
    assert [r["val_loss"] for r in log_rows(reference_run)] == \
        [r["val_loss"] for r in log_rows(tmp_path)]


def test_kill_and_resume_gives_bit_identical_weights(sample_shards, reference_run, tmp_path):
    proc = train(sample_shards, tmp_path)
    deadline = time.monotonic() + 300
    log = tmp_path / "progress" / "log.csv"
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 4:  # header + 3 epochs
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "metrics.json").exists()
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert 2 <= state["epochs_completed"] < 8  # the kill may land before the 3rd save
    proc = train(sample_shards, tmp_path)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]
    assert [int(r["epoch"]) for r in log_rows(tmp_path)] == list(range(8))  # each epoch once
    for a, b in zip(weights(reference_run), weights(tmp_path)):
        assert np.array_equal(a, b)
    assert [r["val_loss"] for r in log_rows(reference_run)] == \
        [r["val_loss"] for r in log_rows(tmp_path)]
    ref = json.loads((reference_run / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "metrics.json").read_text())
    assert resumed["test_auc"] == ref["test_auc"]


def test_diverging_run_raises_and_writes_no_model(sample_shards, tmp_path):
    proc = train(sample_shards, tmp_path, learning_rate=1e6, max_epochs=3)
    assert proc.wait(timeout=600) != 0
    assert b"FloatingPointError" in proc.stderr.read()
    assert not (tmp_path / "model.keras").exists()
    assert not (tmp_path / "metrics.json").exists()


def test_per_epoch_scheduler_and_early_stopping_built_ins(sample_shards, tmp_path):
    proc = train(sample_shards, tmp_path, learning_rate_schedule="per_epoch",
                 learning_rate_decay_factor=1.01, early_stopping_patience=1, max_epochs=6,
                 model="shallow")
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]
    rows = log_rows(tmp_path)
    # Keras's LearningRateScheduler: the closed form at each epoch's first batch (90/epoch)
    for row in rows:
        expected = 0.05 / 1.01 ** (90 * int(row["epoch"]))
        assert float(row["learning_rate"]) == pytest.approx(expected, rel=1e-6)
    val = [float(r["val_loss"]) for r in rows]
    stopped_early = len(rows) < 6
    assert stopped_early == any(val[i + 1] >= min(val[: i + 1]) for i in range(len(val) - 1))
