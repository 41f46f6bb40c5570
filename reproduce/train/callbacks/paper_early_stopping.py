"""The Methods text's stopping rule (``training.stopping: paper_text``)."""

from __future__ import annotations

import math

from reproduce.train.schedules import MIN_RELATIVE_IMPROVEMENT, MOMENTUM_SATURATION_EPOCHS, PATIENCE
from reproduce.train.callbacks.stopping_rule import StoppingRule, _finite_or_none


class PaperEarlyStopping(StoppingRule):
    """Stop once momentum has saturated and the validation loss has stopped improving.

    The rule as the Methods text states it. After each epoch: if the monitored value is
    below ``(1 - min_relative_improvement)`` times the best value so far, the patience
    counter restarts; otherwise it counts one more epoch without improvement. Any lower
    value becomes the new best. Training stops after an epoch ``e >= start_epoch``
    (0-based; the paper's momentum saturates at epoch 200) once ``patience`` epochs in a
    row brought no such improvement. (The authors' released code ran a different rule:
    see ``Pylearn2Termination``.)

    Resumable: ``replay(values)`` restores the state from the monitored values of the
    epochs already trained; ``get_state``/``set_state`` expose it as a dict.

    Args:
        monitor: metric to watch (str, default "val_loss"); lower is better.
        min_relative_improvement: relative decrease that counts (float, default 1e-5).
        patience: epochs without such a decrease before stopping (int, default 10; the
            paper's dropout runs use 40).
        start_epoch: first 0-based epoch at which stopping is allowed (int, default 200).
        observe_only: only record ``stopped_epoch`` (bool, default False).

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.0), "mse")  # rate 0: the loss never improves
    >>> x = np.ones((2, 1), np.float32)
    >>> stop = PaperEarlyStopping(patience=2, start_epoch=0)
    >>> history = model.fit(x, x, validation_data=(x, x), epochs=100, verbose=0,
    ...                     callbacks=[stop])
    >>> stop.stopped_epoch  # 0-based epoch after which training stopped, or None
    2
    """

    rule_name = "paper_text"

    def __init__(self, monitor: str = "val_loss",
                 min_relative_improvement: float = MIN_RELATIVE_IMPROVEMENT,
                 patience: int = PATIENCE, start_epoch: int = MOMENTUM_SATURATION_EPOCHS,
                 observe_only: bool = False):
        self.min_relative_improvement = float(min_relative_improvement)
        self.patience = int(patience)
        self.start_epoch = int(start_epoch)
        super().__init__(monitor, observe_only)

    def _reset(self):
        self.best, self.wait = math.inf, 0

    def get_state(self) -> dict:
        return super().get_state() | {"best": _finite_or_none(self.best), "wait": self.wait}

    def set_state(self, state: dict) -> None:
        best = state.get("best")
        self.best = math.inf if best is None else float(best)
        self.wait = int(state["wait"])
        self._restored = True

    def update(self, epoch, value):
        if value < (1.0 - self.min_relative_improvement) * self.best:
            self.wait = 0
        else:
            self.wait += 1
        self.best = min(self.best, value)
        return epoch >= self.start_epoch and self.wait >= self.patience

    def summary(self):
        return (f"paper_text: {self.wait} of {self.patience} epochs without a "
                f"{self.min_relative_improvement:g} relative improvement "
                f"(stopping allowed from epoch {self.start_epoch + 1})")
