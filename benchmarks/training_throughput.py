"""Training throughput (examples/s at batch 100) of the paper's HIGGS nets.

Compares, in one process and on the same data:
  * ``package``: reproduce's recipe (ScheduledMomentumSGD, the schedule evaluated from the
    step counter inside the compiled step, steps_per_execution, XLA);
  * ``naive``: the callbacks article's approach ported to Keras 3: ``model.fit`` on the
    numpy arrays with ``shuffle=True``, stock SGD, a Python callback that sets the learning
    rate after every batch, ``steps_per_execution=1`` and ``jit_compile="auto"`` (no XLA
    on the CPU).

Prints a Markdown table with medians over repeats and the ratio package / naive.

    python benchmarks/training_throughput.py [--rows 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from reproduce.callbacks import MomentumRamp, PerBatchLearningRateDecay  # noqa: E402
from reproduce.models import paper_model  # noqa: E402
from reproduce.optimizers import ScheduledMomentumSGD  # noqa: E402
from reproduce.schedules import learning_rate_at  # noqa: E402
from reproduce.training import epoch_batches  # noqa: E402


class NaivePerBatchDecay(keras.callbacks.Callback):
    """The article's callback: a Python hook after every batch that sets the rate."""

    def __init__(self):
        super().__init__()
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.model.optimizer.learning_rate.assign(learning_rate_at(self.step))


def throughput(kind: str, model: str, x, y, epochs: int, jit: bool) -> float:
    keras.utils.set_random_seed(1)
    net = paper_model(model, x.shape[1], seed=1)
    if kind == "package":
        net.compile(ScheduledMomentumSGD(0.05, 0.9), "binary_crossentropy",
                    steps_per_execution=100, jit_compile=jit)
        callbacks = [PerBatchLearningRateDecay(), MomentumRamp()]
    else:
        net.compile(keras.optimizers.SGD(0.05, momentum=0.9), "binary_crossentropy",
                    steps_per_execution=1, jit_compile="auto")
        callbacks = [NaivePerBatchDecay()]
        net.fit(x, y, batch_size=100, epochs=1, shuffle=True, verbose=0, callbacks=callbacks)
        t0 = time.perf_counter()
        net.fit(x, y, batch_size=100, epochs=epochs, shuffle=True, verbose=0,
                callbacks=callbacks)
        return epochs * len(x) / (time.perf_counter() - t0)
    steps = len(x) // 100
    ds = epoch_batches(x, y, seed=1, first_epoch=0, last_epoch=epochs + 1, batch_size=100)
    # first epoch: tracing and compilation, not timed
    net.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=callbacks)
    t0 = time.perf_counter()
    net.fit(ds, epochs=epochs + 1, initial_epoch=1, steps_per_epoch=steps, verbose=0,
            callbacks=callbacks)
    return epochs * steps * 100 / (time.perf_counter() - t0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-jit", action="store_true")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.rows, 28)).astype(np.float32)
    y = (rng.random(args.rows) < 0.53).astype(np.float32)
    print(f"# training throughput, batch 100, {args.rows:,} rows x 28, "
          f"{os.cpu_count()} CPUs, median of {args.repeats}\n")
    print("| model | package ex/s | naive ex/s | ratio | full-HIGGS epoch (10M rows) |")
    print("|---|---:|---:|---:|---:|")
    for model in ("shallow", "deep"):
        fast = [throughput("package", model, x, y, args.epochs, not args.no_jit)
                for _ in range(args.repeats)]
        slow = [throughput("naive", model, x, y, args.epochs, False)
                for _ in range(args.repeats)]
        f, s = statistics.median(fast), statistics.median(slow)
        print(f"| {model} | {f:,.0f} | {s:,.0f} | {f / s:.2f}x | {10_000_000 / f / 60:.1f} min |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
