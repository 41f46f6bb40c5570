"""The paper's stopping rule (Pylearn2's MonitorBasedTermination after momentum saturates)."""

from __future__ import annotations

import math

import keras

from ..schedules import MIN_RELATIVE_IMPROVEMENT, MOMENTUM_SATURATION_EPOCHS, PATIENCE


class PaperEarlyStopping(keras.callbacks.Callback):
    """Stop once momentum has saturated and the validation loss has stopped improving.

    After each epoch: if the monitored value is below ``(1 - min_relative_improvement)``
    times the best value so far, the patience counter restarts; otherwise it counts one
    more epoch without improvement. Any lower value becomes the new best. Training stops
    after an epoch ``e >= start_epoch`` (0-based; the paper's momentum saturates at epoch
    200) once ``patience`` epochs in a row brought no such improvement.

    The state (``best``, ``wait``) is exposed by ``get_state``/``set_state`` so a resumed
    run continues the rule exactly.

    Args:
        monitor: metric to watch (str, default "val_loss"); lower is better.
        min_relative_improvement: relative decrease that counts (float, default 1e-5).
        patience: epochs without such a decrease before stopping (int, default 10; the
            paper's dropout runs use 40).
        start_epoch: first 0-based epoch at which stopping is allowed (int, default 200).

    Example:

    >>> stop = PaperEarlyStopping(patience=2, start_epoch=0)
    >>> model.fit(x, y, validation_data=(xv, yv), epochs=100, callbacks=[stop])
    >>> stop.stopped_epoch  # 0-based epoch after which training stopped, or None
    """

    def __init__(self, monitor: str = "val_loss",
                 min_relative_improvement: float = MIN_RELATIVE_IMPROVEMENT,
                 patience: int = PATIENCE, start_epoch: int = MOMENTUM_SATURATION_EPOCHS):
        super().__init__()
        self.monitor = monitor
        self.min_relative_improvement = float(min_relative_improvement)
        self.patience = int(patience)
        self.start_epoch = int(start_epoch)
        self.best, self.wait, self.stopped_epoch = math.inf, 0, None
        self._restored = False

    def get_state(self) -> dict:
        return {"best": self.best, "wait": self.wait}

    def set_state(self, state: dict) -> None:
        self.best, self.wait = float(state["best"]), int(state["wait"])
        self._restored = True

    def on_train_begin(self, logs=None):
        if not self._restored:
            self.best, self.wait = math.inf, 0
        self._restored = False
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            raise KeyError(f"PaperEarlyStopping: metric {self.monitor!r} not in the epoch "
                           f"logs (available: {', '.join(sorted(logs or {}))})")
        current = float(current)
        if current < (1.0 - self.min_relative_improvement) * self.best:
            self.wait = 0
        else:
            self.wait += 1
        self.best = min(self.best, current)
        if epoch >= self.start_epoch and self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
