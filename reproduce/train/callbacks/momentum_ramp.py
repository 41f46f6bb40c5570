"""Linear momentum ramp per epoch, applied to the compiled update."""

from __future__ import annotations

import keras

from reproduce.train.schedules import FINAL_MOMENTUM, INITIAL_MOMENTUM, MOMENTUM_SATURATION_EPOCHS, momentum_at


class MomentumRamp(keras.callbacks.Callback):
    """Raise momentum linearly from ``initial`` to ``final`` over ``saturation_epochs``.

    During epoch ``e`` (0-based) the momentum is
    ``initial + (final - initial) * min((e + offset) / saturation_epochs, 1)``.
    ``offset=0`` is the Methods text (``initial`` in the first epoch); ``offset=1`` is how
    the authors' Pylearn2 code applied it: ``MomentumAdjustor.on_monitor`` also runs once
    before the first epoch, so its count is already 1 when epoch 0 trains and the ramp
    saturates one epoch earlier.

    Keras 3's ``SGD`` bakes its momentum into the traced train step as a Python float, so
    assigning ``optimizer.momentum`` from a callback silently changes nothing. This callback
    therefore needs an optimizer whose momentum is a variable,
    ``reproduce.train.optimizers.ScheduledMomentumSGD``, and raises a TypeError for any other.
    The applied momentum is added to the epoch logs as ``momentum``.

    Args:
        initial: momentum of epoch 0 (float, default 0.9).
        final: momentum from epoch ``saturation_epochs`` on (float, default 0.99).
        saturation_epochs: epochs over which the ramp rises (int, default 200).
        offset: ramp steps already taken when epoch 0 trains (int, default 0; 1 as
            Pylearn2 ran it).

    Example:

    >>> import keras, numpy as np
    >>> from reproduce.train.optimizers import ScheduledMomentumSGD
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(ScheduledMomentumSGD(0.05), "mse")
    >>> x, y = np.zeros((10, 2)), np.zeros((10, 1))
    >>> _ = model.fit(x, y, epochs=3, verbose=0,
    ...               callbacks=[MomentumRamp(0.9, 0.99, saturation_epochs=2)])
    >>> round(model.optimizer.momentum, 4)  # epoch 2 used the final value
    0.99
    """

    def __init__(self, initial: float = INITIAL_MOMENTUM, final: float = FINAL_MOMENTUM,
                 saturation_epochs: int = MOMENTUM_SATURATION_EPOCHS, offset: int = 0):
        super().__init__()
        self.initial, self.final = float(initial), float(final)
        self.saturation_epochs = int(saturation_epochs)
        self.offset = int(offset)
        self._applied = None

    def on_train_begin(self, logs=None):
        self._applied = None
        if not getattr(self.model.optimizer, "momentum_is_variable", False):
            raise TypeError(
                f"MomentumRamp needs an optimizer whose momentum is a variable of the "
                f"compiled step (reproduce.train.optimizers.ScheduledMomentumSGD); "
                f"{type(self.model.optimizer).__name__} keeps momentum as a Python float "
                f"that Keras 3 freezes into the traced train step."
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._applied = momentum_at(epoch + self.offset, self.initial, self.final,
                                    self.saturation_epochs)
        self.model.optimizer.momentum = self._applied

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._applied is not None:
            logs["momentum"] = self._applied
