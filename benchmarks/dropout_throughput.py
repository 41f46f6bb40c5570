"""Training throughput of the dropout runs against the same net without dropout.

Trains, in one process and on the same data, through ``train_run``'s code path
(``compile_for_training``: ScheduledMomentumSGD, cross-entropy, AUC, XLA;
``PerBatchLearningRateDecay`` and ``MomentumRamp``; blocks of ``steps_per_execution``
minibatches in one compiled loop, ``reproduce.train.block_steps``):
  * ``deep``: the paper's DN (weight decay 1e-5, no dropout);
  * ``deep_dropout``: DNdropOut as the package builds it (``reproduce.train.dropout.PaperDropout``
    on the top hidden layer, p = 0.5, no weight decay);
  * ``deep_dropout, keras.layers.Dropout`` (unless ``--no-keras-dropout``): the same net
    with Keras's own ``Dropout`` layer, as the package built it before ``PaperDropout``.
    Keras's TensorFlow backend draws its masks with ``tf.nn.experimental.stateless_dropout``
    (generator "auto_select"), which XLA compiles to slow code on the CPU.

Each measurement trains a fresh network: one untimed epoch (tracing, compilation), then
``--epochs`` timed epochs (from the epoch's begin to its end hook). The variants alternate
within each of ``--repeats`` rounds; the table gives the median examples/s (with the range)
and the median over the rounds of each variant's ratio to the ``deep`` run of the same round.

    python benchmarks/dropout_throughput.py [--rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from reproduce.train.dropout import PaperDropout  # noqa: E402
from reproduce.train.models import paper_model  # noqa: E402
from reproduce.train.settings import TrainingSettings  # noqa: E402
from training_throughput import ChunkClock, package_fit  # noqa: E402  (the same folder)

VARIANTS = ("deep", "deep_dropout", "deep_dropout, keras.layers.Dropout")


def with_keras_dropout(net: keras.Model) -> keras.Model:
    """The same network with ``keras.layers.Dropout`` (same rate and seed) in place of
    ``PaperDropout``."""
    def clone(layer):
        if isinstance(layer, PaperDropout):
            return keras.layers.Dropout(layer.rate, seed=layer.seed, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(net, clone_function=clone)
    copy.set_weights(net.get_weights())
    return copy


def throughput(variant: str, x, y, epochs: int, settings: TrainingSettings) -> float:
    """Examples/s of ``variant`` over ``epochs`` timed epochs (after one untimed epoch)."""
    keras.utils.set_random_seed(1)
    dropout = variant != "deep"
    net = paper_model("deep", x.shape[1], seed=1, dropout=dropout)
    if variant.endswith("keras.layers.Dropout"):
        net = with_keras_dropout(net)
    s = TrainingSettings(**{**settings.__dict__, "dropout": dropout})
    clock = package_fit(net, x, y, epochs, s, ChunkClock)
    return epochs * len(x) / sum(clock.epoch_seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-keras-dropout", action="store_true",
                        help="leave out the (slow) keras.layers.Dropout variant")
    args = parser.parse_args(argv)
    settings = TrainingSettings()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.rows, 28)).astype(np.float32)
    y = (rng.random(args.rows) < 0.53).astype(np.float32)
    variants = VARIANTS[:2] if args.no_keras_dropout else VARIANTS
    rates = {v: [] for v in variants}
    for _ in range(args.repeats):
        for variant in variants:
            rates[variant].append(throughput(variant, x, y, args.epochs, settings))
    load = os.getloadavg()
    print(f"# dropout throughput, batch 100, {args.rows:,} rows x 28, {os.cpu_count()} CPUs, "
          f"blocks of {settings.block_size(args.rows)} minibatches, XLA; median of "
          f"{args.repeats} (variants alternate); load average at the end "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\n")
    print("| model | examples/s (range) | ratio to deep (median of the rounds' ratios) |")
    print("|---|---:|---:|")
    for variant in variants:
        r = rates[variant]
        ratio = statistics.median(a / b for a, b in zip(r, rates["deep"]))
        print(f"| {variant} | {statistics.median(r):,.0f} ({min(r):,.0f}-{max(r):,.0f}) | "
              f"{ratio:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
