"""Per-replica metrics of a pack: the running mean of each replica's loss, and its AUC.

A ``PackedNetwork`` (``reproduce.train.packed.network``) logs ``replica_loss`` and
``replica_auc``: vectors of one value per replica, the same running mean and the same
200-threshold AUC as an unpacked run's ``loss`` and ``auc``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from reproduce.train.auc import bucket_counts, roc_auc

# The metric names a pack adds to the logs (vectors of one value per replica).
REPLICA_LOSS = "replica_loss"
REPLICA_AUC = "replica_auc"

@keras.saving.register_keras_serializable(package="reproduce")
class ReplicaMean(keras.metrics.Metric):
    """Running weighted mean of one value per replica, as Keras's ``Mean`` is of one.

    Args:
        replicas: R.
        name: metric name.

    Example:

    >>> m = ReplicaMean(2)
    >>> m.update_state(np.array([1.0, 4.0]), sample_weight=3)
    >>> m.update_state(np.array([3.0, 0.0]), sample_weight=1)
    >>> ops.convert_to_numpy(m.result()).tolist()
    [1.5, 3.0]
    """

    def __init__(self, replicas: int, name: str = REPLICA_LOSS, **kwargs):
        super().__init__(name=name, **kwargs)
        self.replicas = int(replicas)
        self.total = self.add_variable((self.replicas,), "zeros", name="total")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, values, sample_weight=1.0):
        weight = ops.cast(sample_weight, self.dtype)
        self.total.assign_add(ops.cast(values, self.dtype) * weight)
        self.count.assign_add(weight)

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def get_config(self):
        return super().get_config() | {"replicas": self.replicas}


@keras.saving.register_keras_serializable(package="reproduce")
class ReplicaAUC(keras.metrics.Metric):
    """ROC AUC of each column of a (B, R) prediction, as ``keras.metrics.AUC`` is of one.

    The same thresholds and the same sums as ``keras.metrics.AUC(num_thresholds)`` (the
    package's training metric, ``reproduce.train.auc``): a prediction p counted in bucket
    ``max(ceil(p * (T - 1)) - 1, 0)``, the counts of every replica gathered by one segment
    sum (Keras's ``multi_label=True`` maps one per label, far slower), summed into counts
    above each threshold only when the result is read, and the interpolated Riemann sum of
    the ROC curve. The counts are whole numbers, so for the same predictions each
    replica's value is bit-identical to ``keras.metrics.AUC``'s.

    Args:
        replicas: R.
        num_thresholds: thresholds of the ROC curve (default 200, Keras's).
        name: metric name.

    Example:

    >>> m = ReplicaAUC(2)
    >>> m.update_state(np.array([[0.], [1.], [1.]]),
    ...                np.array([[0.1, 0.9], [0.8, 0.2], [0.7, 0.3]]))
    >>> ops.convert_to_numpy(m.result()).round(3).tolist()
    [1.0, 0.0]
    """

    def __init__(self, replicas: int, num_thresholds: int = 200, name: str = REPLICA_AUC,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if num_thresholds < 2:
            raise ValueError(f"ReplicaAUC: num_thresholds must be > 1, got {num_thresholds}")
        self.replicas, self.num_thresholds = int(replicas), int(num_thresholds)
        shape = (self.replicas, self.num_thresholds)
        self.signal = self.add_variable(shape, "zeros", name="signal")
        self.background = self.add_variable(shape, "zeros", name="background")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("ReplicaAUC: sample weights are not supported")
        signal, background = bucket_counts(y_true, y_pred, self.num_thresholds)
        self.signal.assign_add(signal)
        self.background.assign_add(background)

    def result(self):
        return roc_auc(self.signal, self.background)

    def get_config(self):
        return super().get_config() | {"replicas": self.replicas,
                                       "num_thresholds": self.num_thresholds}
