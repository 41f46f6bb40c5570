"""R replicas of one paper network trained as one program: every Dense a batched product.

The 15 runs of one network of Table 1 (5 seeds x 3 feature sets) draw the same minibatch
rows (``training.batch_order: shared``); they differ only in their initial weights and
their input columns. ``PackedNetwork`` holds R replicas of one architecture of
``reproduce.train.models``: each Dense layer becomes a ``PackedDense`` whose kernel has
shape (R, in, out) and bias (R, out), the first layer reads one shared batch of every
feature column and masks, per replica, the rows of the columns that replica does not use
(they are zero and stay zero). The output is (batch, R): column r is replica r's
probability.

Every replica stays its own fit:

- the loss is the SUM over replicas of each replica's whole cost (its cross-entropy mean
  over the batch plus the paper's weight decay on its own weights), so the gradient of
  replica r's weights is the gradient of its unpacked run;
- ``PackedMomentumSGD`` is the package's ``ScheduledMomentumSGD`` (one learning-rate
  schedule and one momentum for all, set by the same callbacks) with a 0/1 ``active``
  vector: a frozen replica's update is masked, so its weights and velocities stay
  bit-unchanged;
- the logs carry ``replica_loss`` and ``replica_auc`` (vectors of R: the same running mean
  and the same 200-threshold AUC as an unpacked run's ``loss`` and ``auc``);
  ``replica_logs(logs, r)`` gives replica r's logs under the unpacked names;
- ``ReplicaCallbacks`` runs each run's own callbacks (stopping rules, CSV log) on its
  replica: a rule that fires freezes its replica, and the fit ends when all have stopped.

``pack(models, ...)`` builds a pack from R unpacked models (weights, and optimizer state
when the models have one), ``unpack(packed, r)`` exports replica r to an ordinary model of
``reproduce.train.models.build_model``, and ``copy_replica_optimizer_state`` moves its
step counter, momentum and velocities onto that model's optimizer. Everything is written
on ``keras.ops``; with the TensorFlow backend ``reproduce.train.block_steps`` runs blocks
of minibatches of a pack in one compiled call, as for an unpacked run.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from reproduce.train.models import build_model
from reproduce.train.optimizers import ScheduledMomentumSGD
from reproduce.train.schedules import INITIAL_LEARNING_RATE, INITIAL_MOMENTUM, WEIGHT_DECAY

# The metric names a pack adds to the logs (vectors of one value per replica).
REPLICA_LOSS = "replica_loss"
REPLICA_AUC = "replica_auc"


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
        if columns.size == 0 or columns.min() < 0 or columns.max() >= n_features \
                or len(set(columns.tolist())) != columns.size:
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


def _dense_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def _check_replica_model(model: keras.Model, r: int, packed: PackedNetwork) -> None:
    """Raise unless ``model`` has the pack's architecture for replica ``r``."""
    dense = _dense_layers(model)
    widths = [layer.units for layer in dense]
    n_in = dense[0].kernel.shape[0] if dense else None
    expected = (packed.hidden + [1], len(packed.replica_columns[r]))
    if (widths, n_in) != expected:
        raise ValueError(f"pack: model {r} ({model.name}) has layer widths {widths} on "
                         f"{n_in} inputs, expected {expected[0]} on {expected[1]}")
    decay = [getattr(layer.kernel_regularizer, "l2", 0.0) for layer in dense]
    if any(d != packed.weight_decay for d in decay):
        raise ValueError(f"pack: model {r} ({model.name}) has weight decay {decay}, "
                         f"the pack {packed.weight_decay}")
    others = [layer.name for layer in model.layers if not isinstance(
        layer, (keras.layers.InputLayer, keras.layers.Dense, keras.layers.Normalization))]
    if others:
        raise ValueError(f"pack: model {r} ({model.name}) has layers {others} besides Dense "
                         f"and the standardization (the dropout nets stay unpacked)")
    norm = [layer for layer in model.layers if isinstance(layer, keras.layers.Normalization)]
    if bool(norm) != (packed.standardize is not None):
        raise ValueError(f"pack: model {r} ({model.name}) and the pack differ in having a "
                         f"standardization layer")
    if norm:
        cols = packed.replica_columns[r]
        own = [np.ravel(ops.convert_to_numpy(v)) for v in (norm[0].mean, norm[0].variance)]
        ref = (packed.offset[cols], np.square(packed.scale)[cols])
        if not all(np.array_equal(a, b.astype(a.dtype)) for a, b in zip(own, ref)):
            raise ValueError(f"pack: model {r} ({model.name}) is standardized with other "
                             f"constants than the pack's offset/scale at columns {cols}")


