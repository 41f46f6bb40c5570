"""Training throughput (examples/s at batch 100) of the paper's HIGGS nets.

Compares, in one process and on the same data, with the same outputs (per-epoch loss and
AUC, the paper's per-batch learning rate):
  * ``package``: what ``reproduce.train.training.train_run`` runs: ``compile_for_training``
    (ScheduledMomentumSGD, cross-entropy, AUC, XLA), ``PerBatchLearningRateDecay`` (rate
    computed from the step counter inside the compiled step) and ``MomentumRamp``, blocks of
    ``steps_per_execution`` minibatches run in one compiled loop (``reproduce.train.block_steps``);
  * ``naive``: the callbacks article's approach ported to Keras 3: ``model.fit`` on the
    numpy arrays with ``shuffle=True``, stock SGD, a Python callback after every batch that
    reads the rate and divides it by 1.0000002 (the article's ``K.get_value`` /
    ``K.set_value``), a momentum callback per epoch, ``steps_per_execution=1`` and
    ``jit_compile="auto"`` (no XLA on the CPU).

  * ``expert JAX``: the same training hand-written in JAX (``benchmarks/gpu_step_jax.py``'s
    ``train_epoch_with_metrics``: the whole epoch in one jitted call, a ``lax.scan`` over
    blocks of 100 minibatches, each a momentum-SGD update with the rate from the step
    counter and the cross-entropy from logits plus the weight decay, and the same outputs:
    the epoch's mean cost and a 200-bin score histogram per class, from which a 200-threshold
    AUC follows), on the same rows in a Pylearn2-style permutation per epoch, momentum
    fixed. ``bare JAX``: the same loop computing nothing but the updates
    (``train_epoch``). Both run on JAX's CPU backend in the same process.
  * ``expert TF``: the expert JAX loop hand-written in TensorFlow (``expert_tensorflow``:
    the whole epoch in one XLA call, the same updates and outputs): the best the package's
    default backend does with this training here, so ``package / expert TF`` is the
    package's own overhead on TensorFlow, and ``expert TF / expert JAX`` (the two columns'
    ratio) the compilers' difference. TensorFlow backend only.

And, as the machine's ceiling for any per-minibatch SGD of the same network:
  * ``matmul floor``: only the network's matrix products (forward, and the backward products
    for the weight and input gradients) with one weight write per minibatch, in one XLA
    loop: no activation, loss, bias, metric or momentum. No training of this network at
    batch 100 can beat it on this machine, so ``floor / naive`` is the largest speed-up any
    implementation could show against the naive approach here.

Each measurement trains a fresh network in one ``fit``, as a training job does: one untimed
epoch (tracing, compilation, the input pipeline's start: paid once per job), then
``--epochs`` timed epochs (each from its begin to its end hook). Prints a Markdown table
with medians over ``--repeats`` (package, naive, expert JAX and expert TF take turns), the
medians of the paired ratios package / naive, package / expert JAX and package / expert TF
(each package run against the runs right after it), and the projected time of one full HIGGS epoch (10M training rows).

The development VM's host gives it both cores only part of the time (otherwise about one
core's worth), and a run can straddle a change. So every run also times each chunk of
consecutive minibatches: whole blocks of the package, and at least 100 minibatches (at the
default block of 1,000: one block of the package, 1,000 batch hooks of the naive approach;
the floor's chunks are its compiled calls of 100), and the table gives, per side, the median
over the chunks of the fast state (those within 20% of that side's fastest chunk: the host
giving both cores) with their share, the ratio of those medians, the package's share of the
floor and the floor's ratio to the naive approach.

``--backend jax`` runs the package and the naive approach on Keras's JAX backend (the
package's ``lax.scan`` block steps and numpy blocks; the matmul floor, TensorFlow's, is left
out).

    python benchmarks/training_throughput.py [--rows 200000] [--repeats 3] [--backend jax]
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from reproduce.backend import select_backend  # noqa: E402

# Keras's backend is fixed at its import: --backend is read before it
BACKEND = select_backend(sys.argv[sys.argv.index("--backend") + 1]
                         if "--backend" in sys.argv[:-1] else "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from reproduce.train.batch_order import make_batch_order  # noqa: E402
from reproduce.train.block_steps import (backend_batch_order, backend_epoch_blocks,  # noqa: E402
                                         blocks_per_epoch, enable_backend_block_steps)
from reproduce.train.compiled_network import compile_for_training  # noqa: E402
from reproduce.train.callbacks import MomentumRamp, PerBatchLearningRateDecay  # noqa: E402
from reproduce.train.models import hidden_layer_widths, paper_model  # noqa: E402
from reproduce.train.schedules import (LEARNING_RATE_DECAY_FACTOR, LEARNING_RATE_FLOOR,  # noqa: E402
                                 momentum_at)
from reproduce.train.settings import TrainingSettings  # noqa: E402

HIGGS_TRAIN_ROWS = 10_000_000  # the split of reproduce.datasets


class ArticleLearningRateDecay(keras.callbacks.Callback):
    """The article's per-batch callback: read the rate, divide it, write it back."""

    def on_train_batch_end(self, batch, logs=None):
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.model.optimizer.learning_rate.assign(
            max(rate / LEARNING_RATE_DECAY_FACTOR, LEARNING_RATE_FLOOR))


