"""The authors' instruction for the paper's numbers (``training.stopping: authors``)."""

from __future__ import annotations

from reproduce.train.callbacks.stopping_rule import StoppingRule


class EpochBudget(StoppingRule):
    """Train a fixed number of epochs, whatever the validation loss does.

    The authors' README (uci-igb/higgs-susy): the deep models of the paper "were trained
    for ~1000 epochs" because of a bug in Pylearn2's termination criteria, and to get the
    paper's results one should "train for the full 1000 epochs". This rule stops after
    epoch ``epochs - 1`` (0-based). It watches no metric; it is a ``StoppingRule`` so that
    every rule reports and resumes the same way.

    Args:
        epochs: epochs to train (int, default 1000).
        observe_only: only record ``stopped_epoch`` (bool, default False).

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01), "mse")
    >>> x = np.ones((2, 1), np.float32)
    >>> budget = EpochBudget(3)
    >>> history = model.fit(x, x, epochs=100, verbose=0, callbacks=[budget])
    >>> len(history.epoch), budget.stopped_epoch  # stops after 3 epochs (0-based epoch 2)
    (3, 2)
    """

    rule_name = "authors"

    def __init__(self, epochs: int = 1000, observe_only: bool = False):
        self.epochs = int(epochs)
        super().__init__(monitor=None, observe_only=observe_only)

    def _reset(self):
        self.epochs_seen = 0

    def get_state(self) -> dict:
        return super().get_state() | {"epochs_seen": self.epochs_seen}

    def update(self, epoch, value):
        self.epochs_seen = epoch + 1
        return self.epochs_seen >= self.epochs

    def summary(self):
        return f"authors: fixed budget, epoch {self.epochs_seen} of {self.epochs}"
