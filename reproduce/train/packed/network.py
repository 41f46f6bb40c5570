"""The layers and the model of a pack: R replicas of one paper network as batched products.

See ``reproduce.train.packed`` for what a pack is and why each replica stays its own fit.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from reproduce.train.packed.metrics import REPLICA_AUC, REPLICA_LOSS, ReplicaAUC, ReplicaMean
from reproduce.train.packed.optimizer import PackedMomentumSGD
from reproduce.train.schedules import INITIAL_LEARNING_RATE, INITIAL_MOMENTUM, WEIGHT_DECAY

@keras.saving.register_keras_serializable(package="reproduce")
class PackedDense(keras.layers.Layer):
    """R Dense layers of one shape side by side: kernel (R, in, out), bias (R, out).

    Args:
        units: outputs per replica.
        replicas: R.
        activation: Keras activation name (default none).
        shared_input: True for the first layer: the input is one batch (B, in) that every
            replica reads; False: the input is (R, B, in), replica r reading its own slice.
        input_mask: for a shared input, an optional 0/1 array (R, in): kernel row i of
            replica r is used only where ``input_mask[r, i]`` is 1 (the others get no
            gradient, so zero rows stay zero).

    The output is (R, B, units).

    Example:

    >>> layer = PackedDense(4, replicas=3, shared_input=True,
    ...                     input_mask=np.array([[1, 1], [1, 0], [0, 1]]))
    >>> tuple(layer(np.ones((5, 2), "float32")).shape)
    (3, 5, 4)
    """

    def __init__(self, units: int, replicas: int, activation=None, shared_input: bool = False,
                 input_mask=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.replicas, self.shared_input = int(units), int(replicas), shared_input
        self.activation = keras.activations.get(activation)
        self.input_mask = None if input_mask is None else np.asarray(input_mask, "float32")
        if self.input_mask is not None and not shared_input:
            raise ValueError("PackedDense: input_mask needs shared_input=True")

    def build(self, input_shape):
        n_in = input_shape[-1]
        self.kernel = self.add_weight((self.replicas, n_in, self.units), "zeros", name="kernel")
        self.bias = self.add_weight((self.replicas, self.units), "zeros", name="bias")
        if self.input_mask is not None and self.input_mask.shape != (self.replicas, n_in):
            raise ValueError(f"PackedDense {self.name}: input_mask has shape "
                             f"{self.input_mask.shape}, expected {(self.replicas, n_in)}")

    def call(self, x):
        kernel = self.kernel
        if self.input_mask is not None:
            kernel = kernel * ops.expand_dims(ops.convert_to_tensor(self.input_mask), -1)
        if self.shared_input:
            z = ops.matmul(ops.expand_dims(x, 0), kernel)  # (1, B, in) @ (R, in, out)
        else:
            z = ops.matmul(x, kernel)
        return self.activation(z + ops.expand_dims(self.bias, 1))

    def compute_output_shape(self, input_shape):
        return (self.replicas, input_shape[-2], self.units)

    def get_config(self):
        mask = None if self.input_mask is None else self.input_mask.tolist()
        return super().get_config() | {
            "units": self.units, "replicas": self.replicas, "shared_input": self.shared_input,
            "activation": keras.activations.serialize(self.activation), "input_mask": mask}


def _fold_replicas(v, square: bool):
    """``v[:, :h] + v[:, h:2h]`` (of squares if ``square``), an odd last column kept."""
    half = v.shape[1] // 2
    a, b = v[:, :half], v[:, half:2 * half]
    folded = a * a + b * b if square else a + b
    if v.shape[1] % 2 == 0:
        return folded
    rest = v[:, 2 * half:]
    return ops.concatenate([folded, ops.square(rest) if square else rest], axis=1)


def replica_sum_of_squares(w):
    """(R,): ``sum(w[r]**2)`` of each replica, folded as ``models.sum_of_squares`` folds.

    The pairwise elementwise folds of ``reproduce.train.models.sum_of_squares`` (fast under
    XLA on the CPU), applied to every replica's row of ``w`` (R, ...) at once: one fold
    chain for the whole pack instead of one per replica. The same value as each replica's
    ``sum_of_squares`` up to the order of float32 additions (zero rows of unused columns
    included); its gradient, ``2 w``, is the same.

    Example:

    >>> w = np.arange(2 * 700, dtype="float32").reshape(2, 700) / 700
    >>> np.allclose(ops.convert_to_numpy(replica_sum_of_squares(w)), (w ** 2).sum(axis=1))
    True
    """
    v = ops.reshape(w, (w.shape[0], -1))
    if v.shape[1] <= 512:
        return ops.sum(ops.square(v), axis=1)
    v = _fold_replicas(v, square=True)
    while v.shape[1] > 512:
        v = _fold_replicas(v, square=False)
    return ops.sum(v, axis=1)


def feature_mask(replica_columns, n_features: int) -> np.ndarray:
    """The 0/1 (R, n_features) mask of the shared input columns each replica reads.

    Example:

    >>> feature_mask([[0, 2], [1]], 3).tolist()
    [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    mask = np.zeros((len(replica_columns), n_features), "float32")
    for r, columns in enumerate(replica_columns):
        columns = np.asarray(columns, int)
        if (columns.size == 0 or columns.min() < 0 or columns.max() >= n_features
                or len(set(columns.tolist())) != columns.size):
            raise ValueError(f"replica {r}: columns {columns.tolist()} must be distinct "
                             f"indices in 0..{n_features - 1}")
        if not np.all(np.diff(columns) > 0):
            raise ValueError(f"replica {r}: columns {columns.tolist()} must be increasing "
                             f"(the order of the unpacked run's inputs)")
        mask[r, columns] = 1.0
    return mask


@keras.saving.register_keras_serializable(package="reproduce")
class PackedNetwork(keras.Model):
    """R replicas of ``reproduce.train.models.build_model`` on one shared input batch.

    Args:
        n_features: columns of the shared input (HIGGS: 28).
        hidden: hidden layer widths, as ``build_model``'s.
        replica_columns: for each replica, the increasing input columns it reads (its
            unpacked run's ``x[:, columns]``); R is its length.
        weight_decay: the paper's ``weight_decay * sum(W**2)`` on each replica's weight
            matrices (0: none), computed per replica by ``replica_sum_of_squares``.
        offset, scale: optional standardization ``(x - offset) / scale`` of all
            ``n_features`` columns (a column has the same constants in every replica).
        auc_thresholds: thresholds of the per-replica AUC (the package's 200).
        names: optional name of each replica (its unpacked model's name).

    ``call`` returns (B, R) probabilities. Compile with ``compile_packed``.

    Example:

    >>> net = PackedNetwork(3, [4], replica_columns=[[0, 1, 2], [0, 2]])
    >>> tuple(net(np.ones((5, 3), "float32")).shape)
    (5, 2)
    """

    def __init__(self, n_features: int, hidden, replica_columns, *,
                 weight_decay: float = WEIGHT_DECAY, offset=None, scale=None,
                 auc_thresholds: int = 200, names=None, **kwargs):
        super().__init__(**kwargs)
        self.n_features, self.hidden = int(n_features), [int(h) for h in hidden]
        self.replica_columns = [[int(c) for c in cols] for cols in replica_columns]
        self.replicas = len(self.replica_columns)
        self.weight_decay = float(weight_decay)
        self.offset = None if offset is None else np.asarray(offset, "float32")
        self.scale = None if scale is None else np.asarray(scale, "float32")
        self.auc_thresholds = int(auc_thresholds)
        self.names = list(names) if names is not None else ["net"] * self.replicas
        self.standardize = None if offset is None else keras.layers.Normalization(
            mean=self.offset, variance=np.square(self.scale), name="standardize")
        if self.standardize is not None:
            # built now, outside any graph: built on the first call, inside the scratch
            # graph of Keras's symbolic build (TensorFlow), its constants would be that
            # graph's and unusable afterwards
            self.standardize.build((None, self.n_features))
        mask = feature_mask(self.replica_columns, self.n_features)
        self.dense_layers = [
            PackedDense(width, self.replicas, "tanh", shared_input=i == 0,
                        input_mask=mask if i == 0 else None, name=f"hidden_{i + 1}")
            for i, width in enumerate(self.hidden)]
        self.dense_layers.append(PackedDense(1, self.replicas, name="output"))
        self.replica_loss = ReplicaMean(self.replicas, name=REPLICA_LOSS)
        self.replica_auc = ReplicaAUC(self.replicas, self.auc_thresholds, name=REPLICA_AUC)

    def call(self, x):
        if self.standardize is not None:
            x = self.standardize(x)
        for layer in self.dense_layers:
            x = layer(x)
        # (R, B, 1) -> (B, R); the sigmoid last, so that the cross-entropy reads its logits
        # as Keras does for an unpacked net's sigmoid output.
        return keras.activations.sigmoid(ops.transpose(ops.squeeze(x, -1)))

    def replica_penalties(self):
        """(R,): each replica's ``weight_decay * sum(W**2)`` summed over its layers."""
        if not self.weight_decay:
            return ops.zeros((self.replicas,))
        per_layer = [replica_sum_of_squares(layer.kernel) for layer in self.dense_layers]
        return ops.sum(ops.stack([self.weight_decay * p for p in per_layer]), axis=0)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The sum over replicas of each replica's cost; records the costs per replica."""
        if sample_weight is not None:
            raise ValueError("PackedNetwork: sample weights are not supported")
        y = ops.cast(ops.reshape(y, (-1, 1)), y_pred.dtype)
        cross_entropy = ops.binary_crossentropy(ops.broadcast_to(y, ops.shape(y_pred)), y_pred)
        costs = ops.mean(cross_entropy, axis=0) + self.replica_penalties()
        self.replica_loss.update_state(costs, sample_weight=ops.shape(y_pred)[0])
        return ops.sum(costs)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.replica_auc.update_state(y, y_pred)
        return self.get_metrics_result()

    def get_config(self):
        return {"n_features": self.n_features, "hidden": self.hidden,
                "replica_columns": self.replica_columns, "weight_decay": self.weight_decay,
                "offset": None if self.offset is None else self.offset.tolist(),
                "scale": None if self.scale is None else self.scale.tolist(),
                "auc_thresholds": self.auc_thresholds, "names": self.names,
                "name": self.name}


def compile_packed(packed: PackedNetwork, *, learning_rate=INITIAL_LEARNING_RATE,
                   momentum: float = INITIAL_MOMENTUM, jit_compile: bool = True) -> PackedNetwork:
    """Compile a pack as ``training.compile_for_training`` compiles one run: momentum SGD
    (``PackedMomentumSGD``), the cross-entropy and the per-replica metrics of
    ``PackedNetwork``, one Keras step per call (``reproduce.train.block_steps`` makes a
    step a block of minibatches). Returns the pack."""
    packed.compile(optimizer=PackedMomentumSGD(packed.replicas, learning_rate, momentum),
                   steps_per_execution=1, jit_compile=jit_compile)
    return packed
