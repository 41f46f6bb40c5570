"""The optimizer of a pack: the package's momentum SGD with one 0/1 active flag per replica."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from reproduce.train.optimizers import ScheduledMomentumSGD
from reproduce.train.schedules import INITIAL_LEARNING_RATE, INITIAL_MOMENTUM

@keras.saving.register_keras_serializable(package="reproduce")
class PackedMomentumSGD(ScheduledMomentumSGD):
    """``ScheduledMomentumSGD`` for a pack, with a 0/1 ``active`` flag per replica.

    Every variable it updates has the replica as its first axis. An active replica gets
    exactly the update of ``ScheduledMomentumSGD``; a frozen one (``active[r] == 0``)
    keeps its weights and its velocities bit-unchanged (the update is masked, not only the
    gradient). The learning rate, its schedule, the step counter and the momentum are
    shared by all replicas.

    Args:
        replicas: R.
        learning_rate, momentum, name, **kwargs: as ``ScheduledMomentumSGD``.

    Example:

    >>> opt = PackedMomentumSGD(3, learning_rate=0.05, momentum=0.9)
    >>> opt.active = [1, 0, 1]   # freeze replica 1 from the next update on
    >>> opt.active.tolist()
    [1.0, 0.0, 1.0]
    """

    def __init__(self, replicas: int, learning_rate=INITIAL_LEARNING_RATE,
                 momentum=INITIAL_MOMENTUM, name="packed_momentum_sgd", **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, name=name, **kwargs)
        self.replicas = int(replicas)
        self._initial_active = np.ones(self.replicas, "float32")
        self._active = None

    def build(self, variables):
        if self.built:
            return
        for v in variables:
            if not v.shape or v.shape[0] != self.replicas:
                raise ValueError(f"PackedMomentumSGD({self.replicas}): variable {v.path} of "
                                 f"shape {tuple(v.shape)} has no replica axis first")
        super().build(variables)
        self._active = self.add_variable((self.replicas,), initializer=keras.initializers.Constant(
            self._initial_active), dtype="float32", name="active")

    @property
    def active(self) -> np.ndarray:
        """The 0/1 flags of the replicas the next update moves."""
        if self._active is None:
            return self._initial_active.copy()
        return ops.convert_to_numpy(self._active)

    @active.setter
    def active(self, flags):
        flags = np.asarray(flags, "float32").reshape(-1)
        if flags.shape != (self.replicas,) or not np.isin(flags, (0.0, 1.0)).all():
            raise ValueError(f"active: expected {self.replicas} flags of 0 or 1, got {flags}")
        if self._active is None:
            self._initial_active = flags
        else:
            self._active.assign(flags)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        momentum = ops.cast(self._momentum, variable.dtype)
        velocity = self.velocities[self._get_variable_index(variable)]
        moving = ops.reshape(ops.greater(self._active, 0.5),
                             (self.replicas,) + (1,) * (len(variable.shape) - 1))
        new_velocity = ops.subtract(ops.multiply(velocity, momentum),
                                    ops.multiply(gradient, learning_rate))
        # the variables' values as tensors: jax.numpy.where takes no Keras variable
        old_velocity = ops.convert_to_tensor(velocity)
        self.assign(velocity, ops.where(moving, new_velocity, old_velocity))
        value, step = ops.convert_to_tensor(variable), ops.convert_to_tensor(velocity)
        self.assign(variable, ops.where(moving, ops.add(value, step), value))

    def get_config(self):
        return super().get_config() | {"replicas": self.replicas}