def pack(models, replica_columns, n_features: int, *, offset=None, scale=None,
         auc_thresholds: int = 200) -> PackedNetwork:
    """A ``PackedNetwork`` whose replica r has the weights of ``models[r]``.

    Args:
        models: R unpacked models of ``reproduce.train.models.build_model`` (one
            architecture, no dropout), e.g. each run's freshly seeded network.
        replica_columns: for each model, the increasing columns of the shared input it
            reads (its ``x[:, columns]``).
        n_features: columns of the shared input.
        offset, scale: the standardization of all ``n_features`` columns when the models
            have one (each model's own must be these at its columns).
        auc_thresholds: thresholds of the per-replica AUC.

    Returns:
        The uncompiled pack; rows of columns a replica does not read are zero. When the
        models have optimizer state, ``pack_optimizer_state`` copies it after compiling.

    Example:

    >>> from reproduce.train.models import paper_model
    >>> nets = [paper_model("shallow", 2, seed=1, width=4), paper_model("shallow", 3, seed=2, width=4)]
    >>> packed = pack(nets, [[0, 2], [0, 1, 2]], 3)
    >>> float(ops.convert_to_numpy(packed.dense_layers[0].kernel)[0, 1].sum())
    0.0
    """
    if len(models) != len(replica_columns):
        raise ValueError(f"pack: {len(models)} models but {len(replica_columns)} column lists")
    first = _dense_layers(models[0])
    decay = getattr(first[0].kernel_regularizer, "l2", 0.0) if first else 0.0
    packed = PackedNetwork(n_features, [layer.units for layer in first[:-1]], replica_columns,
                           weight_decay=decay, offset=offset, scale=scale,
                           auc_thresholds=auc_thresholds, names=[m.name for m in models])
    packed(np.zeros((1, n_features), "float32"))
    for r, model in enumerate(models):
        _check_replica_model(model, r, packed)
        for i, (source, target) in enumerate(zip(_dense_layers(model), packed.dense_layers)):
            kernel = ops.convert_to_numpy(target.kernel)
            bias = ops.convert_to_numpy(target.bias)
            rows = packed.replica_columns[r] if i == 0 else slice(None)
            kernel[r] = 0.0
            kernel[r][rows] = ops.convert_to_numpy(source.kernel)
            bias[r] = ops.convert_to_numpy(source.bias)
            target.kernel.assign(kernel)
            target.bias.assign(bias)
    return packed


def _replica_variables(packed: PackedNetwork, net: keras.Model):
    """Pairs (packed variable, the unpacked net's variable) in layer order."""
    pairs = []
    for source, target in zip(packed.dense_layers, _dense_layers(net)):
        pairs += [(source.kernel, target.kernel), (source.bias, target.bias)]
    return pairs


