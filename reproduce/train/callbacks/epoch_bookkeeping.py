"""Small per-epoch callbacks: cumulative wall time, and a hard error on a non-finite loss."""

from __future__ import annotations

import math
import time

import keras


class EpochWallTime(keras.callbacks.Callback):
    """Add ``wall_time`` (seconds since training first began, across resumes) to the logs.

    Args:
        offset: seconds already spent before this fit (a resumed run passes its total).
    """

    def __init__(self, offset: float = 0.0):
        super().__init__()
        self.offset = float(offset)
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def elapsed(self) -> float:
        return self.offset + (time.monotonic() - self._start if self._start else 0.0)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["wall_time"] = self.elapsed()


class RaiseOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise FloatingPointError at the end of an epoch whose loss is NaN or infinite.

    Unlike ``keras.callbacks.TerminateOnNaN``, which ends training quietly (and lets the
    caller save a broken model), this stops the run with an error naming the epoch, before
    later callbacks in the list (checkpoints) see the epoch.
    """

    def on_epoch_end(self, epoch, logs=None):
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(float(value)):
                raise FloatingPointError(
                    f"{key} is {value} at epoch {epoch + 1}: training diverged; "
                    f"no model was written for this epoch")
