"""The stopping rule of the authors' released code, as Pylearn2 ran it
(``training.stopping: pylearn2``)."""

from __future__ import annotations

import math

from reproduce.train.schedules import MIN_RELATIVE_IMPROVEMENT, MOMENTUM_SATURATION_EPOCHS, PATIENCE
from reproduce.train.callbacks.stopping_rule import StoppingRule, _finite_or_none


class Pylearn2Termination(StoppingRule):
    """``Or([MonitorBased(prop_decrease, N), EpochCounter(max_epochs)])`` of 2014 Pylearn2.

    The authors' scripts (uci-igb/higgs-susy, e.g. ``higgs/layers4_width300_lr005_m200_
    wd000001_all.py`` lines 67-74) end training with this criterion, checked after every
    epoch. Pylearn2's ``Or.continue_learning`` is ``any(c.continue_learning(model) for c in
    criteria)``: it short-circuits, so the ``EpochCounter`` (which in 2014 counted the calls
    it received) is only called on epochs where ``MonitorBased`` already wants to stop.

    - ``MonitorBased``: a countdown, reset to ``N`` when the monitored value is below
      ``(1 - prop_decrease)`` times the best value so far, otherwise decreased by one (a
      mere new best does not reset it); the best value is the minimum seen. It wants to
      stop when the countdown is at or below 0.
    - ``EpochCounter``: called only then; its count rises by one per call, and it wants to
      stop once the count reaches ``max_epochs``.

    Training ends after the first epoch on which both want to stop: about ``max_epochs``
    epochs after the monitored value stagnates, not at epoch ``max_epochs``. (Pylearn2
    issue #720 shows the same with N=10, max_epochs=2: 12 epochs. The authors' README
    calls it "an old bug" and says the deep models ran ~1000 epochs.)

    Resumable: ``replay(values)`` restores the state from the monitored values of the
    epochs already trained; ``get_state`` exposes it.

    Args:
        monitor: metric to watch (str, default "val_loss": Keras's validation loss is the
            whole cost, cross-entropy plus weight decay, like Pylearn2's
            ``valid_objective``).
        prop_decrease: ``MonitorBased.prop_decrease`` (float, default 1e-5).
        patience: ``MonitorBased.N`` (int, default 10; the dropout scripts use 40).
        max_epochs: ``EpochCounter.max_epochs`` (int, default 200, the scripts'
            ``momentum_saturate``).
        observe_only: only record ``stopped_epoch`` (bool, default False).

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.0), "mse")  # rate 0: the loss never improves
    >>> x = np.ones((2, 1), np.float32)
    >>> stop = Pylearn2Termination(patience=10, max_epochs=2)
    >>> history = model.fit(x, x, validation_data=(x, x), epochs=1000, verbose=0,
    ...                     callbacks=[stop])
    >>> len(history.epoch)  # the validation loss never improves after epoch 1 (#720)
    12
    """

    rule_name = "pylearn2"

    def __init__(self, monitor: str = "val_loss",
                 prop_decrease: float = MIN_RELATIVE_IMPROVEMENT, patience: int = PATIENCE,
                 max_epochs: int = MOMENTUM_SATURATION_EPOCHS, observe_only: bool = False):
        self.prop_decrease = float(prop_decrease)
        self.patience = int(patience)
        self.max_epochs = int(max_epochs)
        super().__init__(monitor, observe_only)

    def _reset(self):
        self.best, self.countdown, self.counter = math.inf, self.patience, 0

    def get_state(self) -> dict:
        return super().get_state() | {"best": _finite_or_none(self.best),
                                      "countdown": self.countdown, "counter": self.counter}

    def update(self, epoch, value):
        # MonitorBased.continue_learning
        if value < (1.0 - self.prop_decrease) * self.best:
            self.countdown = self.patience
        else:
            self.countdown -= 1
        self.best = min(self.best, value)
        if self.countdown > 0:
            return False  # Or short-circuits: the EpochCounter is not called
        # EpochCounter.continue_learning (2014): count the call, continue while below max
        self.counter += 1
        return self.counter >= self.max_epochs

    def summary(self):
        return (f"pylearn2: monitor countdown {max(self.countdown, 0)} of {self.patience}, "
                f"epoch counter {self.counter} of {self.max_epochs} (counts only epochs "
                f"with the countdown at 0)")