class ArticleMomentumRamp(keras.callbacks.Callback):
    """The article's per-epoch momentum callback (in Keras 3 it changes nothing)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.momentum = momentum_at(epoch)


CHUNK_BATCHES = 100  # minibatches per timed chunk
FAST_STATE = 0.8  # a chunk within 20% of the side's fastest chunk is in the fast state


class ChunkClock(keras.callbacks.Callback):
    """Wall time of each epoch, and of every ``chunk_batches`` consecutive minibatches of an
    epoch (the batch hooks of one chunk: one per block of the package, one per minibatch of
    the naive approach). Epochs are timed from their begin to their end hook, after the
    fit's first ``skip_epochs``: those hold its one-off costs (tracing, compilation, the
    iterator's start and its first block), which a training job pays once, not per epoch."""

    def __init__(self, minibatches_per_hook: int, chunk_batches: int | None = None,
                 skip_epochs: int = 1):
        super().__init__()
        self.skip_epochs = skip_epochs  # the fit's first epochs: tracing, compilation
        if chunk_batches is None:  # whole blocks, and at least CHUNK_BATCHES minibatches
            chunk_batches = math.lcm(CHUNK_BATCHES, minibatches_per_hook)
        if chunk_batches % minibatches_per_hook:
            raise ValueError(f"a chunk of {chunk_batches} minibatches is not whole blocks "
                             f"of {minibatches_per_hook}")
        self.hooks_per_chunk = chunk_batches // minibatches_per_hook
        self.seconds, self.epoch_seconds = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._timed = epoch >= self.skip_epochs
        self._hooks, self._last = 0, time.perf_counter()
        self._epoch_start = self._last

    def on_train_batch_end(self, batch, logs=None):
        if not self._timed:
            return
        self._hooks += 1
        if self._hooks % self.hooks_per_chunk == 0:
            now = time.perf_counter()
            self.seconds.append(now - self._last)
            self._last = now

    def on_epoch_end(self, epoch, logs=None):
        if self._timed:
            self.epoch_seconds.append(time.perf_counter() - self._epoch_start)


def fast_state(chunk_rates: list[float]) -> tuple[float, float]:
    """Median examples/s of the chunks within 20% of the fastest, and their share."""
    fast = [r for r in chunk_rates if r >= FAST_STATE * max(chunk_rates)]
    return statistics.median(fast), len(fast) / len(chunk_rates)


def throughput(kind: str, model: str, x, y, epochs: int, settings: TrainingSettings,
               chunk_batches: int) -> tuple[float, list[float]]:
    """Examples/s over the timed epochs, and the seconds of each chunk of ``chunk_batches``
    minibatches (whole blocks of the package)."""
    keras.utils.set_random_seed(1)
    net = paper_model(model, x.shape[1], seed=1)
    if kind == "naive":
        net.compile(keras.optimizers.SGD(0.05, momentum=0.9), "binary_crossentropy",
                    metrics=[keras.metrics.AUC(num_thresholds=200, name="auc")],
                    steps_per_execution=1, jit_compile="auto")
        callbacks = [ArticleLearningRateDecay(), ArticleMomentumRamp()]
        clock = ChunkClock(1, chunk_batches)
        net.fit(x, y, batch_size=100, epochs=epochs + 1, shuffle=True, verbose=0,
                callbacks=[*callbacks, clock])
        return epochs * len(x) / sum(clock.epoch_seconds), clock.seconds
    clock = package_fit(net, x, y, epochs, settings,
                        functools.partial(ChunkClock, chunk_batches=chunk_batches))
    return epochs * len(x) / sum(clock.epoch_seconds), clock.seconds


