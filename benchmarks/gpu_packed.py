"""Packed training on a GPU with Keras's JAX backend, without TensorFlow: equality and speed.

Runs where JAX sees a GPU and TensorFlow is absent (Keras, namex and optree are all it
needs besides JAX and numpy). On synthetic rows of the HIGGS width (28 features), it
prints three tables:

1. Equality: for the shallow and the deep net, the 15 runs of Table 1 (5 seeds x the low,
   high and complete feature sets) trained unpacked, one Keras model each, and as one pack
   (``reproduce.train.packed``), from the same initial weights on the same minibatches
   (the shared order), at ``highest`` matmul precision: the largest relative difference
   of every replica's weights and final loss from its unpacked run.
2. Speed: seconds per 10M-row epoch of the hand-written JAX step
   (``benchmarks/gpu_step_jax.py``: its epoch includes a validation pass over rows/20 and
   the 100k-row monitor), of one unpacked Keras run, and of packs of 1, 5 and 15 replicas
   (training only, blocks of 1000 minibatches of 100 in one jitted ``lax.scan``, the
   package's schedules and per-replica loss and AUC), at the default matmul precision;
   ``runs/s`` relative to one unpacked run (a pack of R trains R runs).
3. Table 1's projected GPU-hours: 2 networks x 15 runs x the package's epochs
   (``reproduce.train.schedules.AUTHORS_EPOCHS``) of 10M rows, unpacked and packed.

Each row is printed (flushed) as soon as it is measured, and ``--json PATH`` rewrites PATH
with everything so far after each measurement, so a run stopped at a lent machine's time
limit keeps what it measured. Without ``--quick`` it stops at once where JAX sees no GPU
(the full sizes take hours on a CPU; ``--allow-cpu`` runs them anyway).

    python benchmarks/gpu_packed.py --json gpu_packed.json   # about 6 minutes on one H200
    python benchmarks/gpu_packed.py --quick    # tiny sizes, any CPU: checks it runs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's package

from reproduce.backend import select_backend  # noqa: E402

select_backend("jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from reproduce.train.auc import RunAUC  # noqa: E402
from reproduce.train.batch_order import SharedBatchOrder  # noqa: E402
from reproduce.train.block_steps import blocks_per_epoch  # noqa: E402
from reproduce.train.block_steps_jax import enable_block_steps_jax  # noqa: E402
from reproduce.train.callbacks import MomentumRamp, PerBatchLearningRateDecay  # noqa: E402
from reproduce.train.jax_batches import epoch_block_arrays  # noqa: E402
from reproduce.train.models import paper_model  # noqa: E402
from reproduce.train.optimizers import ScheduledMomentumSGD  # noqa: E402
from reproduce.train.packed import compile_packed, pack, unpack  # noqa: E402
from reproduce.train.schedules import AUTHORS_EPOCHS, BATCH_SIZE  # noqa: E402
from reproduce.train.settings import TrainingSettings  # noqa: E402

N_FEATURES = 28  # HIGGS
FEATURE_SETS = {"low": list(range(21)), "high": list(range(21, 28)),
                "complete": list(range(28))}
NETWORKS = {"shallow": (300,), "deep": (300,) * 4}
EPOCH_ROWS = 10_000_000  # a Table 1 epoch, about HIGGS's training split
TABLE1_RUNS = 15  # per network: 5 seeds x 3 feature sets


def synthetic_rows(rows: int, seed: int = 0):
    """(x, y): standard normal features of the HIGGS width, labels from a noisy rule."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES)).astype(np.float32)
    y = (x[:, :3].sum(axis=1) + rng.normal(size=rows) > 0).astype(np.float32)
    return x, y


def unpacked_net(network: str, n_inputs: int, seed: int):
    """One run's network, compiled as ``compile_for_training`` compiles it."""
    net = paper_model(network, n_inputs, seed=seed)
    net.compile(ScheduledMomentumSGD(), loss=keras.losses.BinaryCrossentropy(),
                metrics=[RunAUC(200, name="auc")],
                steps_per_execution=1, jit_compile=True)
    return net


class EpochSeconds(keras.callbacks.Callback):
    """Wall seconds of each epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def fit_blocks(net, x, y, epochs: int, block: int):
    """Train ``net`` for ``epochs`` on the shared order's blocks; (history, epoch seconds)."""
    enable_block_steps_jax(net)
    times = EpochSeconds()
    blocks = epoch_block_arrays(x, y, order=SharedBatchOrder(len(x)), first_epoch=0,
                                last_epoch=epochs, batch_size=BATCH_SIZE, block_size=block)
    history = net.fit(blocks, epochs=epochs,
                      steps_per_epoch=blocks_per_epoch(len(x), BATCH_SIZE, block),
                      shuffle=False, verbose=0,
                      callbacks=[PerBatchLearningRateDecay(), MomentumRamp(), times])
    return history.history, times.seconds


