"""The Keras callback that ends a fit before its job's deadline
(``reproduce.train.job_budget``: the deadline, and what the job does next)."""

from __future__ import annotations

import time

import keras


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
