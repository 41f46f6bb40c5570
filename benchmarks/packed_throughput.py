"""A pack of R runs against R unpacked runs: SGD steps per second on this machine.

Both sides train the paper's HIGGS nets at batch 100 as the package does: momentum SGD
(``ScheduledMomentumSGD`` unpacked, ``PackedMomentumSGD`` packed), the per-batch
learning-rate schedule, the momentum ramp, the cross-entropy with the paper's weight decay,
the per-epoch loss and AUC, blocks of ``--block`` minibatches per compiled XLA call
(``reproduce.train.block_steps``; by default the package's ``training.steps_per_execution``).
The pack holds R replicas on the three feature sets (low 21, high 7, complete 28 columns)
of synthetic rows of the HIGGS width; the unpacked side trains one run (complete features:
the widest) and its cost is counted R times.

Each side: one untimed epoch (tracing, compilation), then ``--epochs`` timed epochs. The
table gives the median seconds per block and the ratio
``R x unpacked seconds / pack seconds``: how many times faster the R runs finish packed
(above 1: packing pays on this machine). A shared machine slows both sides alike only if
they alternate, so ``--repeats`` alternates them and the ratio is the median of the pairs.

    python benchmarks/packed_throughput.py [--replicas 15] [--rows 200000] [--repeats 2] [--block N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from reproduce.train.auc import RunAUC
from reproduce.train.block_steps import enable_block_steps
from reproduce.train.callbacks import MomentumRamp, PerBatchLearningRateDecay
from reproduce.train.models import paper_model
from reproduce.train.optimizers import ScheduledMomentumSGD
from reproduce.train.packed import compile_packed, pack
from reproduce.train.settings import TrainingSettings

FEATURE_SETS = (list(range(21)), list(range(21, 28)), list(range(28)))
BATCH = 100


class BlockTimes(keras.callbacks.Callback):
    """Seconds of each block (one Keras batch) after the first epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._epoch > 0:
            self.seconds.append(time.perf_counter() - self._start)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def timed_fit(net, x, y, epochs, block):
    enable_block_steps(net)
    n = len(x) - len(x) % (BATCH * block)
    ds = tf.data.Dataset.from_tensor_slices((x[:n].reshape(-1, block, BATCH, x.shape[1]),
                                             y[:n].reshape(-1, block, BATCH, 1)))
    times = BlockTimes()
    net.fit(ds.repeat(), epochs=epochs + 1, steps_per_epoch=n // (BATCH * block),
            verbose=0, callbacks=[PerBatchLearningRateDecay(), MomentumRamp(), times])
    return statistics.median(times.seconds)


def unpacked_seconds(network, x, y, epochs, block):
    net = paper_model(network, x.shape[1], seed=1)
    net.compile(ScheduledMomentumSGD(), loss=keras.losses.BinaryCrossentropy(),
                metrics=[RunAUC(200, name="auc")],
                steps_per_execution=1, jit_compile=True)
    return timed_fit(net, x, y, epochs, block)


def packed_seconds(network, replicas, x, y, epochs, block):
    cols = [FEATURE_SETS[r % 3] for r in range(replicas)]
    nets = [paper_model(network, len(c), seed=r + 1) for r, c in enumerate(cols)]
    return timed_fit(compile_packed(pack(nets, cols, x.shape[1])), x, y, epochs, block)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=15)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--networks", nargs="+", default=["shallow", "deep"])
    parser.add_argument("--block", type=int, default=TrainingSettings().steps_per_execution,
                        help="minibatches per compiled call (default: the package's)")
    args = parser.parse_args(argv)
    if args.rows < BATCH * args.block:
        parser.error(f"--rows {args.rows} is less than one block of --block {args.block} "
                     f"minibatches ({BATCH * args.block} rows)")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.rows, 28)).astype(np.float32)
    y = (x[:, :3].sum(axis=1) + rng.normal(size=args.rows) > 0).astype(np.float32)
    r, block = args.replicas, args.block
    print(f"| network | unpacked s / {block} steps | pack of {r} s / {block} steps | "
          f"{r} unpacked / pack |")
    print("|---|---|---|---|")
    for network in args.networks:
        pairs = []
        for _ in range(args.repeats):
            one = unpacked_seconds(network, x, y, args.epochs, block)
            packed = packed_seconds(network, r, x, y, args.epochs, block)
            pairs.append((one, packed))
        one = statistics.median(p[0] for p in pairs)
        packed = statistics.median(p[1] for p in pairs)
        ratio = statistics.median(r * a / b for a, b in pairs)
        print(f"| {network} | {one:.3f} | {packed:.3f} | {ratio:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