def expert_jax(model: str, x, y, epochs: int, metrics: bool = True) -> float:
    """Examples/s of ``benchmarks/gpu_step_jax.py``'s hand-written JAX training of ``model``
    (with the package's outputs, or the bare updates) over the timed epochs, after one
    untimed epoch (compilation)."""
    if str(Path(__file__).parent) not in sys.path:  # once, not per measurement
        sys.path.insert(0, str(Path(__file__).parent))
    import gpu_step_jax as reference
    import jax
    import jax.numpy as jnp

    train_epoch = reference.train_epoch_with_metrics if metrics else reference.train_epoch
    params = reference.init(jax.random.PRNGKey(1), x.shape[1], hidden_layer_widths(model))
    state = (params, jax.tree.map(jnp.zeros_like, params), jnp.zeros((), jnp.int32))
    xs, ys = jnp.asarray(x), jnp.asarray(y)
    rng = np.random.RandomState([2012, 10, 5])
    seconds = []
    for epoch in range(epochs + 1):
        perm = np.arange(len(x), dtype=np.int32)
        rng.shuffle(perm)  # the shared stream's draw, on the host, untimed as the package's
        perm = jnp.asarray(perm)
        start = time.perf_counter()
        out = jax.block_until_ready(train_epoch(*state, 0.9, xs, ys, perm))
        if epoch:
            seconds.append(time.perf_counter() - start)
        state = out[:3]
    assert all(bool(jnp.all(jnp.isfinite(w))) for w, _ in state[0])
    if metrics:
        assert float(jnp.sum(out[4])) == len(x) - len(x) % (100 * 100)
    return epochs * len(x) / sum(seconds)


def expert_tensorflow(model: str, x, y, epochs: int) -> float:
    """Examples/s of ``expert_jax``'s training hand-written in TensorFlow, over the timed
    epochs after one untimed epoch (compilation): the whole epoch in one XLA call (a
    ``tf.while_loop`` over its minibatches, each a momentum-SGD update with the rate from the
    step counter, the cross-entropy from logits plus the weight decay), with the same
    outputs (the epoch's mean cost and a 200-bin score histogram per class), the same
    initial weights' scales and the same per-epoch permutation drawn on the host. What the
    best TensorFlow code for this training reaches here: the package on TensorFlow is
    measured against it, as the package on JAX against ``expert_jax``."""
    import tensorflow as tf

    widths = [x.shape[1], *hidden_layer_widths(model), 1]
    rng = np.random.default_rng(1)
    params = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        std = 0.1 if i == 0 else (0.001 if i == len(widths) - 2 else 0.05)
        params += [tf.Variable(rng.normal(0.0, std, (a, b)).astype(np.float32)),
                   tf.Variable(np.zeros(b, np.float32))]
    velocity = [tf.Variable(tf.zeros_like(p)) for p in params]
    step = tf.Variable(0, dtype=tf.int32)
    xs, ys = tf.constant(x), tf.constant(y)
    bins = 200
    decay = float(np.log(LEARNING_RATE_DECAY_FACTOR))

    def cost(features, labels):
        h = features
        for k in range(0, len(params) - 2, 2):
            h = tf.tanh(h @ params[k] + params[k + 1])
        z = (h @ params[-2] + params[-1])[:, 0]
        cross_entropy = tf.reduce_mean(
            tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z))
        return cross_entropy + 1e-5 * tf.add_n(
            [tf.reduce_sum(tf.square(w)) for w in params[::2]]), z

    @tf.function(jit_compile=True)
    def train_epoch(perm):
        def minibatch(i, loss, hist):
            idx = perm[i]
            labels = tf.gather(ys, idx)
            with tf.GradientTape() as tape:
                c, z = cost(tf.gather(xs, idx), labels)
            grads = tape.gradient(c, params)
            rate = tf.maximum(0.05 * tf.exp(-tf.cast(step, tf.float32) * decay),
                              LEARNING_RATE_FLOOR)
            for v, g, p in zip(velocity, grads, params):
                v.assign(0.9 * v - rate * g)
                p.assign_add(v)
            step.assign_add(1)
            b = tf.clip_by_value(tf.cast(tf.sigmoid(z) * (bins - 1), tf.int32), 0, bins - 1)
            hist = tf.tensor_scatter_nd_add(
                hist, tf.stack([tf.cast(labels, tf.int32), b], 1), tf.ones_like(labels))
            return i + 1, loss + c, hist

        n = tf.shape(perm)[0]
        _, loss, hist = tf.while_loop(lambda i, *_: i < n, minibatch,
                                      (0, tf.constant(0.0), tf.zeros((2, bins))))
        return loss / tf.cast(n, tf.float32), hist

    order = np.random.RandomState([2012, 10, 5])
    seconds = []
    for epoch in range(epochs + 1):
        perm = np.arange(len(x), dtype=np.int32)
        order.shuffle(perm)  # the shared stream's draw, on the host, untimed as the package's
        perm = tf.constant(perm[:len(x) - len(x) % 100].reshape(-1, 100))
        start = time.perf_counter()
        loss, hist = train_epoch(perm)
        loss, hist = float(loss), hist.numpy()
        if epoch:
            seconds.append(time.perf_counter() - start)
    assert np.isfinite(loss) and hist.sum() == len(x) - len(x) % 100
    return epochs * len(x) / sum(seconds)


