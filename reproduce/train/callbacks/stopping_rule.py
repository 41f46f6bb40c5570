"""What the three stopping rules share: one decision per epoch from the monitored value."""

from __future__ import annotations

import math

import keras


class StoppingRule(keras.callbacks.Callback):
    """Base of the stopping rules: after each epoch, feed the monitored value to ``update``.

    A subclass implements ``update(epoch, value) -> bool`` (True: stop after this epoch),
    ``_reset()`` (its state before the first epoch), ``get_state()`` and ``summary()``.
    Every rule here is a pure function of the sequence of monitored values, so a resumed
    run restores one exactly with ``replay(values)``: the values of the epochs already
    trained, in order (for instance the ``val_loss`` column of the CSV log). The same
    replay tells whether a rule changed between two runs would already have stopped.

    Args:
        monitor: the epoch-log metric to watch (str, default "val_loss"; None for a rule
            that watches none); lower is better.
        observe_only: record when the rule would stop (``stopped_epoch``) without stopping
            training (bool, default False): how a run trained by one rule reports when the
            others would have ended it.
    """

    rule_name = ""

    def __init__(self, monitor: str = "val_loss", observe_only: bool = False):
        super().__init__()
        self.monitor = monitor
        self.observe_only = bool(observe_only)
        self.stopped_epoch = None
        self._restored = False
        self._reset()

    def _reset(self) -> None:
        raise NotImplementedError

    def update(self, epoch: int, value: float) -> bool:
        """Take the monitored value of 0-based ``epoch``; True if training stops after it."""
        raise NotImplementedError

    def get_state(self) -> dict:
        """The rule's state as a JSON-able dict, with ``rule`` and a readable ``summary``."""
        return {"rule": self.rule_name, "summary": self.summary(),
                "stopped_epoch": self.stopped_epoch}

    def summary(self) -> str:
        """One line: what will stop the run, and how far it is from stopping."""
        raise NotImplementedError

    def replay(self, values) -> int | None:
        """Restore the state after the epochs whose monitored ``values`` are given.

        Returns the 0-based epoch after which the rule stops (or would have stopped),
        or None. The next ``fit`` continues from this state instead of starting afresh.
        """
        self._reset()
        self.stopped_epoch = None
        for epoch, value in enumerate(values):
            if self.update(epoch, float(value)) and self.stopped_epoch is None:
                self.stopped_epoch = epoch
        self._restored = True
        return self.stopped_epoch

    def on_train_begin(self, logs=None):
        if not self._restored:
            self._reset()
            self.stopped_epoch = None
        self._restored = False

    def on_epoch_end(self, epoch, logs=None):
        current = math.nan if self.monitor is None else (logs or {}).get(self.monitor)
        if current is None:
            raise KeyError(f"{type(self).__name__}: metric {self.monitor!r} not in the epoch "
                           f"logs (available: {', '.join(sorted(logs or {}))})")
        if self.update(epoch, float(current)) and self.stopped_epoch is None:
            self.stopped_epoch = epoch
            if not self.observe_only:
                self.model.stop_training = True


def _finite_or_none(value: float):
    return None if math.isinf(value) else value