def unpack(packed: PackedNetwork, r: int) -> keras.Model:
    """Replica ``r`` as an ordinary (uncompiled) model of ``build_model``, same weights.

    The model reads the replica's own columns only (``x[:, packed.replica_columns[r]]``),
    as its unpacked run does; compile it as an unpacked run and, to continue training,
    call ``copy_replica_optimizer_state``.

    Example:

    >>> from reproduce.train.models import paper_model
    >>> nets = [paper_model("shallow", 2, seed=1, width=4), paper_model("shallow", 3, seed=2, width=4)]
    >>> net = unpack(pack(nets, [[0, 2], [0, 1, 2]], 3), 0)
    >>> all(np.array_equal(a, b) for a, b in zip(net.get_weights(), nets[0].get_weights()))
    True
    """
    if not 0 <= r < packed.replicas:
        raise IndexError(f"unpack: replica {r} of a pack of {packed.replicas}")
    cols = packed.replica_columns[r]
    net = build_model(len(cols), packed.hidden, seed=0, weight_decay=packed.weight_decay,
                      offset=None if packed.offset is None else packed.offset[cols],
                      scale=None if packed.scale is None else packed.scale[cols],
                      name=packed.names[r])
    for i, (source, target) in enumerate(_replica_variables(packed, net)):
        value = ops.convert_to_numpy(source)[r]
        target.assign(value[cols] if i == 0 else value)
    return net


def _built_optimizer(model: keras.Model):
    optimizer = model.optimizer
    if optimizer is None or not getattr(optimizer, "momentum_is_variable", False):
        raise TypeError(f"{model.name}: compile it with a ScheduledMomentumSGD first")
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    return optimizer


def copy_replica_optimizer_state(packed: PackedNetwork, r: int, net: keras.Model) -> None:
    """Give ``net`` (``unpack(packed, r)``, compiled) replica r's step counter, momentum and
    velocities, so that training it continues the replica's run."""
    source, target = _built_optimizer(packed), _built_optimizer(net)
    target.iterations.assign(source.iterations)
    target.momentum = source.momentum
    cols = packed.replica_columns[r]
    for i, (pv, nv) in enumerate(_replica_variables(packed, net)):
        velocity = ops.convert_to_numpy(source.velocities[source._get_variable_index(pv)])[r]
        target.velocities[target._get_variable_index(nv)].assign(
            velocity[cols] if i == 0 else velocity)


def pack_optimizer_state(packed: PackedNetwork, models) -> None:
    """Give the compiled pack the optimizer state of ``models`` (those ``pack`` packed):
    their common step counter and momentum, each one's velocities in its replica."""
    source = [_built_optimizer(m) for m in models]
    target = _built_optimizer(packed)
    steps = {int(ops.convert_to_numpy(o.iterations)) for o in source}
    momenta = {o.momentum for o in source}
    if len(steps) != 1 or len(momenta) != 1:
        raise ValueError(f"pack_optimizer_state: the models are at steps {sorted(steps)} "
                         f"with momenta {sorted(momenta)}; a pack needs one of each")
    target.iterations.assign(steps.pop())
    target.momentum = momenta.pop()
    for r, (model, optimizer) in enumerate(zip(models, source)):
        cols = packed.replica_columns[r]
        for i, (pv, nv) in enumerate(_replica_variables(packed, model)):
            slot = target.velocities[target._get_variable_index(pv)]
            value = ops.convert_to_numpy(slot)
            own = ops.convert_to_numpy(optimizer.velocities[optimizer._get_variable_index(nv)])
            value[r] = 0.0
            if i == 0:
                value[r][cols] = own
            else:
                value[r] = own
            slot.assign(value)


class ReplicaModel:
    """What a callback of one unpacked run sees as ``self.model`` when it runs on replica
    ``r`` of a pack: setting ``stop_training`` freezes the replica (its rule fired);
    ``unpacked()`` is the replica as an ordinary model (to save its weights); everything
    else is the pack's."""

    def __init__(self, packed: PackedNetwork, replica: int):
        self.packed, self.replica = packed, int(replica)

    @property
    def stop_training(self) -> bool:
        return not bool(self.packed.optimizer.active[self.replica])

    @stop_training.setter
    def stop_training(self, value):
        if value:
            flags = self.packed.optimizer.active
            flags[self.replica] = 0.0
            self.packed.optimizer.active = flags

    def unpacked(self) -> keras.Model:
        return unpack(self.packed, self.replica)

    def __getattr__(self, name):
        if name in ("packed", "replica"):
            raise AttributeError(name)
        return getattr(self.packed, name)


