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
from sklearn.metrics import roc_auc_score

HERE = Path(__file__).parent
# The paper's schedule compressed to 8 epochs of 90 batches (the learning rate must fall
# with the momentum ramp, or momentum 0.99 at rate 0.05 drives the net to a constant).
SETTINGS = {"max_epochs": 8, "momentum_saturation_epochs": 4, "patience": 20,
            "learning_rate_decay_factor": 1.01, "steps_per_execution": 30, "threads": 2}


def train(shards, run_dir, **overrides):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, str(HERE / "train_once.py"), str(shards), str(run_dir),
           json.dumps(SETTINGS | overrides)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def weights(run_dir, name="model.keras"):
    import reproduce.train.keras_objects  # noqa: F401  (registers the package's objects)

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
    # the rate at the step counter after epoch 8 (720 steps): 0.05 / 1.01**720
    assert float(rows[-1]["learning_rate"]) == pytest.approx(0.05 / 1.01**720, rel=1e-5)
    assert metrics["trainable_parameters"] == 279_901
    assert 0.5 < metrics["test_auc"] <= 1.0
    scores = np.load(reference_run / "test_scores.npz")
    assert scores["scores"].shape == (1000,)
    assert metrics["settings"]["steps_per_execution_used"] == 30
    # the authors' defaults: full budget, final weights, both AUCs recorded
    assert metrics["stopping"]["rule"] == "authors" == metrics["stopping"]["stopped_by"]
    assert metrics["evaluated_weights"] == "final"
    assert np.array_equal(scores["scores"], scores["scores_final"])
    for name in ("final", "best_validation"):
        assert metrics[f"test_auc_{name}"] == pytest.approx(
            roc_auc_score(scores["labels"], scores[f"scores_{name}"]), abs=1e-12)
    assert metrics["test_auc"] == metrics["test_auc_final"]
    assert metrics["constant_output"] is False and metrics["warnings"] == []


def test_same_seed_gives_bit_identical_weights(sample_shards, reference_run, tmp_path):
    proc = train(sample_shards, tmp_path)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]
    for a, b in zip(weights(reference_run), weights(tmp_path)):
        assert np.array_equal(a, b)
    assert [r["val_loss"] for r in log_rows(reference_run)] == \
        [r["val_loss"] for r in log_rows(tmp_path)]


@pytest.mark.parametrize("overrides", [
    {},                            # the default: Pylearn2's stream, its state in state.json
    {"batch_order": "per_seed"},   # a shuffle computed from (seed, epoch), no state
    {"dropout": True},             # the masks' generator, its state in model.keras
], ids=["shared_order", "per_seed_order", "dropout"])
def test_kill_and_resume_gives_bit_identical_weights(sample_shards, reference_run, tmp_path,
                                                     overrides):
    """A run killed (SIGKILL) after a few epochs and started again ends with the weights,
    validation losses and test AUC of a run never interrupted."""
    reference = reference_run
    if overrides:  # an uninterrupted run of these settings
        reference = tmp_path / "reference"
        proc = train(sample_shards, reference, **overrides)
        assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]
        # the setting took effect: other numbers than the default run's
        assert not np.array_equal(weights(reference)[0], weights(reference_run)[0])
    run_dir = tmp_path / "killed"
    proc = train(sample_shards, run_dir, **overrides)
    deadline = time.monotonic() + 300
    log = run_dir / "progress" / "log.csv"
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 4:  # header + 3 epochs
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "metrics.json").exists()
    state = json.loads((run_dir / "state" / "state.json").read_text())
    assert 2 <= state["epochs_completed"] < 8  # the kill may land before the 3rd save
    proc = train(sample_shards, run_dir, **overrides)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]
    assert [int(r["epoch"]) for r in log_rows(run_dir)] == list(range(8))  # each epoch once
    for a, b in zip(weights(reference), weights(run_dir)):
        assert np.array_equal(a, b)
    assert [r["val_loss"] for r in log_rows(reference)] == \
        [r["val_loss"] for r in log_rows(run_dir)]
    ref = json.loads((reference / "metrics.json").read_text())
    resumed = json.loads((run_dir / "metrics.json").read_text())
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


def _forward(weights, x):
    """The paper's network in float64 numpy: tanh hidden layers, sigmoid output."""
    h = x.astype(np.float64)
    kernels = weights[0::2]
    for i, (w, b) in enumerate(zip(weights[0::2], weights[1::2])):
        h = h @ w.astype(np.float64) + b.astype(np.float64)
        h = np.tanh(h) if i < len(kernels) - 1 else 1.0 / (1.0 + np.exp(-h))
    return h.ravel()


def _objective(weights, x, y, decay=1e-5):
    """Cross-entropy (Keras clips p to [1e-7, 1 - 1e-7]) plus decay * sum(W^2) over kernels."""
    p = np.clip(_forward(weights, x), 1e-7, 1 - 1e-7)
    cross_entropy = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return cross_entropy + decay * sum(np.sum(w.astype(np.float64) ** 2)
                                       for w in weights[0::2])


