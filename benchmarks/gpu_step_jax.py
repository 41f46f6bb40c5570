"""The paper's training step on a GPU, timed in JAX: a planning number, not the package.

The package trains with TensorFlow; the GPU machines this project was lent had JAX and
PyTorch but no TensorFlow, and TensorFlow's CUDA libraries could not be brought to them.
This script therefore times the same computation written in JAX, organized as the
package organizes it (``reproduce/train/block_steps.py``): the training split on the device,
each epoch's permutation gathered inside one compiled loop, blocks of 100 minibatches of
100 rows, each minibatch one momentum-SGD update with the per-batch learning rate computed
from the step counter, the loss being cross-entropy plus 1e-5 * sum(W^2); then the
validation pass (500k rows) and the "train" monitor (100k rows) of every epoch. It prints
seconds per 10M-row epoch for the shallow and the deep net, and the implied hours for 1000
epochs. Run it where JAX sees a GPU (``python benchmarks/gpu_step_jax.py``); on a CPU it
runs too (use ``--rows`` small).

What it does not measure: TensorFlow's own GPU speed for the package's code path, and the
input pipeline (here the data start on the device).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

BATCH, BLOCK = 100, 100
DECAY, FLOOR, LR0, WD = 1.0000002, 1e-6, 0.05, 1e-5


def init(key, n_in, hidden):
    params, sizes = [], [n_in, *hidden, 1]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        key, sub = jax.random.split(key)
        std = 0.1 if i == 0 else (0.001 if i == len(sizes) - 2 else 0.05)
        params.append((std * jax.random.normal(sub, (a, b)), jnp.zeros((b,))))
    return params


def logits(params, x):
    for w, b in params[:-1]:
        x = jnp.tanh(x @ w + b)
    w, b = params[-1]
    return (x @ w + b)[:, 0]


def cost(params, x, y):
    z = logits(params, x)
    cross_entropy = jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))
    return cross_entropy + WD * sum(jnp.sum(w * w) for w, _ in params)


grad = jax.grad(cost)
THRESHOLDS = 200  # Keras's AUC(num_thresholds=200), the package's training metric


def cost_and_logits(params, x, y):
    z = logits(params, x)
    cross_entropy = jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))
    return cross_entropy + WD * sum(jnp.sum(w * w) for w, _ in params), z


cost_grad_logits = jax.value_and_grad(cost_and_logits, has_aux=True)


def _epoch(params, velocity, step, momentum, x, y, perm, metrics: bool):
    """One epoch: scan over blocks of BLOCK minibatches, each a momentum-SGD update; with
    ``metrics``, also the epoch's mean cost and, per score bin of THRESHOLDS, the counts of
    signal and background (the confusion matrices of a THRESHOLDS-point AUC are their
    cumulative sums), as the package's training metrics."""
    blocks = perm.reshape(-1, BLOCK, BATCH)

    def minibatch(carry, idx):
        p, v, t, loss, hist = carry
        lr = jnp.maximum(LR0 * jnp.exp(-t.astype(jnp.float32) * math.log(DECAY)), FLOOR)
        yb = y[idx]
        if metrics:
            (c, z), g = cost_grad_logits(p, x[idx], yb)
            bins = jnp.clip((jax.nn.sigmoid(z) * (THRESHOLDS - 1)).astype(jnp.int32), 0,
                            THRESHOLDS - 1)
            hist = hist.at[yb.astype(jnp.int32), bins].add(1.0)
            loss = loss + c
        else:
            g = grad(p, x[idx], yb)
        v = jax.tree.map(lambda vi, gi: momentum * vi - lr * gi, v, g)
        p = jax.tree.map(lambda pi, vi: pi + vi, p, v)
        return (p, v, t + 1, loss, hist), None

    def block(carry, idx_block):
        return jax.lax.scan(minibatch, carry, idx_block)[0], None

    carry = (params, velocity, step, jnp.zeros(()), jnp.zeros((2, THRESHOLDS)))
    params, velocity, step, loss, hist = jax.lax.scan(block, carry, blocks)[0]
    return params, velocity, step, loss / (perm.shape[0] // BATCH), hist


@jax.jit
def train_epoch(params, velocity, step, momentum, x, y, perm):
    """One epoch of updates, nothing else."""
    return _epoch(params, velocity, step, momentum, x, y, perm, metrics=False)[:3]


@jax.jit
def train_epoch_with_metrics(params, velocity, step, momentum, x, y, perm):
    """One epoch of updates with the package's outputs: (params, velocity, step, mean cost,
    score histogram of background and signal)."""
    return _epoch(params, velocity, step, momentum, x, y, perm, metrics=True)


@jax.jit
def evaluate(params, x, y):
    return cost(params, x, y)


def time_model(name, hidden, rows, epochs, key):
    n_in = 28
    kx, ky, kp = jax.random.split(key, 3)
    x = jax.random.normal(kx, (rows, n_in), jnp.float32)
    y = (jax.random.uniform(ky, (rows,)) < 0.53).astype(jnp.float32)
    xv, yv = x[:rows // 20], y[:rows // 20]  # 500k of 10M, as the validation split
    params = init(kp, n_in, hidden)
    velocity = jax.tree.map(jnp.zeros_like, params)
    step = jnp.zeros((), jnp.int32)
    rng = np.random.RandomState([2012, 10, 5])
    seconds = []
    for epoch in range(epochs + 1):  # the first epoch compiles
        perm = np.arange(rows)
        rng.shuffle(perm)
        perm = jnp.asarray(perm[: rows - rows % (BATCH * BLOCK)], jnp.int32)
        start = time.perf_counter()
        params, velocity, step = train_epoch(params, velocity, step, 0.9, x, y, perm)
        valid = evaluate(params, xv, yv)
        monitor = evaluate(params, x[:100_000], y[:100_000])
        jax.block_until_ready((params, valid, monitor))
        if epoch:
            seconds.append(time.perf_counter() - start)
    per_epoch = float(np.median(seconds))
    return {"model": name, "rows": rows, "epochs_timed": epochs,
            "seconds_per_epoch": per_epoch,
            "examples_per_s": rows / per_epoch,
            "seconds_per_10M_epoch": per_epoch * 1e7 / rows,
            "hours_for_1000_epochs_of_10M": per_epoch * 1e7 / rows * 1000 / 3600,
            "finite": bool(np.isfinite(float(valid)))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    print("devices:", jax.devices())
    results = [time_model(name, hidden, args.rows, args.epochs, jax.random.PRNGKey(1))
               for name, hidden in (("shallow", (300,)), ("deep", (300,) * 4))]
    print(f"{'model':8} {'rows':>11} {'s/epoch':>9} {'ex/s':>12} {'s per 10M':>10} "
          f"{'h per 1000 epochs':>18}")
    for r in results:
        print(f"{r['model']:8} {r['rows']:>11,} {r['seconds_per_epoch']:>9.2f} "
              f"{r['examples_per_s']:>12,.0f} {r['seconds_per_10M_epoch']:>10.1f} "
              f"{r['hours_for_1000_epochs_of_10M']:>18.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"devices": [str(d) for d in jax.devices()], "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    main()
