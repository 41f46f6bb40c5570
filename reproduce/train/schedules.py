"""The paper's training constants and its two schedules in closed form.

Every constant of the Methods section appears here once, named. The callbacks in
``reproduce.train.callbacks`` and the learning-rate schedules (``reproduce.train.step_decay``,
``reproduce.train.schedules_jax``) use these closed forms, so the value applied at step ``t``
never depends on how many times a hook has run. Plain Python: the settings, the report and
the command line read these without importing Keras (and TensorFlow with it).
"""

from __future__ import annotations

import math

# Methods, "Training": mini-batches of 100 examples.
BATCH_SIZE = 100
# Methods: initial learning rate 0.05, divided by 1.0000002 after every batch, floor 1e-6.
INITIAL_LEARNING_RATE = 0.05
LEARNING_RATE_DECAY_FACTOR = 1.0000002
LEARNING_RATE_FLOOR = 1e-6
# Methods, dropout runs (SUSY table): learning-rate factor 1.0000003.
DROPOUT_LEARNING_RATE_DECAY_FACTOR = 1.0000003
# Methods: momentum rises linearly from 0.9 to 0.99 over the first 200 epochs.
INITIAL_MOMENTUM = 0.9
FINAL_MOMENTUM = 0.99
MOMENTUM_SATURATION_EPOCHS = 200
# The authors' README (uci-igb/higgs-susy): the paper's deep models "were trained for ~1000
# epochs"; "train for the full 1000 epochs to get the same results in the paper".
AUTHORS_EPOCHS = 1000
# Methods: weight decay 1e-5, a penalty 1e-5 * sum(W^2) on the weights.
WEIGHT_DECAY = 1e-5
# Methods: stop when the minimum validation error has not decreased by more than a factor
# 0.00001 over 10 epochs (40 for the dropout runs), once momentum has saturated.
MIN_RELATIVE_IMPROVEMENT = 1e-5
PATIENCE = 10
DROPOUT_PATIENCE = 40
# Methods: dropout runs drop units of the top hidden layer with probability 0.5.
DROPOUT_RATE = 0.5
# Methods: initial weights ~ N(0, sigma).
FIRST_LAYER_STDDEV = 0.1
HIDDEN_LAYER_STDDEV = 0.05
OUTPUT_LAYER_STDDEV = 0.001


def compressed_schedule(compression: float, batches_per_epoch: int,
                        paper_batches_per_epoch: int = 100_000) -> dict:
    """The authors' schedule compressed uniformly in time by ``compression`` (the demo's rule).

    Every epoch count of the paper is divided by ``compression`` and the paper's per-epoch
    learning-rate decay (``LEARNING_RATE_DECAY_FACTOR`` per batch over
    ``paper_batches_per_epoch`` batches: e**0.02 on HIGGS's 10M training rows) raised to
    its power, for an epoch of ``batches_per_epoch`` minibatches. The schedule keeps its
    shape: the rate when momentum saturates is the paper's, and the run ends where the
    rate reaches its floor (epoch 541 / c, rounded up). The momentum ramp is rounded to
    whole epochs.

    Returns the ``training`` keys ``max_epochs``, ``momentum_saturation_epochs`` and
    ``learning_rate_decay_factor`` (per batch).

    >>> compressed_schedule(10, 90)["max_epochs"]
    55
    """
    if compression <= 0 or batches_per_epoch < 1:
        raise ValueError("compressed_schedule: compression must be positive and "
                         "batches_per_epoch at least 1")
    per_epoch = paper_batches_per_epoch * math.log(LEARNING_RATE_DECAY_FACTOR)
    floor_epoch = math.log(INITIAL_LEARNING_RATE / LEARNING_RATE_FLOOR) / per_epoch
    return {"max_epochs": math.ceil(floor_epoch / compression),
            "momentum_saturation_epochs": max(1, round(MOMENTUM_SATURATION_EPOCHS / compression)),
            "learning_rate_decay_factor": math.exp(per_epoch * compression / batches_per_epoch)}


def learning_rate_at(step: int, initial: float = INITIAL_LEARNING_RATE,
                     factor: float = LEARNING_RATE_DECAY_FACTOR,
                     floor: float = LEARNING_RATE_FLOOR) -> float:
    """Learning rate applied to batch ``step`` (0-based): ``max(initial / factor**step, floor)``."""
    return max(initial * math.exp(-step * math.log(factor)), floor)


def momentum_at(epoch: int, initial: float = INITIAL_MOMENTUM, final: float = FINAL_MOMENTUM,
                saturation_epochs: int = MOMENTUM_SATURATION_EPOCHS) -> float:
    """Momentum applied during epoch ``epoch`` (0-based): linear from ``initial`` at epoch 0
    to ``final`` at epoch ``saturation_epochs``, constant after."""
    if saturation_epochs <= 0:
        return final
    return initial + (final - initial) * min(epoch / saturation_epochs, 1.0)
