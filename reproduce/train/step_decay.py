"""The paper's per-batch learning-rate decay as a Keras schedule, exact at every batch.

The constants and the closed form ``learning_rate_at`` live in ``reproduce.train.schedules``
(no Keras); this module holds the schedule the optimizer evaluates inside the compiled
train step.
"""

from __future__ import annotations

import math

import keras

from reproduce.train.schedules import (INITIAL_LEARNING_RATE, LEARNING_RATE_DECAY_FACTOR,
                                       LEARNING_RATE_FLOOR)


@keras.saving.register_keras_serializable(package="reproduce")
class ExponentialStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``max(initial / factor**step, floor)`` evaluated from the optimizer's step counter.

    Computed in float64 from the integer step inside the compiled train step, so it is exact
    at every batch, whatever ``steps_per_execution`` is, and never drifts the way repeated
    float32 division does (1.3% after 2M steps).

    Args:
        initial: learning rate at step 0. Default 0.05 (the paper).
        factor: divisor applied after every batch. Default 1.0000002 (the paper).
        floor: smallest learning rate. Default 1e-6 (the paper).

    Example:

    >>> schedule = ExponentialStepDecay()
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)
    >>> round(float(schedule(1_000_000)), 6)
    0.040937
    """

    def __init__(self, initial=INITIAL_LEARNING_RATE, factor=LEARNING_RATE_DECAY_FACTOR,
                 floor=LEARNING_RATE_FLOOR):
        self.initial, self.factor, self.floor = float(initial), float(factor), float(floor)

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float64")
        lr = self.initial * ops.exp(-step * math.log(self.factor))
        return ops.cast(ops.maximum(lr, self.floor), "float32")

    def get_config(self):
        return {"initial": self.initial, "factor": self.factor, "floor": self.floor}
