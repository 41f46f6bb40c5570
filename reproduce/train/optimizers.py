"""SGD whose momentum can be changed during training (Keras 3's cannot)."""

from __future__ import annotations

import keras
from keras import ops

from reproduce.train.step_decay import ExponentialStepDecay  # noqa: F401  (registers it for load_model)


@keras.saving.register_keras_serializable(package="reproduce")
class ScheduledMomentumSGD(keras.optimizers.Optimizer):
    """Momentum SGD whose momentum is a variable read by the compiled update.

    Keras 3's ``SGD`` keeps ``momentum`` as a Python float that is baked into the traced
    train step, so assigning it from a callback changes nothing. Here ``momentum`` lives in
    an optimizer variable: assigning ``optimizer.momentum = 0.95`` at any time changes the
    next update, and the value is saved and restored with the optimizer's state.

    The update is the classical one (as in Pylearn2 and Keras)::

        velocity = momentum * velocity - learning_rate * gradient
        weight = weight + velocity

    Args:
        learning_rate: float or ``LearningRateSchedule``. Default 0.05.
        momentum: initial momentum in [0, 1]. Default 0.9.
        name: optimizer name.
        **kwargs: the other ``keras.optimizers.Optimizer`` arguments.

    Example:

    >>> opt = ScheduledMomentumSGD(learning_rate=0.05, momentum=0.9)
    >>> opt.momentum = 0.95   # reaches the next compiled update
    """

    momentum_is_variable = True

    def __init__(self, learning_rate=0.05, momentum=0.9, name="scheduled_momentum_sgd",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self._check_momentum(momentum)
        self._initial_momentum = float(momentum)
        self._momentum = None

    @staticmethod
    def _check_momentum(value):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {value}")

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentum = self.add_variable((), initializer=keras.initializers.Constant(
            self._initial_momentum), dtype="float32", name="momentum")
        self.velocities = self.add_optimizer_variables(variables, "velocity")

    @property
    def momentum(self) -> float:
        """The momentum the next update uses."""
        if self._momentum is None:
            return self._initial_momentum
        return float(ops.convert_to_numpy(self._momentum))

    @momentum.setter
    def momentum(self, value):
        self._check_momentum(value)
        if self._momentum is None:
            self._initial_momentum = float(value)
        else:
            self._momentum.assign(float(value))

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        momentum = ops.cast(self._momentum, variable.dtype)
        velocity = self.velocities[self._get_variable_index(variable)]
        self.assign(velocity, ops.subtract(ops.multiply(velocity, momentum),
                                           ops.multiply(gradient, learning_rate)))
        self.assign_add(variable, velocity)

    def get_config(self):
        config = super().get_config()
        config["momentum"] = self.momentum
        return config