def package_fit(net, x, y, epochs: int, settings: TrainingSettings, make_clock):
    """``train_run``'s training path on ``net``: block steps, the settings' minibatch order
    (by default Pylearn2's shared stream: a numpy shuffle per epoch, drawn while the previous
    epoch trains) and the schedule's callbacks. One fit, as a training job runs all its
    epochs: an untimed first epoch (compilation, the input pipeline's start), then
    ``epochs`` epochs timed by ``make_clock(block size)``, which is returned."""
    enable_backend_block_steps(compile_for_training(net, settings))
    block = settings.block_size(len(x))
    order = backend_batch_order(make_batch_order(settings.batch_order, len(x), seed=1))
    steps = blocks_per_epoch(len(x), settings.batch_size, block)
    callbacks = [PerBatchLearningRateDecay(settings.learning_rate, settings.decay_factor,
                                           settings.learning_rate_floor), MomentumRamp()]
    clock = make_clock(block)
    blocks = backend_epoch_blocks(x, y, order=order, first_epoch=0, last_epoch=epochs + 1,
                                  batch_size=settings.batch_size, block_size=block)
    net.fit(blocks, epochs=epochs + 1, steps_per_epoch=steps, shuffle=False,
            verbose=0, callbacks=[*callbacks, clock])
    return clock