def test_val_loss_and_train_monitor_are_the_whole_cost_by_hand(reference_run, sample_array):
    """Keras's val_loss is Pylearn2's valid_objective: cross-entropy plus the weight-decay
    term on the validation split; train_monitor_loss the same on the first training rows,
    both with the epoch's final weights (model.keras holds those of the last epoch)."""
    w = weights(reference_run)
    last = log_rows(reference_run)[-1]
    valid, train = sample_array[8984:9984], sample_array[:8984]
    assert float(last["val_loss"]) == pytest.approx(
        _objective(w, valid[:, 1:], valid[:, 0]), rel=2e-5)
    assert float(last["train_monitor_loss"]) == pytest.approx(
        _objective(w, train[:, 1:], train[:, 0]), rel=2e-5)
    # and not the cross-entropy alone: the decay term is ~1e-5 * sum(W^2), well above 2e-5
    penalty = 1e-5 * sum(np.sum(k.astype(np.float64) ** 2) for k in w[0::2])
    assert penalty > 1e-3 * float(last["val_loss"])


def test_changed_cap_extends_changed_rate_starts_afresh(sample_shards, sample_spec,
                                                      reference_run, tmp_path,
                                                      tmp_path_factory):
    """A finished run rerun with a larger max_epochs continues its epochs (same weights as
    a run trained straight to the new cap); a rerun with another learning rate starts
    afresh and says so; TFRecords rebuilt from the same rows (other shards) are the same
    data."""
    proc = train(sample_shards, tmp_path, max_epochs=3)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs_trained"] == 3
    proc = train(sample_shards, tmp_path)  # max_epochs 8, as the reference
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 0, err[-3000:]
    assert "only settings.max_epochs changed" in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 8 and metrics["settings"]["max_epochs"] == 8
    assert [int(r["epoch"]) for r in log_rows(tmp_path)] == list(range(8))
    for a, b in zip(weights(reference_run), weights(tmp_path)):
        assert np.array_equal(a, b)

    proc = train(sample_shards, tmp_path, learning_rate=0.01, max_epochs=2)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 0, err[-3000:]
    assert "starting this run afresh" in err and "settings.learning_rate" in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 2 and metrics["steps"] == 2 * 90
    assert metrics["settings"]["learning_rate"] == 0.01
    assert float(log_rows(tmp_path)[0]["learning_rate"]) < 0.01

    # the input converted again (other shard files, the same rows): the same data
    from conftest import SAMPLE
    from reproduce.data.tfrecords import write_tfrecord_shards

    rebuilt = tmp_path_factory.mktemp("rebuilt")
    write_tfrecord_shards(SAMPLE, rebuilt, sample_spec, rows_per_shard=3000,
                          rows_per_record=256)
    proc = train(rebuilt, tmp_path, learning_rate=0.01, max_epochs=2)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 0, err[-3000:]
    assert "starting this run afresh" not in err and "training already ended" in err
    assert [int(r["epoch"]) for r in log_rows(tmp_path)] == [0, 1]


def test_constant_output_is_flagged(sample_shards, tmp_path):
    proc = train(sample_shards, tmp_path, learning_rate=50.0, max_epochs=2, model="shallow")
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 0, err[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["constant_output"] is True
    assert metrics["test_auc"] == 0.5
    assert any("constant" in w for w in metrics["warnings"])
    assert "CONSTANT OUTPUT" in err


def test_readme_recipe_loads_a_trained_model(reference_run, tmp_path):
    """docs/outputs.md's code for loading model.keras, run as written in a fresh interpreter."""
    page = (HERE.parent / "docs" / "outputs.md").read_text()
    blocks = [b.split("```", 1)[0] for b in page.split("```python\n")[1:]]
    recipe = next(b for b in blocks if "keras.models.load_model" in b)
    path = tmp_path / "results/HIGGS/runs/deep-complete-seed1/model.keras"
    path.parent.mkdir(parents=True)
    path.write_bytes((reference_run / "model.keras").read_bytes())
    code = recipe + "\nprint(model.count_params())\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "279901"


def test_failed_evaluation_leaves_the_run_unfinished_and_retries_it(sample_shards, tmp_path):
    """The evaluation fails (test_scores.npz cannot be written: a folder stands there):
    the state records that training ended but not that the run finished; the rerun scores
    the saved model without training again."""
    (tmp_path / "test_scores.npz").mkdir(parents=True)
    proc = train(sample_shards, tmp_path, max_epochs=2, model="shallow")
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) != 0
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["training_ended"] == {"by": "authors", "epochs": 2}
    assert "finished" not in state and not (tmp_path / "metrics.json").exists()
    (tmp_path / "test_scores.npz").rmdir()
    proc = train(sample_shards, tmp_path, max_epochs=2, model="shallow")
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 0, err[-3000:]
    assert "training already ended (authors) after 2 epochs" in err
    assert json.loads((tmp_path / "state" / "state.json").read_text())["finished"] is True
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs_trained"] == 2
