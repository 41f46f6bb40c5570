"""The timings behind ``python -m reproduce estimate``: one network, or the pack of a
network's runs, timed through the package's own training path on Keras's active backend
(``reproduce.estimate`` prices a configured run from them).

Each timing is a few hundred real SGD steps on random data of the network's input width
(``time_sgd_blocks``: the median block after the first, which compiles), validation scoring
at the validation batch size (``time_scoring``) and the per-epoch checkpoint
(``time_checkpoint``), on the device ``device_name`` names.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from reproduce.model_registry import parse_model_name

TIMED_MIN_BLOCKS = 3       # blocks timed after the first (which compiles)
TIMED_MIN_SECONDS = 0.5    # and at least this long in all
TIMED_MAX_BLOCKS = 20      # and at most this many (the random data's one block, re-shuffled)


@dataclasses.dataclass
class NetworkTiming:
    """Seconds per block of ``block_size`` SGD steps (median), and the rest, for one network."""

    block_size: int
    steps_timed: int
    seconds_per_block: float
    compile_seconds: float
    scoring_rows_per_second: float
    evaluate_call_seconds: float  # the fixed cost of one evaluate call
    checkpoint_seconds: float
    device: str


def time_network(network: str, n_inputs: int, settings, n_train: int) -> NetworkTiming:
    """Time ``network`` (a model name) on random data of width ``n_inputs``: SGD blocks as
    ``train_run`` runs them for ``n_train`` training rows, validation scoring and the
    per-epoch save of the model."""
    from reproduce.train.block_steps import enable_backend_block_steps
    from reproduce.train.compiled_network import training_network

    block = settings.block_size(n_train)
    # one block (each timed block a reshuffle of it), and three validation batches to score
    rows = max(block * settings.batch_size, 3 * settings.validation_batch_size)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, n_inputs), dtype=np.float32)
    y = (rng.random(rows) < 0.5).astype(np.float32)
    net = enable_backend_block_steps(training_network(
        parse_model_name(network)["model"], n_inputs, settings, seed=0,
        offset=np.zeros(n_inputs), scale=np.ones(n_inputs)))
    one_block = block * settings.batch_size
    seconds = time_sgd_blocks(net, x[:one_block], y[:one_block], settings, block)
    per_block = statistics.median(seconds[1:])
    scoring_rate, call = time_scoring(net, x, y, settings.validation_batch_size)
    return NetworkTiming(block, block * len(seconds[1:]), per_block,
                         max(seconds[0] - per_block, 0.0), scoring_rate, call,
                         time_checkpoint(net), device_name(settings.threads))


def time_pack(network: str, replica_columns: list, n_features: int, settings,
              n_train: int) -> float:
    """Median seconds of a block of SGD steps of the pack of ``network``'s runs that read
    ``replica_columns`` of ``n_features`` random columns (``reproduce.train.packed``, as the
    ``train_pack`` rule builds it), timed as ``time_network`` times one run."""
    from reproduce.train.block_steps import enable_backend_block_steps
    from reproduce.train.packed_fit import new_pack

    block = settings.block_size(n_train)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((block * settings.batch_size, n_features), dtype=np.float32)
    y = (rng.random(len(x)) < 0.5).astype(np.float32)
    standardize = settings.standardize != "none"
    packed = enable_backend_block_steps(new_pack(
        parse_model_name(network)["model"], replica_columns, range(len(replica_columns)),
        n_features, settings, offset=np.zeros(n_features) if standardize else None,
        scale=np.ones(n_features) if standardize else None))
    return statistics.median(time_sgd_blocks(packed, x, y, settings, block)[1:])


def time_sgd_blocks(net, x, y, settings, block: int) -> list[float]:
    """Seconds of each block of ``block`` SGD steps, the first (which compiles) included,
    until ``TIMED_MIN_BLOCKS`` blocks after it and ``TIMED_MIN_SECONDS`` in all."""
    from reproduce.train.batch_order import make_batch_order
    from reproduce.train.block_steps import backend_batch_order, backend_epoch_blocks
    from reproduce.train.callbacks import PerBatchLearningRateDecay

    timer = _block_timer()
    lr_decay = PerBatchLearningRateDecay(settings.learning_rate, settings.decay_factor,
                                         settings.learning_rate_floor)
    order = backend_batch_order(make_batch_order(settings.batch_order, len(x), seed=0))
    net.fit(backend_epoch_blocks(x, y, order=order, first_epoch=0,
                                 last_epoch=TIMED_MAX_BLOCKS + 1,
                                 batch_size=settings.batch_size, block_size=block),
            epochs=1, steps_per_epoch=TIMED_MAX_BLOCKS + 1, callbacks=[lr_decay, timer],
            shuffle=False, verbose=0)
    return timer.seconds


def _block_timer():
    """A callback that times each training block and stops once enough are timed."""
    import keras

    class BlockTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            keras.ops.convert_to_numpy(logs["loss"])  # wait for the device
            self.seconds.append(time.perf_counter() - self.start)
            timed = self.seconds[1:]
            if len(timed) >= TIMED_MIN_BLOCKS and sum(timed) >= TIMED_MIN_SECONDS:
                self.model.stop_training = True

    return BlockTimer()


def time_scoring(net, x, y, batch: int) -> tuple[float, float]:
    """(rows per second, fixed seconds per call) of ``evaluate`` at batch size ``batch``.

    An evaluate call (validation, the train monitor) costs a fixed part c and a part per
    row r: timed (median of 3) on one batch, c + b r, and on three, c + 3 b r, after a call
    that compiles. The rate per row is taken from the three-batch call alone (robust to
    noise, slightly pessimistic); c = (3 one - three) / 2.
    """
    xv, yv = x[:3 * batch], y[:3 * batch].reshape(-1, 1)

    def evaluate_seconds(rows):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            net.evaluate(xv[:rows], yv[:rows], batch_size=batch, verbose=0)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    net.evaluate(xv[:batch], yv[:batch], batch_size=batch, verbose=0)  # compiles
    one, three = evaluate_seconds(batch), evaluate_seconds(3 * batch)
    return 3 * batch / three, max((3 * one - three) / 2, 0.0)


def time_checkpoint(net) -> float:
    """Seconds to write the state and the best-weights checkpoints once, after a first
    write untimed (its one-time cost, 1.8 s on JAX against 0.03 s for each later one, is
    not paid every epoch)."""
    with tempfile.TemporaryDirectory() as tmp:
        seconds = []
        for _ in range(2):
            start = time.perf_counter()
            net.save(Path(tmp) / "model.keras")
            net.save_weights(Path(tmp) / "best.weights.h5")
            seconds.append(time.perf_counter() - start)
        return seconds[-1]


def device_name(threads: int) -> str:
    """The GPU Keras's backend sees, or the CPU and its threads, with the backend: what the
    trainings of this config would run on.

    >>> device_name(2).startswith(("GPU", "CPU, 2 threads (tensorflow)"))
    True
    """
    from reproduce.backend import active_backend, visible_gpus

    backend = active_backend() or "tensorflow"
    gpus = visible_gpus(backend)
    if gpus:
        return f"GPU ({gpus[0]}; {backend})"
    if backend == "jax":  # XLA's CPU client takes every core (compute.train_threads is TF's)
        return f"CPU, all {os.cpu_count()} threads (jax)"
    return f"CPU, {threads or os.cpu_count()} threads ({backend})"
