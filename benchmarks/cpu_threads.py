"""Threads per training on a CPU: one job on all cores against one job per core.

``compute.train_threads`` sets the CPU threads of each training job, and ``snakemake
--cores N`` runs N / train_threads of them at once. This measures which gives more
examples per second in all on this machine, for the paper's HIGGS nets at batch 100:

  * ``one job``: one process training at ``--cores`` threads (``train_run``'s threads:
    ``reproduce.train.backend_setup.configure_tensorflow``);
  * ``side by side``: ``--cores`` processes at once, one thread each, each pinned to its
    own core, as Snakemake runs them with ``compute.train_threads: 1``.

Each process trains the package's training path (``training_throughput.package_fit``: the
block steps, the schedules, the per-epoch loss and AUC) on the same random rows of the
HIGGS width: one untimed epoch (compilation), then ``--epochs`` timed epochs. The side-by-
side total is the sum of the processes' rates (they start together and run the same work,
so their timed epochs overlap). Prints a Markdown table with medians over ``--repeats``
(the two ways take turns) and the median of the paired ratios side by side / one job.

    python benchmarks/cpu_threads.py [--rows 200000] [--repeats 3] [--models shallow,deep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(model: str, threads: int, rows: int, epochs: int) -> None:
    """Train ``model`` in this process at ``threads`` threads; print its examples/s."""
    sys.path.insert(0, str(HERE))
    import numpy as np

    import training_throughput as tt
    from reproduce.train.backend_setup import configure_tensorflow
    from reproduce.train.settings import TrainingSettings

    configure_tensorflow(0, threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 28)).astype(np.float32)
    y = (rng.random(rows) < 0.53).astype(np.float32)
    settings = TrainingSettings(threads=threads)
    rate, _ = tt.throughput("package", model, x, y, epochs, settings,
                            settings.block_size(rows))
    print(json.dumps({"rate": rate}))


def start(model: str, threads: int, rows: int, epochs: int, core: int | None):
    command = [sys.executable, __file__, "--worker", model, str(threads), str(rows),
               str(epochs)]
    if core is not None:
        command = ["taskset", "-c", str(core), *command]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def rates(procs) -> list[float]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"a training process failed:\n{stderr[-2000:]}")
        out.append(json.loads(stdout.strip().splitlines()[-1])["rate"])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="shallow,deep")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        model, threads, rows, epochs = args.worker
        worker(model, int(threads), int(rows), int(epochs))
        return 0
    if args.cores < 2:
        parser.error("--cores must be at least 2 (one job per core against one job on all)")
    cores = sorted(os.sched_getaffinity(0))[:args.cores]
    print(f"# threads per training, TensorFlow backend, batch 100, {args.rows:,} rows x 28, "
          f"{args.cores} cores; median of {args.repeats} (the two ways take turns)\n")
    print(f"| model | one job, {args.cores} threads: ex/s (range) | {args.cores} jobs side "
          "by side, 1 thread each: ex/s in all (range) | side by side / one job (paired) |")
    print("|---|---:|---:|---:|")
    for model in args.models.split(","):
        one, side = [], []
        for _ in range(args.repeats):
            one += rates([start(model, args.cores, args.rows, args.epochs, None)])
            side.append(sum(rates([start(model, 1, args.rows, args.epochs, core)
                                   for core in cores])))
        ratio = statistics.median(b / a for a, b in zip(one, side))
        print(f"| {model} | {statistics.median(one):,.0f} ({min(one):,.0f}-{max(one):,.0f}) | "
              f"{statistics.median(side):,.0f} ({min(side):,.0f}-{max(side):,.0f}) | "
              f"{ratio:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
