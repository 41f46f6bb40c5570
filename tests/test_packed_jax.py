"""Packed training on Keras's JAX backend (TensorFlow blocked from import): a pack of 15
(5 seeds x 3 feature sets) against the 15 runs trained one by one on JAX, under each
stopping rule that can fire, at different epochs in different replicas, over thousands of
steps (tests/packed_runs.py); a pack killed mid-run that resumes bit-identically, one of
its runs continued unpacked; and runs trained unpacked for 3 epochs, continued as a pack.

tests/test_packed_tensorflow.py holds the same 15-pack checks on TensorFlow.
"""

import json
import shutil
import signal
import time

import numpy as np
import pytest

from packed_runs import (RULES, WEIGHTS_RTOL, check_every_replica_equals_its_run_alone,
                         check_stopped_replicas_stay_bit_unchanged, log_rows, metrics, train,
                         train_pack_and_alone)
from test_backend_jax import finished, needs_jax
from test_training_jax import saved_weights
from train_pack_once import RUNS, run_name

pytestmark = needs_jax


@pytest.fixture(scope="module", params=RULES)
def trained(request, sample_shards, tmp_path_factory):
    """(rule, the pack's folder, the folder of the 15 runs trained alone), on JAX."""
    return request.param, *train_pack_and_alone("jax", request.param, sample_shards,
                                                tmp_path_factory)


def test_every_replica_of_a_15_pack_equals_its_run_trained_alone(trained):
    rule, pack, alone = trained
    check_every_replica_equals_its_run_alone(pack, alone, "jax", rule)


def test_a_replica_stopped_early_stays_bit_unchanged(trained):
    _, pack, _ = trained
    check_stopped_replicas_stay_bit_unchanged(pack)


@pytest.mark.parametrize("trained", RULES[:1], indirect=True)  # killed once, one rule
def test_a_killed_jax_pack_resumes_bit_identically(sample_shards, trained, tmp_path):
    """A pack SIGKILLed after its second epoch resumes bit-identically; one of its runs,
    copied at the kill, continues unpacked."""
    rule, pack, alone = trained
    proc = train("jax", rule, sample_shards, tmp_path, "pack")
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
    resumed = train("jax", rule, sample_shards, tmp_path, "pack")
    finished(resumed)
    assert "resuming the pack after epoch" in resumed.stderr.read().decode()
    for feature_set, seed in RUNS:
        name = run_name(feature_set, seed)
        ours, theirs = log_rows(tmp_path / name), log_rows(pack / name)
        assert _without_wall_time(ours) == _without_wall_time(theirs), name
        assert all(np.array_equal(a, b) for a, b in
                   zip(saved_weights(tmp_path / name), saved_weights(pack / name), strict=True))
    # the first run, copied at the kill, continued alone from its own state (packing is not
    # in the fingerprint): it ends as the run trained alone from the start, to rounding
    continued = train("jax", rule, sample_shards, tmp_path / "unpacked", "first")
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


@pytest.mark.parametrize("trained", RULES[:1], indirect=True)
def test_runs_trained_unpacked_continue_as_a_pack(sample_shards, trained, tmp_path):
    """The 15 runs trained alone for 3 epochs (the epoch budget), then continued as one
    pack under the paper text's rule: each run keeps its first 3 epochs and ends as the
    run trained alone from the start, to rounding."""
    rule, _, alone = trained
    finished(train("jax", rule, sample_shards, tmp_path, "alone", max_epochs=3))
    first = {run_name(*run): log_rows(tmp_path / run_name(*run)) for run in RUNS}
    continued = train("jax", rule, sample_shards, tmp_path, "pack")
    finished(continued)
    for feature_set, seed in RUNS:
        name = run_name(feature_set, seed)
        rows = log_rows(tmp_path / name)
        assert rows[:3] == first[name], name
        ours, theirs = metrics(tmp_path / name), metrics(alone / name)
        assert ours["pack"]["replicas"] == 15
        assert ours["stopping"] == theirs["stopping"], name
        assert (ours["steps"], ours["epochs_trained"]) == (theirs["steps"], theirs["epochs_trained"])
        for a, b in zip(rows, log_rows(alone / name), strict=True):
            assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-5), name
        for a, b in zip(saved_weights(tmp_path / name), saved_weights(alone / name), strict=True):
            assert np.max(np.abs(a - b)) <= WEIGHTS_RTOL * np.max(np.abs(b)), name


def _without_wall_time(rows):
    """A log's rows without the wall-time column (the one that differs across a kill)."""
    return [{k: v for k, v in row.items() if k != "wall_time"} for row in rows]
