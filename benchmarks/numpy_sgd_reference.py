"""The paper's SGD recipe written out in numpy: is the demo's shortfall the recipe's or ours?

An implementation independent of the package (no Keras, no TFRecords, no callbacks) of the
shallow network as the authors trained it: 28-300-1 tanh / sigmoid, weights N(0, 0.1) and
N(0, 0.001), zero biases, cross-entropy plus 1e-5 sum W^2, minibatches of 100 in a fresh
permutation per epoch, momentum v <- m v - lr g, w <- w + v with m = 0.9 + 0.09 min((e + 1)
/ ramp, 1) in epoch e (0-based, as Pylearn2 applied its ``MomentumAdjustor``), learning rate
0.05 divided by the per-batch factor after every batch, floor 1e-6. The schedule is the
demo's rule at compression c (``ceil(541 / c)`` epochs, ramp ``round(200 / c)``, per-epoch
decay ``e**(0.02 c)``, per batch over the fold's epoch), written here from docs/demo.md, not
imported. The folds are ``benchmarks/demo_fidelity.py``'s (the sample's rows, the fold's
test block, the 1,000 rows before it as validation, the rest for training); the AUC is
scikit-learn's on the fold's test rows. Inputs: ``none`` (the UCI values, as the authors
fed them) or ``zscore`` (mean 0 / std 1 per feature on the training rows).

    python benchmarks/numpy_sgd_reference.py [--compression 7] [--seed 1] \\
        [--standardize none,zscore]

Compare with ``demo_fidelity.py --preset demo`` (the package's NN on the same folds) and
its scikit-learn references.
"""

from __future__ import annotations

import argparse
import gzip
import math
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_fidelity import SAMPLE, fold_bounds, rotated_order  # noqa: E402


def train_shallow(x, y, *, seed: int, compression: float, hidden: int = 300,
                  batch: int = 100) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    params = [rng.normal(0.0, 0.1, (x.shape[1], hidden)), np.zeros(hidden),
              rng.normal(0.0, 0.001, (hidden, 1)), np.zeros(1)]
    velocity = [np.zeros_like(p) for p in params]
    batches = math.ceil(len(x) / batch)
    factor = math.exp(0.02 * compression / batches)
    epochs, ramp = math.ceil(541 / compression), max(1, round(200 / compression))
    step = 0
    for epoch in range(epochs):
        momentum = 0.9 + 0.09 * min((epoch + 1) / ramp, 1.0)
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            xb, yb = x[idx], y[idx, None]
            w1, b1, w2, b2 = params
            h = np.tanh(xb @ w1 + b1)
            p = 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))
            dz = (p - yb) / len(idx)  # d(mean cross-entropy) / d(logit)
            dh = (dz @ w2.T) * (1.0 - h * h)
            grads = [xb.T @ dh + 2e-5 * w1, dh.sum(0), h.T @ dz + 2e-5 * w2, dz.sum(0)]
            rate = max(0.05 / factor ** step, 1e-6)
            for v, g, w in zip(velocity, grads, params):
                v *= momentum
                v -= rate * g
                w += v
            step += 1
    return params


def main(argv=None) -> int:
    from sklearn.metrics import roc_auc_score

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compression", type=float, default=7)
    parser.add_argument("--seed", default="1")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--valid-rows", type=int, default=1000)
    parser.add_argument("--standardize", default="none,zscore")
    args = parser.parse_args(argv)
    table = np.loadtxt(gzip.open(SAMPLE, "rt"), delimiter=",")
    n = len(table)
    print("| inputs | folds x seeds | numpy SGD, NN complete: test AUC mean (std) | per fold |")
    print("|---|---|---|---|")
    for method in args.standardize.split(","):
        aucs = []
        for k, test in enumerate(fold_bounds(n, args.folds)):
            order = rotated_order(n, test)
            n_test = test[1] - test[0]
            n_train = n - n_test - args.valid_rows
            x, y = table[order[:n_train], 1:], table[order[:n_train], 0]
            x_test, y_test = table[order[n - n_test:], 1:], table[order[n - n_test:], 0]
            if method == "zscore":
                mean, std = x.mean(axis=0), x.std(axis=0)
                x, x_test = (x - mean) / std, (x_test - mean) / std
            elif method != "none":
                parser.error(f"--standardize: none or zscore, got {method!r}")
            for seed in (int(s) for s in args.seed.split(",")):
                w1, b1, w2, b2 = train_shallow(x, y, seed=seed, compression=args.compression)
                aucs.append(roc_auc_score(y_test, (np.tanh(x_test @ w1 + b1) @ w2 + b2).ravel()))
        print(f"| {method} | {len(aucs)} | {statistics.mean(aucs):.3f} "
              f"({statistics.stdev(aucs):.3f}) | {', '.join(f'{a:.3f}' for a in aucs)} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
