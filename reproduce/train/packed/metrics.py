"""Per-replica metrics of a pack: the running mean of each replica's loss, and its AUC.

A ``PackedNetwork`` (``reproduce.train.packed.network``) logs ``replica_loss`` and
``replica_auc``: vectors of one value per replica, the same running mean and the same
200-threshold AUC as an unpacked run's ``loss`` and ``auc``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

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
    package's training metric): evenly spaced thresholds with the ends at -eps and 1+eps,
    a prediction p counted in bucket ``max(ceil(p * (T - 1)) - 1, 0)``, the counts of
    every replica gathered by one segment sum (Keras's ``multi_label=True`` maps one per
    label, far slower), and the interpolated Riemann sum of the ROC curve. The counts are
    whole numbers, so for the same predictions each replica's value is bit-identical to
    ``keras.metrics.AUC``'s.

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
        self.true_positives = self.add_variable(shape, "zeros", name="true_positives")
        self.false_positives = self.add_variable(shape, "zeros", name="false_positives")
        self.positives = self.add_variable((self.replicas,), "zeros", name="positives")
        self.negatives = self.add_variable((self.replicas,), "zeros", name="negatives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("ReplicaAUC: sample weights are not supported")
        t, r = self.num_thresholds, self.replicas
        y_pred = ops.clip(ops.cast(y_pred, self.dtype), 0.0, 1.0)
        positive = ops.cast(ops.cast(y_true, "bool"), self.dtype)
        positive = ops.broadcast_to(ops.reshape(positive, (-1, 1)), ops.shape(y_pred))
        bucket = ops.relu(ops.ceil(y_pred * (t - 1.0)) - 1.0)
        ids = ops.reshape(ops.cast(bucket, "int32") + ops.arange(r, dtype="int32") * t, (-1,))

        def above(weights):  # per replica and threshold: weight of predictions above it
            counts = ops.segment_sum(ops.reshape(weights, (-1,)), ids, num_segments=r * t)
            return ops.flip(ops.cumsum(ops.flip(ops.reshape(counts, (r, t)), 1), axis=1), 1)

        self.true_positives.assign_add(above(positive))
        self.false_positives.assign_add(above(1.0 - positive))
        self.positives.assign_add(ops.sum(positive, axis=0))
        self.negatives.assign_add(ops.sum(1.0 - positive, axis=0))

    def result(self):
        tp, fp = self.true_positives, self.false_positives
        p, n = ops.expand_dims(self.positives, 1), ops.expand_dims(self.negatives, 1)
        recall = ops.divide_no_nan(tp, ops.add(tp, p - tp))
        fp_rate = ops.divide_no_nan(fp, ops.add(fp, n - fp))
        heights = ops.divide(ops.add(recall[:, :-1], recall[:, 1:]), 2.0)
        return ops.sum(ops.multiply(ops.subtract(fp_rate[:, :-1], fp_rate[:, 1:]), heights),
                       axis=1)

    def get_config(self):
        return super().get_config() | {"replicas": self.replicas,
                                       "num_thresholds": self.num_thresholds}
