"""A training longer than its job: it stops after the last epoch that fits, and the next
job resumes it to the weights of an uninterrupted run (bit for bit on the CPU)."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from reproduce.train.job_budget import jobs_needed, training_budget_s

SETTINGS = {"max_epochs": 3, "momentum_saturation_epochs": 2, "patience": 20,
            "steps_per_execution": 30, "threads": 2}
# one training in a fresh process; argv: shards, run folder, deadline (seconds from now,
# "none": no deadline). Exit 3: stopped by the deadline.
SCRIPT = """
import json, sys, time
from reproduce.datasets import get_dataset
from reproduce.train.job_budget import JobTimeLimitReached
from reproduce.train.settings import TrainingSettings
from reproduce.train.training import train_run
shards, run_dir, deadline = sys.argv[1], sys.argv[2], sys.argv[3]
deadline = None if deadline == "none" else time.monotonic() + float(deadline)
try:
    train_run(shards, run_dir, spec=get_dataset("HIGGS", {"source": "sample"}),
              model="shallow", feature_set="high", seed=1, verbose=0, deadline=deadline,
              settings=TrainingSettings.from_dict(json.loads(sys.argv[4])))
except JobTimeLimitReached as exc:
    print(exc, file=sys.stderr)
    sys.exit(3)
"""


def train(shards, run_dir, deadline):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", SCRIPT, str(shards), str(run_dir),
                           str(deadline), json.dumps(SETTINGS)], env=env,
                          capture_output=True, text=True, timeout=600)


def weights(run_dir):
    import keras

    import reproduce.train.keras_objects  # noqa: F401  (registers the package's objects)

    return keras.models.load_model(run_dir / "model.keras").get_weights()


def test_budget_and_jobs_by_hand():
    # 1440 min = 86,400 s less 10 min; 1 min = 60 s less 6 s (10%)
    assert training_budget_s(1440) == 86_400 - 600 and training_budget_s(1) == 54.0
    # 3,000 minutes in jobs of 1440 - 10 = 1430 minutes: 3 jobs
    assert jobs_needed(3000, 1440) == 3 and jobs_needed(1430, 1440) == 1


def test_training_past_its_deadline_continues_in_the_next_job(sample_shards, tmp_path):
    """A deadline already passed: each job trains one epoch, saves the state, exits 3
    ("continuing in the next job"); three jobs end the 3-epoch run, as one run would."""
    whole = train(sample_shards, tmp_path / "whole", "none")
    assert whole.returncode == 0, whole.stderr[-3000:]
    split = tmp_path / "split"
    for epochs in (1, 2):
        job = train(sample_shards, split, 0)
        assert job.returncode == 3, job.stderr[-3000:]
        assert f"stopped after epoch {epochs}" in job.stderr
        assert "continuing in the next job" in job.stderr
        assert not (split / "metrics.json").exists()
        assert len((split / "progress" / "log.csv").read_text().splitlines()) == 1 + epochs
    last = train(sample_shards, split, 0)  # the last epoch ends the run: no stop
    assert last.returncode == 0, last.stderr[-3000:]
    metrics = json.loads((split / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 3 and metrics["stopping"]["stopped_by"] == "authors"
    for a, b in zip(weights(split), weights(tmp_path / "whole"), strict=True):
        assert np.array_equal(a, b)


def test_stop_before_job_ends_waits_for_the_longest_epoch():
    """An epoch is assumed to take as long as the longest one so far."""
    import keras

    from reproduce.train.stop_before_job_ends import StopBeforeJobEnds

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    cb = StopBeforeJobEnds(deadline=time.monotonic() + 2.0)
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_begin(0)
    cb.on_epoch_end(0)  # a fast epoch: another fits
    assert cb.stopped_after is None and not getattr(cb.model, "stop_training", False)
    cb.on_epoch_begin(1)
    time.sleep(1.2)
    cb.on_epoch_end(1)  # 1.2 s taken, another 1.2 s would pass the deadline
    assert cb.stopped_after == 2 and cb.model.stop_training
    assert StopBeforeJobEnds(None).deadline is None


@pytest.mark.parametrize("minutes", [0, -1])
def test_schema_refuses_a_cap_of_no_time(minutes, tmp_path):
    import contextlib

    from conftest import REPO
    from reproduce.__main__ import active_config
    from reproduce.config import ConfigError

    path = tmp_path / "cap.yaml"
    path.write_text(f"compute: {{max_job_minutes: {minutes}}}\n")
    with contextlib.chdir(REPO), pytest.raises(ConfigError, match="compute.max_job_minutes"):
        active_config([str(path)], [])


def test_slurm_time_left_bounds_the_deadline():
    """In a SLURM job the deadline is no later than the job's own limit less the reserve
    (Snakemake's start-up in the job came before this process)."""
    from reproduce.train.job_budget import job_deadline, parse_slurm_time

    assert parse_slurm_time("2-00:00:00") == 172_800 and parse_slurm_time("10") == 600
    assert parse_slurm_time("INVALID") is None and parse_slurm_time("") is None
    now = time.monotonic()
    assert job_deadline(None, now, {}) is None
    # outside SLURM: the process's start plus 54 s of a 1-minute cap
    assert job_deadline(1, now, {}) == pytest.approx(now + 54.0)