def replica_runs(seeds: int):
    """(seed, feature set name, columns) of each run of one network of Table 1."""
    return [(seed, name, cols) for seed in range(1, seeds + 1)
            for name, cols in FEATURE_SETS.items()]


def relative_difference(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def equality(network: str, x, y, *, seeds: int, epochs: int, block: int) -> dict:
    """Every replica of a pack of the network's runs against its unpacked run."""
    runs = replica_runs(seeds)
    nets = [unpacked_net(network, len(cols), seed) for seed, _, cols in runs]
    packed = compile_packed(pack(nets, [cols for _, _, cols in runs], N_FEATURES))
    packed_history, _ = fit_blocks(packed, x, y, epochs, block)
    weights, losses = [], []
    for r, (net, (_, _, cols)) in enumerate(zip(nets, runs)):
        history, _ = fit_blocks(net, x[:, cols], y, epochs, block)
        replica = unpack(packed, r).get_weights()
        weights.append(max(relative_difference(a, b)
                           for a, b in zip(replica, net.get_weights(), strict=True)))
        losses.append(relative_difference(packed_history["replica_loss"][-1][r],
                                          history["loss"][-1]))
    steps = epochs * blocks_per_epoch(len(x), BATCH_SIZE, 1)
    return {"network": network, "replicas": len(runs), "steps": steps,
            "weights": max(weights), "loss": max(losses),
            "worst_replica": int(np.argmax(weights))}


def keras_epoch_seconds(network: str, replicas: int | None, x, y, block: int) -> float:
    """Seconds of a steady epoch (the second; the first compiles): one unpacked run
    (``replicas`` None) or a pack of ``replicas`` runs on the feature sets in turn."""
    if replicas is None:
        net = unpacked_net(network, N_FEATURES, seed=1)
    else:
        cols = [list(FEATURE_SETS.values())[r % 3] for r in range(replicas)]
        nets = [paper_model(network, len(c), seed=r + 1) for r, c in enumerate(cols)]
        net = compile_packed(pack(nets, cols, N_FEATURES))
    _, seconds = fit_blocks(net, x, y, 2, block)
    return seconds[-1]


def hand_step_seconds(network: str, rows: int) -> float:
    """Seconds per 10M-row epoch of ``benchmarks/gpu_step_jax.py``'s hand-written step."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import gpu_step_jax

    result = gpu_step_jax.time_model(network, NETWORKS[network], rows, 1,
                                     jax.random.PRNGKey(1))
    return result["seconds_per_10M_epoch"]


def speed(network: str, x, y, *, packs, block: int, emit=None) -> list[dict]:
    """Rows of the speed table for one network: seconds per 10M-row epoch and runs/s
    (relative to the unpacked Keras run, measured first), each passed to ``emit`` as soon
    as it is measured."""
    scale = EPOCH_ROWS / len(x)
    measurements = [("Keras, unpacked", 1,
                     lambda: keras_epoch_seconds(network, None, x, y, block) * scale),
                    ("hand-written JAX step", 1, lambda: hand_step_seconds(network, len(x)))]
    measurements += [(f"Keras, pack of {r}", r,
                      lambda r=r: keras_epoch_seconds(network, r, x, y, block) * scale)
                     for r in packs]
    rows = []
    for what, runs, measure in measurements:
        row = {"what": what, "runs": runs, "seconds": measure()}
        row["relative_runs_per_s"] = runs * (rows or [row])[0]["seconds"] / row["seconds"]
        rows.append(row)
        if emit is not None:
            emit(network, row)
    return rows


def projected_hours(speeds: dict, epochs: int = AUTHORS_EPOCHS) -> dict:
    """Table 1's GPU-hours: for each network 15 runs of ``epochs`` 10M-row epochs,
    unpacked (15 runs one after the other) and as the largest pack (in packs of it)."""
    hours = {"hand-written JAX step": 0.0, "Keras, unpacked": 0.0}
    largest = max((row for rows in speeds.values() for row in rows),
                  key=lambda row: row["runs"])["what"]
    hours[largest] = 0.0
    for rows in speeds.values():
        for row in rows:
            if row["what"] in hours:
                packs = -(-TABLE1_RUNS // row["runs"])
                hours[row["what"]] += packs * row["seconds"] * epochs / 3600
    return hours


def say(text: str = "") -> None:
    """Print at once: on a lent machine a run cut at its time limit keeps what it printed."""
    print(text, flush=True)


class Results:
    """The tables as they are measured, also written whole to ``path`` (JSON) after each
    measurement when a path is given (``--json``)."""

    def __init__(self, path: str | None, header: dict):
        self.path, self.data = path, {**header, "checks": [], "speeds": {}, "hours": None}

    def add(self, key: str, value, network: str | None = None) -> None:
        if key == "speeds":
            self.data["speeds"].setdefault(network, []).append(value)
        elif key == "checks":
            self.data["checks"].append(value)
        else:
            self.data[key] = value
        if self.path:
            import json
            import os

            tmp = f"{self.path}.part"
            with open(tmp, "w") as f:
                json.dump(self.data, f, indent=1)
            os.replace(tmp, self.path)


def print_device() -> dict:
    import json

    from reproduce.train.device import device_record, device_summary

    device = device_record(0)  # what a run's metrics.json records, here on this machine
    say(f"\n## Device, as a run's metrics.json records it\n\n{device_summary(device)}\n\n"
        f"    {json.dumps(device)}")
    return device


def check_row(c: dict) -> str:
    return (f"| {c['network']} | {c['replicas']} | {c['steps']:,} | {c['weights']:.1e} "
            f"| {c['loss']:.1e} |")


def speed_row(network: str, row: dict) -> str:
    return (f"| {network} | {row['what']} | {row['seconds']:.2f} "
            f"| {row['relative_runs_per_s']:.2f}x |")


def arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (any CPU): 1 seed, 1 epoch, a pack of 3")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="run the full sizes although JAX sees no GPU (hours on a CPU)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write every table to PATH (JSON), after each measurement")
    parser.add_argument("--check-rows", type=int, default=20_000)
    parser.add_argument("--check-epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows timed per epoch")
    parser.add_argument("--packs", type=int, nargs="+", default=[1, 5, 15])
    parser.add_argument("--block", type=int, default=TrainingSettings().steps_per_execution,
                        help="minibatches per call (default the package's "
                             "training.steps_per_execution)")
    args = parser.parse_args(argv)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        parser.error(f"--json {args.json}: no folder {Path(args.json).resolve().parent}")
    if args.quick:
        args.check_rows, args.check_epochs, args.seeds = 1_000, 1, 1
        args.rows, args.packs, args.block = 10_000, [3], 10
    elif not args.allow_cpu and jax.default_backend() != "gpu":
        parser.error(f"JAX sees no GPU (devices: {jax.devices()}): the full sizes would "
                     f"take hours here. --quick checks the script on this CPU; --allow-cpu "
                     f"runs the full sizes anyway")
    return args


def main(argv=None):
    args = arguments(argv)
    say(f"devices: {jax.devices()} | keras {keras.__version__} on "
        f"{keras.backend.backend()} | jax {jax.__version__}")
    start = time.perf_counter()
    results = Results(args.json, {"jax": jax.__version__, "keras": keras.__version__,
                                  "devices": [str(d) for d in jax.devices()],
                                  "arguments": vars(args)})
    results.add("device", print_device())

    say(f"\n## Packed against unpacked, matmul precision 'highest' ({args.check_rows:,} "
        f"rows, {args.check_epochs} epochs)\n")
    say("| network | replicas | SGD steps | max rel. weight diff | max rel. loss diff |")
    say("|---|---|---|---|---|")
    x, y = synthetic_rows(args.check_rows)
    with jax.default_matmul_precision("highest"):
        for network in NETWORKS:
            check = equality(network, x, y, seeds=args.seeds, epochs=args.check_epochs,
                             block=args.block)
            results.add("checks", check)
            say(check_row(check))

    say(f"\n## Seconds per {EPOCH_ROWS:,}-row epoch (timed on {args.rows:,} rows, "
        f"default precision, blocks of {args.block} minibatches)\n")
    say("| network | what | s per 10M-row epoch | runs/s vs one unpacked run |")
    say("|---|---|---|---|")

    def emit(network, row):
        results.add("speeds", row, network)
        say(speed_row(network, row))

    x, y = synthetic_rows(args.rows, seed=1)
    speeds = {n: speed(n, x, y, packs=args.packs, block=args.block, emit=emit)
              for n in NETWORKS}

    hours = projected_hours(speeds)
    results.add("hours", hours)
    say(f"\n## Table 1 projected: 2 networks x {TABLE1_RUNS} runs x {AUTHORS_EPOCHS} "
        f"epochs of {EPOCH_ROWS:,} rows\n")
    say("| how | GPU-hours |")
    say("|---|---|")
    for what, value in hours.items():
        say(f"| {what} | {value:.2f} |")
    results.add("tensorflow_imported", sys.modules.get("tensorflow") is not None)
    say(f"\n{time.perf_counter() - start:.0f} s in all; tensorflow imported: "
        f"{sys.modules.get('tensorflow') is not None}")


if __name__ == "__main__":
    main()
