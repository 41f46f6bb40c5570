"""Per-batch learning-rate decay: divide by ``factor`` after every batch, down to ``floor``."""

from __future__ import annotations

import keras

from reproduce.train.schedules import (INITIAL_LEARNING_RATE, LEARNING_RATE_DECAY_FACTOR,
                                       LEARNING_RATE_FLOOR)
from reproduce.train.schedules_jax import SplitExponentialStepDecay
from reproduce.train.step_decay import ExponentialStepDecay


class PerBatchLearningRateDecay(keras.callbacks.Callback):
    """Divide the learning rate by ``factor`` after every batch, never below ``floor``.

    The rate applied to batch ``t`` (the optimizer's step counter) is exactly
    ``max(initial / factor**t, floor)``. Instead of a Python hook per batch (slow, and with
    ``steps_per_execution=N`` batch hooks only run every N batches), the callback installs
    an ``ExponentialStepDecay`` schedule on the optimizer when training begins; the compiled
    train step evaluates it from the step counter at every batch. Because it depends only on
    the step counter, a resumed run continues the schedule exactly. The applied rate is
    added to the epoch logs as ``learning_rate`` (CSVLogger records it). On Keras's JAX
    backend, which has no float64 in compiled code, the schedule is a
    ``SplitExponentialStepDecay`` (the same rate, computed so that float32 does not drift);
    on TensorFlow an ``ExponentialStepDecay`` (float64).

    Args:
        initial: learning rate at step 0 (float, default 0.05, the paper's).
        factor: divisor per batch (float, default 1.0000002; the paper's dropout runs use
            1.0000003).
        floor: smallest learning rate (float, default 1e-6).

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.05), "mse")
    >>> x, y = np.zeros((10, 2)), np.zeros((10, 1))
    >>> _ = model.fit(x, y, batch_size=5, epochs=1, verbose=0,
    ...               callbacks=[PerBatchLearningRateDecay(factor=2.0)])
    >>> round(float(model.optimizer.learning_rate), 6)  # after 2 batches: 0.05 / 2**2
    0.0125
    """

    def __init__(self, initial: float = INITIAL_LEARNING_RATE,
                 factor: float = LEARNING_RATE_DECAY_FACTOR,
                 floor: float = LEARNING_RATE_FLOOR):
        super().__init__()
        if factor < 1.0:
            raise ValueError(f"factor must be >= 1, got {factor}")
        self.schedule = _schedule_class()(initial, factor, floor)

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        current = getattr(optimizer, "_learning_rate", None)
        if (isinstance(current, type(self.schedule))
                and current.get_config() == self.schedule.get_config()):
            self.schedule = current  # already installed (a resumed or repeated fit)
            return
        optimizer.learning_rate = self.schedule

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            # The rate the next batch will use (the one after the epoch's last batch).
            logs["learning_rate"] = float(self.schedule(self.model.optimizer.iterations))


def _schedule_class():
    """The exact per-batch schedule of Keras's backend: float64 on TensorFlow, split float32
    arithmetic on the others."""
    if keras.backend.backend() == "tensorflow":
        return ExponentialStepDecay
    return SplitExponentialStepDecay
