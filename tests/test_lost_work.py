"""No trained state is lost and no run's record is silently wrong after a config change,
a re-conversion, a replaced log, other library versions or a second workflow."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from reproduce.datasets import get_dataset
from reproduce.run_log import read_log
from reproduce.train import training
from reproduce.train.run_lock import RunLockedError, run_lock
from reproduce.train.settings import TrainingSettings
from reproduce.train.training import train_run

HERE = Path(__file__).parent
EPOCHS = 3
SETTINGS = {"max_epochs": EPOCHS, "momentum_saturation_epochs": 2, "patience": 20,
            "learning_rate_decay_factor": 1.01, "steps_per_execution": 30, "threads": 2}


def train(shards, run_dir, **overrides):
    """Train the shallow net in this process; (metrics, the messages for the terminal)."""
    messages = []
    metrics = train_run(shards, run_dir, spec=get_dataset("HIGGS", {"source": "sample"}),
                        model="shallow", feature_set="complete", seed=1,
                        settings=TrainingSettings.from_dict(SETTINGS | overrides),
                        verbose=0, notify=messages.append)
    return metrics, messages


def weights(path):
    import reproduce.train.keras_objects  # noqa: F401  (registers the package's objects)

    return keras.models.load_model(path).get_weights()


def same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(weights(a), weights(b), strict=True))


def state(run_dir):
    return json.loads((Path(run_dir) / "state" / "state.json").read_text())


@pytest.fixture(scope="module")
def trained(sample_shards, tmp_path_factory):
    """A finished run of EPOCHS epochs, its metrics and its log's rows."""
    run_dir = tmp_path_factory.mktemp("trained")
    metrics, _ = train(sample_shards, run_dir)
    return run_dir, metrics, read_log(run_dir / "log.csv").rows


@pytest.fixture
def run_dir(trained, tmp_path):
    """A copy of the finished run to change."""
    shutil.copytree(trained[0], tmp_path / "run")
    return tmp_path / "run"


def test_a_lower_max_epochs_serves_the_saved_epochs(sample_shards, trained, run_dir):
    """max_epochs below the saved epochs: nothing is trained or discarded; metrics.json
    says the weights are of the saved epochs (the cap, the epochs, which weights)."""
    metrics, messages = train(sample_shards, run_dir, max_epochs=2)
    assert state(run_dir)["epochs_completed"] == EPOCHS
    assert read_log(run_dir / "log.csv").epochs() == list(range(EPOCHS))
    assert same_weights(run_dir / "model.keras", trained[0] / "model.keras")
    assert metrics["epochs_trained"] == EPOCHS and metrics["settings"]["max_epochs"] == 2
    assert metrics["served_from_saved_state"]["epochs_saved"] == EPOCHS
    assert metrics["test_auc"] == trained[1]["test_auc"]
    assert any(f"holds {EPOCHS} epochs" in w for w in metrics["warnings"])
    assert any("not training" in m for m in messages)
    assert json.loads((run_dir / "metrics.json").read_text()) == metrics
    # back to the first cap: the same run, found finished, nothing served
    metrics, messages = train(sample_shards, run_dir)
    assert "served_from_saved_state" not in metrics and not messages
    assert metrics["test_auc"] == trained[1]["test_auc"]


def test_evaluation_settings_evaluate_the_saved_model_again(sample_shards, trained, run_dir):
    """auc_thresholds and validation_batch_size cannot change the weights: the saved
    epochs are kept (the log's rows, wall times included, unchanged) and evaluated."""
    metrics, messages = train(sample_shards, run_dir, auc_thresholds=50,
                              validation_batch_size=1000)
    assert read_log(run_dir / "log.csv").rows == trained[2]
    assert same_weights(run_dir / "model.keras", trained[0] / "model.keras")
    assert state(run_dir)["epochs_completed"] == EPOCHS
    assert metrics["evaluation_settings_changed"] == {
        "auc_thresholds": {"saved": 200, "now": 50},
        "validation_batch_size": {"saved": 10_000, "now": 1000}}
    assert metrics["epochs_trained"] == EPOCHS
    assert metrics["test_auc"] == pytest.approx(trained[1]["test_auc"], abs=1e-6)
    assert not messages and not list(run_dir.glob("state.superseded-*"))


def test_reconverted_data_with_other_records_resumes(sample_shards, sample_spec, trained,
                                                    run_dir, tmp_path):
    """The same rows converted with another rows_per_record and rows_per_shard (other
    shard files, other shard hashes) are the same data: the saved run is kept."""
    from conftest import SAMPLE
    from reproduce.data.tfrecords import write_tfrecord_shards

    write_tfrecord_shards(SAMPLE, tmp_path / "rebuilt", sample_spec, rows_per_shard=2500,
                          rows_per_record=100)
    metrics, messages = train(tmp_path / "rebuilt", run_dir)
    assert read_log(run_dir / "log.csv").rows == trained[2]
    assert same_weights(run_dir / "model.keras", trained[0] / "model.keras")
    assert metrics["test_auc"] == trained[1]["test_auc"]
    assert not messages and not list(run_dir.glob("state.superseded-*"))


