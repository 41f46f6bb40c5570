"""A training longer than one job's time limit: stop after the last epoch that fits.

A cluster caps each job's runtime (``compute.max_job_minutes``). A training that needs
longer stops cleanly after the last epoch that fits in its job (the training state is saved
after every epoch), and its job exits non-zero with "continuing in the next job", so that
its outputs are not marked complete and Snakemake resubmits it (the rule's ``retries``);
the next job resumes from that epoch, with the weights an uninterrupted run would have.
"""

from __future__ import annotations

import math
import time

import keras

RESERVE_FRACTION = 0.1  # of the job's time, kept for start-up, evaluation and saving
RESERVE_MAX_S = 600.0  # at most 10 minutes of it


class JobTimeLimitReached(Exception):
    """The training stopped before its end because the next epoch would not fit in the
    job's time; it continues in the next job."""

    def __init__(self, epochs: int):
        self.epochs = epochs
        super().__init__(f"stopped after epoch {epochs}: the next epoch would not fit in "
                         f"this job's time (compute.max_job_minutes); the state is saved, "
                         f"continuing in the next job")


def training_budget_s(max_job_minutes: float | None) -> float | None:
    """Seconds a job's training may run: the job's minutes less a reserve (10%, at most 10
    minutes) for start-up and the evaluation; None: no limit.

    Example:

    >>> training_budget_s(None), training_budget_s(1440), training_budget_s(1)
    (None, 85800.0, 54.0)
    """
    if max_job_minutes is None:
        return None
    total = float(max_job_minutes) * 60.0
    return total - min(RESERVE_FRACTION * total, RESERVE_MAX_S)


def jobs_needed(training_minutes: float, max_job_minutes: float | None) -> int:
    """Jobs a training of ``training_minutes`` spans under the cap (1 without one).

    Example:

    >>> jobs_needed(3000, 1440), jobs_needed(60, 1440), jobs_needed(3000, None)
    (3, 1, 1)
    """
    if max_job_minutes is None:
        return 1
    return max(1, math.ceil(training_minutes / training_budget_s(max_job_minutes) * 60))


class StopBeforeJobEnds(keras.callbacks.Callback):
    """Stops ``fit`` after an epoch when another one would end past the job's deadline.

    An epoch is assumed to take as long as the longest one of this fit.

    Args:
        deadline: the ``time.monotonic()`` by which training must end in this job (None:
            never stops).

    Example:

    >>> import time
    >>> cb = StopBeforeJobEnds(deadline=time.monotonic())
    >>> cb.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    >>> cb.on_train_begin(); cb.on_epoch_begin(0); cb.on_epoch_end(0)
    >>> cb.stopped_after, cb.model.stop_training
    (1, True)
    """

    def __init__(self, deadline: float | None):
        super().__init__()
        self.deadline = deadline

    def on_train_begin(self, logs=None):
        self.stopped_after = None
        self.longest_epoch = 0.0
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        if self._epoch_start is not None:
            self.longest_epoch = max(self.longest_epoch, now - self._epoch_start)
        if self.deadline is not None and now + self.longest_epoch > self.deadline:
            self.stopped_after = epoch + 1
            self.model.stop_training = True