def matmul_floor(model: str, n_inputs: int, n_rows: int,
                 batch_size: int) -> tuple[float, list[float]]:
    """Examples/s of the network's matrix products alone (see the module docstring), timed
    over as many minibatches as ``n_rows`` rows, like the training runs, and the seconds of
    each chunk (one compiled call of ``CHUNK_BATCHES`` minibatches)."""
    block = CHUNK_BATCHES
    import tensorflow as tf

    net = paper_model(model, n_inputs, seed=1)
    shapes = [tuple(w.shape) for w in net.trainable_weights if len(w.shape) == 2]
    rng = np.random.default_rng(0)
    weights = [tf.constant(rng.normal(0.0, 0.05, shape).astype(np.float32)) for shape in shapes]
    x = tf.constant(rng.normal(size=(block, batch_size, n_inputs)).astype(np.float32))

    def step(i, ws):
        acts = [x[i]]
        for w in ws:
            acts.append(acts[-1] @ w)
        grad, new = acts[-1], []
        for k in reversed(range(len(ws))):
            new.append(ws[k] - 1e-9 * tf.matmul(acts[k], grad, transpose_a=True))
            if k:  # no gradient for the input features
                grad = tf.matmul(grad, ws[k], transpose_b=True)
        return i + 1, new[::-1]

    run = tf.function(jit_compile=True)(
        lambda ws: tf.while_loop(lambda i, ws: i < block, step, (0, ws))[1])
    weights = run(weights)
    weights[0].numpy()
    seconds = []
    for _ in range(max(1, n_rows // (block * batch_size))):
        start = time.perf_counter()
        weights = run(weights)
        weights[0].numpy()
        seconds.append(time.perf_counter() - start)
    return len(seconds) * block * batch_size / sum(seconds), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-jit", action="store_true")
    parser.add_argument("--block", type=int, default=TrainingSettings().steps_per_execution,
                        help="the package's minibatches per compiled call "
                             "(training.steps_per_execution; default the package's)")
    parser.add_argument("--models", default="shallow,deep")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow",
                        help="Keras's backend for the package and the naive approach (the "
                             "matmul floor is TensorFlow's: left out on jax)")
    parser.add_argument("--no-jax", action="store_true",
                        help="leave out the expert JAX loop (where JAX is not installed)")
    args = parser.parse_args(argv)
    settings = TrainingSettings(steps_per_execution=args.block, jit_compile=not args.no_jit)
    chunk_batches = math.lcm(CHUNK_BATCHES, args.block)  # whole blocks of the package
    chunk = chunk_batches * settings.batch_size
    rows = max(chunk, args.rows - args.rows % chunk)  # whole chunks, whole blocks
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 28)).astype(np.float32)
    y = (rng.random(rows) < 0.53).astype(np.float32)
    print(f"# training throughput on Keras's {BACKEND} backend (expert JAX: JAX), batch 100, "
          f"{rows:,} rows x 28, {os.cpu_count()} CPUs, the package's blocks of "
          f"{settings.block_size(rows)} minibatches, "
          f"median of {args.repeats} (package, naive, expert JAX and expert TF take turns); "
          "fast "
          f"state: chunks of {chunk:,} examples within 20% of the side's fastest (their "
          f"share in brackets)\n")
    print("| model | package ex/s (range) | naive ex/s (range) | paired ratio | "
          "expert JAX ex/s (range) | package / expert JAX (paired) | bare JAX ex/s | "
          "expert TF ex/s (range) | package / expert TF (paired) | fast state: package | fast state: naive | fast-state ratio | matmul floor "
          "(fast state) | package / floor | floor / naive | full-HIGGS epoch (10M rows) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models.split(","):
        fast, slow, expert, bare, expert_tf = [], [], [], [], []
        chunk_rates = {"package": [], "naive": [], "floor": []}
        for _ in range(args.repeats):
            for kind, results in (("package", fast), ("naive", slow)):
                rate, seconds = throughput(kind, model, x, y, args.epochs, settings,
                                           chunk_batches)
                results.append(rate)
                chunk_rates[kind] += [chunk / t for t in seconds]
            if not args.no_jax:
                expert.append(expert_jax(model, x, y, args.epochs))
                bare.append(expert_jax(model, x, y, args.epochs, metrics=False))
            if BACKEND == "tensorflow":
                expert_tf.append(expert_tensorflow(model, x, y, args.epochs))
                _, seconds = matmul_floor(model, x.shape[1], args.epochs * rows,
                                          settings.batch_size)
                chunk_rates["floor"] += [CHUNK_BATCHES * settings.batch_size / t
                                         for t in seconds]
        f, s = statistics.median(fast), statistics.median(slow)
        # each package run is paired with the runs right after it: the host's state is
        # shared within a pair, unless the pair straddles a change
        paired = statistics.median(a / b for a, b in zip(fast, slow))
        if expert:
            e = statistics.median(expert)
            jax_cells = (f"{e:,.0f} ({min(expert):,.0f}-{max(expert):,.0f}) | "
                         f"{statistics.median(a / b for a, b in zip(fast, expert)):.2f}x | "
                         f"{statistics.median(bare):,.0f}")
        else:
            jax_cells = "not run | | "
        if expert_tf:
            e = statistics.median(expert_tf)
            tf_cells = (f"{e:,.0f} ({min(expert_tf):,.0f}-{max(expert_tf):,.0f}) | "
                        f"{statistics.median(a / b for a, b in zip(fast, expert_tf)):.2f}x")
        else:
            tf_cells = "not run (TensorFlow's) | "
        (pf, pf_share), (nf, nf_share) = (fast_state(chunk_rates[kind])
                                          for kind in ("package", "naive"))
        if chunk_rates["floor"]:
            ff, ff_share = fast_state(chunk_rates["floor"])
            floor_cells = f"{ff:,.0f} ({ff_share:.0%}) | {pf / ff:.0%} | {ff / nf:.2f}x"
        else:
            floor_cells = "not run (TensorFlow's) | | "
        print(f"| {model} | {f:,.0f} ({min(fast):,.0f}-{max(fast):,.0f}) | "
              f"{s:,.0f} ({min(slow):,.0f}-{max(slow):,.0f}) | {paired:.2f}x | {jax_cells} | {tf_cells} | "
              f"{pf:,.0f} ({pf_share:.0%}) | {nf:,.0f} ({nf_share:.0%}) | {pf / nf:.2f}x | "
              f"{floor_cells} | {HIGGS_TRAIN_ROWS / f / 60:.1f} min |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