def test_a_state_that_is_not_resumed_is_set_aside(sample_shards, trained, run_dir):
    """Another learning rate starts afresh; the saved state, its log, best weights and
    metrics are moved to state.superseded-<time>-learning_rate/, and the terminal says so."""
    metrics, messages = train(sample_shards, run_dir, learning_rate=0.01)
    kept = list(run_dir.glob("state.superseded-*-learning_rate"))
    assert len(kept) == 1, sorted(p.name for p in run_dir.iterdir())
    kept = kept[0]
    assert json.loads((kept / "state.json").read_text())["epochs_completed"] == EPOCHS
    assert same_weights(kept / "model.keras", trained[0] / "model.keras")
    assert read_log(kept / "log.csv").rows == trained[2]
    assert json.loads((kept / "metrics.json").read_text())["test_auc"] == \
        trained[1]["test_auc"]
    assert (kept / "best.weights.h5").exists()
    assert any("starting this run afresh" in m and str(kept) in m for m in messages)
    assert metrics["superseded_state"] == str(kept)
    assert metrics["settings"]["learning_rate"] == 0.01 and metrics["epochs_trained"] == EPOCHS


def test_resume_under_other_versions_is_recorded(sample_shards, run_dir, caplog):
    """The state records the library versions; a resume under others says so in the log
    and in metrics.json, and the continued state keeps saying so."""
    versions = state(run_dir)["versions"]
    assert versions["keras"] == keras.__version__
    assert set(versions) >= {"tensorflow", "keras", "keras_backend", "numpy", "python"}
    edited = state(run_dir)
    edited["versions"] |= {"keras": "2.99.0", "tensorflow": "1.15.0"}
    (run_dir / "state" / "state.json").write_text(json.dumps(edited))
    with caplog.at_level("WARNING"):
        metrics, messages = train(sample_shards, run_dir, max_epochs=EPOCHS + 1)
    import tensorflow as tf

    expected = {"keras": {"saved": "2.99.0", "now": keras.__version__},
                "tensorflow": {"saved": "1.15.0", "now": tf.__version__}}
    assert metrics["resumed_under_other_versions"] == expected
    assert "keras 2.99.0 -> " in caplog.text and any("other versions" in m for m in messages)
    assert metrics["epochs_trained"] == EPOCHS + 1
    assert state(run_dir)["resumed_under_other_versions"] == expected
    assert state(run_dir)["versions"]["keras"] == keras.__version__


def test_log_replaced_mid_fit_is_rewritten(sample_shards, trained, tmp_path, monkeypatch):
    """progress/log.csv replaced by a copy after the first epoch (an editor's save): the
    final log holds every epoch, and metrics.json agrees with an uninterrupted run's."""

    class ReplaceLog(keras.callbacks.Callback):
        def __init__(self, path):
            super().__init__()
            self.path = path

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                copy = self.path.with_name("copy.csv")
                shutil.copy(self.path, copy)
                os.replace(copy, self.path)

    build = training.training_callbacks

    def with_replacement(settings, **kwargs):
        run = build(settings, **kwargs)
        run.callbacks.append(ReplaceLog(kwargs["files"].live_log))
        return run

    monkeypatch.setattr(training, "training_callbacks", with_replacement)
    metrics, messages = train(sample_shards, tmp_path / "run")
    log = read_log(tmp_path / "run" / "log.csv")
    assert log.epochs() == list(range(EPOCHS))
    assert [r["val_loss"] for r in log.rows] == [r["val_loss"] for r in trained[2]]
    assert metrics["epochs_trained"] == trained[1]["epochs_trained"] == EPOCHS
    assert metrics["best_epoch"] == trained[1]["best_epoch"]
    assert any("was replaced during training" in m for m in messages)


def test_a_second_training_of_the_same_run_refuses(sample_shards, tmp_path):
    """A training in another process holds the run folder's lock: a second one refuses at
    once, naming the folder and the holder's pid and host; a SIGKILLed holder leaves no
    lock behind."""
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(HERE / "train_once.py"), str(sample_shards), str(run_dir),
           json.dumps(SETTINGS | {"model": "shallow", "max_epochs": 500})]
    holder = subprocess.Popen(cmd, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = run_dir / "training.lock"
    try:
        deadline = time.monotonic() + 300
        while not (lock.exists() and lock.read_text()):
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(RunLockedError) as err:
            train(sample_shards, run_dir)
        assert time.monotonic() - started < 30
        message = str(err.value)
        assert str(run_dir) in message and f"pid {holder.pid} " in message
        assert socket.gethostname() in message
    finally:
        holder.kill()
        holder.wait()
    with run_lock(lock):
        pass
