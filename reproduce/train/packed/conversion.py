"""Between unpacked runs and a pack: ``pack`` R models, ``unpack`` replica r, and move the
optimizer state (step counter, momentum, velocities) both ways."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from reproduce.train.models import build_model
from reproduce.train.packed.network import PackedNetwork

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


def pack_optimizer_state(packed: PackedNetwork, models, common=None) -> None:
    """Give the compiled pack the optimizer state of ``models`` (those ``pack`` packed):
    their common step counter and momentum, each one's velocities in its replica.

    ``common``: one flag per model, True for the models whose step counter and momentum
    the pack takes (they must agree: the replicas that will train); the others (replicas
    that stay frozen, whose training ended at another step) give only their velocities.
    None: all of them. With none flagged, the pack takes the largest step counter.
    """
    source = [_built_optimizer(m) for m in models]
    target = _built_optimizer(packed)
    counters = [int(ops.convert_to_numpy(o.iterations)) for o in source]
    common = [True] * len(source) if common is None else list(common)
    if not any(common):  # every replica frozen: the counter only has to be one of theirs
        common = [n == max(counters) for n in counters]
    steps = {n for n, c in zip(counters, common) if c}
    momenta = {o.momentum for o, c in zip(source, common) if c}
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
