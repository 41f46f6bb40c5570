"""The per-batch learning rate in float32 without drift, for backends without float64.

``reproduce.train.step_decay.ExponentialStepDecay`` evaluates ``initial / factor**step`` in
float64. Keras's JAX backend runs with JAX's default 32-bit types, so its float64 becomes
float32 there, and ``float32(step) * float32(log(factor))`` then carries a relative error of
a few 1e-7 of an exponent that reaches 10.8 when the rate meets its floor: above 1e-6 of
the rate. ``SplitExponentialStepDecay`` keeps every rounding small in float32 alone:

* the step is split into ``high = step - step % 4096`` (at most 19 significant bits) and
  ``low = step % 4096``, both exact in float32;
* ``log(factor)``, computed in float64 on the host, is split into ``c_high`` (5 significant
  bits) and ``c_low = log(factor) - c_high``, so ``high * c_high`` is exact in float32;
* the rate is ``initial * exp(-high * c_high) * exp(-(high * c_low + low * log(factor)))``:
  the first exponential has an exact argument, the second a small one.

The result is within about 3e-7 (relative) of the float64 closed form at any step below
2**31 (``tests/test_backend_jax.py`` checks 1e-6 at steps 2M, 54M and 100M against numpy
float64). It works on either backend; on TensorFlow the float64 schedule stays the one used.
"""

from __future__ import annotations

import math

import keras

from reproduce.train.schedules import (INITIAL_LEARNING_RATE, LEARNING_RATE_DECAY_FACTOR,
                                       LEARNING_RATE_FLOOR)

_LOW_BITS = 12  # the step's low part: below 4096, exact in float32 as is the high part
_C_HIGH_BITS = 5  # significant bits of log(factor)'s high part: 19 + 5 <= 24


def split_constant(value: float, bits: int = _C_HIGH_BITS) -> tuple[float, float]:
    """``(high, low)`` with ``high`` rounded to ``bits`` significant bits, ``high + low ==
    value`` (in float64).

    >>> split_constant(0.75, 1)
    (1.0, -0.25)
    """
    if value == 0:
        return 0.0, 0.0
    exponent = math.floor(math.log2(abs(value)))
    quantum = 2.0 ** (exponent - bits + 1)
    high = round(value / quantum) * quantum
    return high, value - high


@keras.saving.register_keras_serializable(package="reproduce")
class SplitExponentialStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``max(initial / factor**step, floor)`` from the step counter, exact in float32.

    The same closed form as ``reproduce.train.step_decay.ExponentialStepDecay``, computed
    without float64 (module docstring), for Keras's JAX backend.

    Args:
        initial: learning rate at step 0. Default 0.05 (the paper).
        factor: divisor applied after every batch. Default 1.0000002 (the paper).
        floor: smallest learning rate. Default 1e-6 (the paper).

    Example:

    >>> schedule = SplitExponentialStepDecay()
    >>> round(float(schedule(1_000_000)), 6)
    0.040937
    """

    def __init__(self, initial=INITIAL_LEARNING_RATE, factor=LEARNING_RATE_DECAY_FACTOR,
                 floor=LEARNING_RATE_FLOOR):
        if factor < 1.0:
            raise ValueError(f"factor must be >= 1, got {factor}")
        self.initial, self.factor, self.floor = float(initial), float(factor), float(floor)
        self._log_factor = math.log(self.factor)  # float64, on the host
        self._c_high, self._c_low = split_constant(self._log_factor)

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "int32")
        low = ops.mod(step, 1 << _LOW_BITS)
        high = ops.cast(step - low, "float32")  # at most 19 significant bits: exact
        low = ops.cast(low, "float32")
        exact = high * self._c_high  # 19 + 5 significant bits: exact in float32
        rest = high * self._c_low + low * self._log_factor
        rate = self.initial * ops.exp(-exact) * ops.exp(-rest)
        return ops.maximum(rate, self.floor)

    def get_config(self):
        return {"initial": self.initial, "factor": self.factor, "floor": self.floor}
