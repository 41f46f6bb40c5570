"""The saved training state: corrupt files, hand-edited counts, fingerprints, batch order."""

import json

import keras
import numpy as np
import pytest

from reproduce.train.batch_order import SharedBatchOrder
from reproduce.train.block_steps import epoch_blocks
from reproduce.train.callbacks import CorruptStateError, Pylearn2Termination, TrainingStateCheckpoint
from reproduce.train.optimizers import ScheduledMomentumSGD
from reproduce.train.resume import fingerprint_differences, resume_plan, run_fingerprint
from reproduce.train.settings import TrainingSettings

STEPS_PER_EPOCH = 4  # 8 rows in batches of 2


@pytest.fixture
def saved_state(tmp_path):
    """A real state after 2 epochs of a tiny model."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(ScheduledMomentumSGD(0.01), "mse")
    state = TrainingStateCheckpoint(tmp_path / "state", {"seed": 1})
    x = np.ones((8, 3), np.float32)
    model.fit(x, x[:, :1], batch_size=2, epochs=2, verbose=0, callbacks=[state])
    return state


def test_a_good_state_restores(saved_state):
    saved = saved_state.load()
    assert saved["epochs_completed"] == 2 and saved["steps"] == 8
    model = saved_state.restore(saved, STEPS_PER_EPOCH)
    assert int(model.optimizer.iterations.numpy()) == 8


@pytest.mark.parametrize("content, message", [
    ("", "state.json is not valid JSON"),
    ('{"epochs_completed": 2', "state.json is not valid JSON"),
    ('{"epochs": 2}', "no positive integer 'epochs_completed'"),
])
def test_corrupt_state_json_names_the_folder(saved_state, content, message):
    (saved_state.directory / "state.json").write_text(content)
    with pytest.raises(CorruptStateError) as err:
        saved_state.load()
    assert message in str(err.value)
    assert str(saved_state.directory) in str(err.value) and "Delete the folder" in str(err.value)


def test_truncated_model_names_the_folder(saved_state):
    path = saved_state.directory / "model.keras"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CorruptStateError, match="model.keras cannot be loaded") as err:
        saved_state.restore(saved_state.load(), STEPS_PER_EPOCH)
    assert str(saved_state.directory) in str(err.value)


def test_hand_edited_epoch_count_is_refused(saved_state):
    path = saved_state.directory / "state.json"
    state = json.loads(path.read_text())
    state["epochs_completed"] = 6
    path.write_text(json.dumps(state))
    with pytest.raises(CorruptStateError, match="6 epochs were completed, which is 24 "
                                                "optimizer steps, but the saved optimizer "
                                                "has taken 8"):
        saved_state.restore(saved_state.load(), STEPS_PER_EPOCH)


def _manifest(sha):
    return {"splits": {"train": {"range": [0, 8], "shards": [{"sha256": sha}]},
                       "valid": {"range": [8, 9], "shards": []},
                       "test": {"range": [9, 10], "shards": []}}}


def _fingerprint(sample_spec, sha="a" * 64, **settings):
    return run_fingerprint(spec=sample_spec, manifest=_manifest(sha), model="deep",
                           feature_set="complete", seed=1,
                           settings=TrainingSettings(**settings))


def test_fingerprint_covers_data_and_numeric_settings(sample_spec):
    base = _fingerprint(sample_spec)
    assert fingerprint_differences(base, _fingerprint(sample_spec, "b" * 64)) == \
        ["shards_sha256"]
    assert fingerprint_differences(base, _fingerprint(sample_spec, learning_rate=0.5)) == \
        ["settings.learning_rate"]
    # the block size and the thread count never change the numbers
    assert fingerprint_differences(base, _fingerprint(sample_spec, threads=7,
                                                      steps_per_execution=3)) == []


def test_fingerprint_holds_the_rows_not_the_sharding(sample_spec, sample_shards,
                                                   sample_array, tmp_path):
    """The manifest's rows_sha256 is the sha256 of each split's float32 rows in order
    (hashlib over numpy's parse of the file); another sharding of the same rows has the
    same fingerprint, other rows another one."""
    import hashlib

    from conftest import SAMPLE
    from reproduce.data.tfrecords import load_manifest, write_tfrecord_shards

    manifest = load_manifest(sample_shards)
    for split, (start, end) in sample_spec.splits.items():
        rows = np.ascontiguousarray(sample_array[start:end], dtype="<f4")
        assert manifest["splits"][split]["rows_sha256"] == \
            hashlib.sha256(rows.tobytes()).hexdigest()
    other = write_tfrecord_shards(SAMPLE, tmp_path, sample_spec, rows_per_shard=3000,
                                  rows_per_record=100)

    def fingerprint(m):
        return run_fingerprint(spec=sample_spec, manifest=m, model="deep",
                               feature_set="complete", seed=1, settings=TrainingSettings())

    assert fingerprint_differences(fingerprint(manifest), fingerprint(other)) == []
    other["splits"]["test"]["rows_sha256"] = "f" * 64
    assert fingerprint_differences(fingerprint(manifest), fingerprint(other)) == \
        ["rows_sha256.test"]


@pytest.mark.parametrize("saved_settings, new_settings, losses, action", [
    ({}, {}, [1.0] * 5, "resume"),
    ({"max_epochs": 5}, {"max_epochs": 9}, [1.0] * 5, "resume"),           # extend
    ({"max_epochs": 9}, {"max_epochs": 4}, [1.0] * 5, "serve"),            # cap below
    ({}, {"auc_thresholds": 50, "validation_batch_size": 7}, [1.0] * 5, "resume"),
    ({"stopping": "authors"}, {"stopping": "pylearn2"}, [1.0] * 5, "resume"),
    ({}, {"learning_rate": 0.5}, [1.0] * 5, "afresh"),
])
def test_resume_plan(sample_spec, saved_settings, new_settings, losses, action):
    settings = TrainingSettings(**new_settings)
    saved = {"epochs_completed": len(losses),
             "fingerprint": _fingerprint(sample_spec, **saved_settings)}
    rule = Pylearn2Termination(patience=settings.patience,
                               max_epochs=settings.momentum_saturation_epochs)
    got, reason = resume_plan(saved, _fingerprint(sample_spec, **new_settings), losses,
                              rule, settings)
    assert got == action, reason


def test_replaced_data_is_never_resumed(sample_spec):
    saved = {"epochs_completed": 3, "fingerprint": _fingerprint(sample_spec, "a" * 64)}
    action, reason = resume_plan(saved, _fingerprint(sample_spec, "c" * 64), [1.0] * 3,
                                 Pylearn2Termination(), TrainingSettings())
    assert action == "afresh" and "shards_sha256" in reason


def test_dropout_state_saved_before_paper_dropout_is_never_resumed(sample_spec):
    """A dropout run's state saved before ``PaperDropout`` (Keras's Dropout, whose generator
    state was not saved: a resume would repeat the first masks; no ``dropout_layer`` in the
    fingerprint) starts afresh; the fingerprints of the runs without dropout are unchanged."""
    current = _fingerprint(sample_spec, dropout=True)
    older = {k: v for k, v in current.items() if k != "dropout_layer"}
    action, reason = resume_plan({"epochs_completed": 3, "fingerprint": older}, current,
                                 [1.0] * 3, Pylearn2Termination(),
                                 TrainingSettings(dropout=True))
    assert action == "afresh" and "dropout_layer" in reason
    assert "dropout_layer" not in _fingerprint(sample_spec)


def test_shared_order_is_pylearn2s_stream_and_resumes():
    """Epoch e visits the rows in the order of the (e+1)-th shuffle of arange(n) by
    numpy.random.RandomState([2012, 10, 5]) (Pylearn2's SGD default seed)."""
    n, batch = 1037, 10
    rng = np.random.RandomState([2012, 10, 5])
    expected = []
    for _ in range(4):
        perm = np.arange(n)
        rng.shuffle(perm)
        expected.append(perm)
    x = np.arange(n, dtype=np.float32).reshape(-1, 1)
    order = SharedBatchOrder(n)
    got = list(epoch_blocks(x, x.ravel(), order=order, first_epoch=0, last_epoch=3,
                            batch_size=batch, block_size=4).as_numpy_iterator())
    rows = np.concatenate([b[0].ravel() for b in got]).reshape(3, n)
    for epoch in range(3):
        assert np.array_equal(rows[epoch], expected[epoch])
    # a run killed after epoch 2 resumes from the saved generator state
    resumed = SharedBatchOrder(n, first_epoch=3, state=json.loads(json.dumps(
        order.state_before(3))))
    assert np.array_equal(resumed.permutation(3), expected[3])
    # the pipeline may draw epochs ahead of the checkpoints: earlier states are kept
    ahead = SharedBatchOrder(n)
    for epoch in range(4):
        ahead.permutation(epoch)
    assert ahead.state_before(1) == SharedBatchOrder(n, first_epoch=1).state_before(1)
    assert ahead.state_before(2) == SharedBatchOrder(n, first_epoch=2).state_before(2)
    # a data set iterated again from its start sees the same epochs again
    again = np.concatenate([b[0].ravel() for b in epoch_blocks(
        x, x.ravel(), order=order, first_epoch=0, last_epoch=1, batch_size=batch,
        block_size=4).as_numpy_iterator()])
    assert np.array_equal(again, expected[0])
    # and, without it, by replaying the stream
    assert np.array_equal(SharedBatchOrder(n, first_epoch=3).permutation(3), expected[3])


def test_a_rule_that_would_have_stopped_earlier_starts_afresh(sample_spec):
    """5 saved epochs of a flat loss; Pylearn2's rule with N=1, max_epochs=2 stops after
    epoch 3: the saved weights are past that point, so the run cannot be continued."""
    settings = TrainingSettings(stopping="pylearn2", patience=1)
    saved = {"epochs_completed": 5,
             "fingerprint": _fingerprint(sample_spec, stopping="authors")}
    action, reason = resume_plan(saved, _fingerprint(sample_spec, stopping="pylearn2",
                                                     patience=1), [1.0] * 5,
                                 Pylearn2Termination(patience=1, max_epochs=2), settings)
    assert action == "afresh" and "would have stopped after epoch 3" in reason
