"""The paper's networks: shallow (one tanh layer) and deep (several), sigmoid output."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from reproduce.model_registry import NETWORKS
from reproduce.train.dropout import PaperDropout
from reproduce.train.schedules import (DROPOUT_RATE, FIRST_LAYER_STDDEV, HIDDEN_LAYER_STDDEV,
                        OUTPUT_LAYER_STDDEV, WEIGHT_DECAY)

MODELS = tuple(NETWORKS)  # the network families of reproduce.model_registry


def _fold(v, square: bool):
    """``v[:h] + v[h:2h]`` (of squares if ``square``), with an odd last element kept."""
    half = v.shape[0] // 2
    a, b = v[:half], v[half:2 * half]
    folded = a * a + b * b if square else a + b
    if v.shape[0] % 2 == 0:
        return folded
    rest = v[2 * half:]
    return ops.concatenate([folded, ops.square(rest) if square else rest], axis=0)


def sum_of_squares(w):
    """``sum(w**2)``, folded pairwise with elementwise adds before the final reduction.

    Same value as ``ops.sum(ops.square(w))`` (a different order of float32 additions), but
    XLA on the CPU vectorizes elementwise adds and not long reductions: for the deep net's
    270,000 weights this takes the penalty from about a quarter of the training step to a
    few percent (``benchmarks/training_throughput.py``).
    """
    v = ops.reshape(w, (-1,))
    if v.shape[0] <= 512:
        return ops.sum(ops.square(v))
    v = _fold(v, square=True)  # squares as it adds: the squares are never stored
    while v.shape[0] > 512:
        v = _fold(v, square=False)
    return ops.sum(v)


@keras.saving.register_keras_serializable(package="reproduce")
class PaperL2(keras.regularizers.Regularizer):
    """The paper's weight decay, ``l2 * sum(W**2)``, as Keras's ``L2`` but faster under XLA.

    Args:
        l2: the coefficient (the paper: 1e-5).

    Example:

    >>> layer = keras.layers.Dense(300, kernel_regularizer=PaperL2(1e-5))
    >>> float(PaperL2(0.5)(np.ones((2, 3), np.float32)))  # 0.5 * six squares of 1
    3.0
    """

    def __init__(self, l2: float = WEIGHT_DECAY):
        self.l2 = float(l2)

    def __call__(self, x):
        return self.l2 * sum_of_squares(x)

    def get_config(self):
        return {"l2": self.l2}


def hidden_layer_widths(model: str, width: int = 300, depth: int | None = None) -> list[int]:
    """Hidden layer widths of a network family of ``reproduce.model_registry.NETWORKS``.

    ``depth`` hidden layers of ``width`` (300 in the paper's tables; Supp. Table 3 adds
    1000, 2000, 10000); ``depth`` None is the family's own: one for ``shallow``, four for
    ``deep`` (the paper's "five-layer" network counts the output layer).
    """
    if model not in NETWORKS:
        raise ValueError(f"unknown model {model!r}: expected one of {', '.join(MODELS)}")
    family = NETWORKS[model]
    depth = family.hidden_layers if depth is None else depth
    if not family.min_hidden_layers <= depth <= family.max_hidden_layers:
        raise ValueError(f"{model} model depth must be {family.min_hidden_layers}.."
                         f"{family.max_hidden_layers} hidden layers, got {depth}")
    return [width] * depth


def build_model(n_inputs: int, hidden: list[int], *, seed: int, weight_decay: float = WEIGHT_DECAY,
                dropout: float = 0.0, offset=None, scale=None, name: str = "net") -> keras.Model:
    """A tanh MLP with a sigmoid output, initialized as in the paper's Methods.

    Args:
        n_inputs: number of input features.
        hidden: hidden layer widths.
        seed: seeds the weight initializers (layer ``i`` uses ``seed * 1000 + i``).
        weight_decay: L2 penalty ``weight_decay * sum(W**2)`` on the weight matrices (not
            the biases). 0 disables it (the dropout runs).
        dropout: probability of dropping each unit of the top hidden layer (0: none), by a
            ``PaperDropout`` layer seeded with ``seed * 1000 + 999``.
        offset, scale: optional input standardization ``(x - offset) / scale``, a fixed
            (non-trainable) first layer.
        name: model name.

    Returns:
        An uncompiled ``keras.Model``: weights N(0, 0.1) in the first layer, N(0, 0.05) in
        the other hidden layers, N(0, 0.001) at the output, zero biases.
    """
    inputs = keras.Input((n_inputs,), name="features")
    x = inputs
    if offset is not None:
        x = keras.layers.Normalization(mean=np.asarray(offset), variance=np.square(scale),
                                       name="standardize")(x)
    regularizer = PaperL2(weight_decay) if weight_decay else None
    for i, width in enumerate(hidden):
        stddev = FIRST_LAYER_STDDEV if i == 0 else HIDDEN_LAYER_STDDEV
        x = keras.layers.Dense(
            width, activation="tanh", name=f"hidden_{i + 1}",
            kernel_initializer=keras.initializers.RandomNormal(0.0, stddev, seed=seed * 1000 + i),
            bias_initializer="zeros", kernel_regularizer=regularizer,
        )(x)
    if dropout:
        x = PaperDropout(dropout, seed=seed * 1000 + 999, name="dropout_top")(x)
    outputs = keras.layers.Dense(
        1, activation="sigmoid", name="output",
        kernel_initializer=keras.initializers.RandomNormal(0.0, OUTPUT_LAYER_STDDEV,
                                                           seed=seed * 1000 + len(hidden)),
        bias_initializer="zeros", kernel_regularizer=regularizer,
    )(x)
    return keras.Model(inputs, outputs, name=name)


def paper_model(model: str, n_inputs: int, *, seed: int, width: int = 300,
                depth: int | None = None, dropout: bool = False,
                weight_decay: float = WEIGHT_DECAY, **kwargs) -> keras.Model:
    """``build_model`` for a named paper model.

    ``dropout=True`` is the NNdropOut/DNdropOut variant: the top hidden layer dropped with
    p=0.5 and no weight decay (the paper's dropout runs, the authors' ``susy/*do05top*.py``:
    the one place this rule lives), so ``weight_decay`` applies to the nets without dropout.
    """
    return build_model(n_inputs, hidden_layer_widths(model, width, depth), seed=seed,
                       weight_decay=0.0 if dropout else weight_decay,
                       dropout=DROPOUT_RATE if dropout else 0.0, name=model, **kwargs)