class ReplicaCallbacks(keras.callbacks.Callback):
    """Run each replica's own callbacks (its stopping rules, CSV log, ...) on a pack.

    Callback list r sees replica r's epoch logs under the unpacked names
    (``replica_logs``) and a ``ReplicaModel`` as ``self.model``: a rule that stops its
    run freezes the replica from the next update on, its callbacks see no later epoch,
    and the fit ends when every replica is frozen. ``stopped_after[r]`` is the number of
    epochs replica r trained (None while it trains), ``steps[r]`` its SGD steps.

    Args:
        callbacks: one list of Keras callbacks per replica.

    Example:

    >>> from reproduce.train.callbacks import EpochBudget
    >>> from reproduce.train.models import paper_model
    >>> nets = [paper_model("shallow", 2, seed=s, width=3) for s in (1, 2)]
    >>> packed = compile_packed(pack(nets, [[0, 1], [0, 1]], 2), jit_compile=False)
    >>> per_run = ReplicaCallbacks([[EpochBudget(2)], [EpochBudget(3)]])
    >>> x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    >>> history = packed.fit(x, y, batch_size=4, epochs=100, verbose=0, callbacks=[per_run])
    >>> len(history.epoch), per_run.stopped_after, per_run.steps
    (3, [2, 3], [4, 6])
    """

    def __init__(self, callbacks):
        super().__init__()
        self.replica_callbacks = [list(c) for c in callbacks]
        self.stopped_after, self.steps, self._training = [], [], []

    def set_model(self, model):
        super().set_model(model)
        if len(self.replica_callbacks) != model.replicas:
            raise ValueError(f"ReplicaCallbacks: {len(self.replica_callbacks)} callback "
                             f"lists for a pack of {model.replicas}")
        for r, callbacks in enumerate(self.replica_callbacks):
            for callback in callbacks:
                callback.set_model(ReplicaModel(model, r))

    def _each_training(self, hook, *args, logs=None):
        for r, callbacks in enumerate(self.replica_callbacks):
            if self._training[r]:
                own = None if logs is None else replica_logs(logs, r)
                for callback in callbacks:
                    getattr(callback, hook)(*args, own)

    def on_train_begin(self, logs=None):
        active = self.model.optimizer.active
        self._training = [bool(a) for a in active]
        self.stopped_after, self.steps = [None] * len(active), [None] * len(active)
        self._each_training("on_train_begin", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._each_training("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each_training("on_epoch_end", epoch, logs=logs)
        active = self.model.optimizer.active
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        for r, flag in enumerate(active):
            if not flag and self._training[r]:
                self._training[r] = False
                self.stopped_after[r], self.steps[r] = epoch + 1, step
                for callback in self.replica_callbacks[r]:
                    callback.on_train_end(replica_logs(logs or {}, r))
        if not active.any():
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._each_training("on_train_end", logs=logs)


def replica_logs(logs: dict, r: int) -> dict:
    """Replica r's epoch logs under an unpacked run's names (``loss``, ``auc``,
    ``val_loss``, ``val_auc``) with the shared entries (``learning_rate``, ...) kept.

    Example:

    >>> replica_logs({"loss": 3.0, "replica_loss": [1.0, 2.0], "val_replica_auc": [0.6, 0.7],
    ...               "learning_rate": 0.05}, 1)
    {'learning_rate': 0.05, 'loss': 2.0, 'val_auc': 0.7}
    """
    own, shared = {}, {}
    for key, value in logs.items():
        for metric, plain in ((REPLICA_LOSS, "loss"), (REPLICA_AUC, "auc")):
            if key in (metric, "val_" + metric):
                own[key.replace(metric, plain)] = float(np.asarray(value)[r])
                break
        else:
            if key not in ("loss", "val_loss"):
                shared[key] = value
    return shared | own
