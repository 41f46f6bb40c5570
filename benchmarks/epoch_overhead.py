"""The fixed cost of an epoch: a demo-sized run through ``train_run``, with the per-epoch
evaluations as the package makes them against Keras's own way, on Keras's TensorFlow
backend.

An epoch of the demo (9k training events, 90 minibatches) trains in a few tens of ms; the
rest of its time is what every epoch pays whatever its size: the validation loss and AUC,
the train monitor's, the checkpoints. Two ways, taking turns, each in a fresh process:

  * ``Keras's evaluate``: ``fit`` given the validation arrays and
    ``validation_batch_size``, and the train monitor calling ``model.evaluate`` on its
    rows (how both were made before 2026-12-07);
  * ``package``: ``reproduce.train.backend_setup.validation_data`` (one ``tf.data``
    dataset of the same batches) and ``TrainSubsetMonitor``'s own compiled ``test_step``
    on batches made once.

Both log the same values bit for bit (``tests/test_callbacks.py``; this script checks the
logs too). Each process converts nothing (the sample's shards are written once), trains
the demo preset's schedule on the embedded sample for ``--epochs`` epochs at one thread,
and reports the median of its epochs' wall times after the first (which compiles). Prints
a Markdown table: medians over ``--repeats``, and the median of the paired ratios.

    python benchmarks/epoch_overhead.py [--epochs 30] [--repeats 3] [--models shallow,deep]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The demo preset's schedule (workflow/presets/demo.yaml), one thread per training.
DEMO = {"momentum_saturation_epochs": 29, "learning_rate_decay_factor": 1.001556766,
        "standardize": "zscore", "threads": 1}


def keras_way() -> None:
    """The evaluations as Keras makes them from arrays, in this process."""
    from reproduce.train import backend_setup, training
    from reproduce.train.callbacks import train_monitor

    def arrays(x, y, batch_size):
        return {"validation_data": (x, y.reshape(-1, 1)), "validation_batch_size": batch_size}

    def evaluate(self):
        return self.model.evaluate(self.x, self.y, batch_size=self.batch_size, verbose=0,
                                   return_dict=True)

    backend_setup.validation_data = training.validation_data = arrays
    train_monitor.TrainSubsetMonitor.evaluate_rows = evaluate


def worker(way: str, model: str, shards: str, out: str, epochs: int) -> None:
    """Train one demo run in this process; print its epochs' wall times (JSON)."""
    from reproduce.datasets import get_dataset
    from reproduce.train.settings import TrainingSettings
    from reproduce.train.training import train_run

    if way == "keras":
        keras_way()
    settings = TrainingSettings.from_dict(DEMO | {"max_epochs": epochs})
    train_run(shards, Path(out), spec=get_dataset("HIGGS", {"source": "sample"}),
              model=model, feature_set="complete", seed=1, settings=settings, verbose=0)
    with open(Path(out) / "log.csv") as f:
        rows = list(csv.DictReader(f))
    walls = [float(r["wall_time"]) for r in rows]
    print(json.dumps({"epoch_s": [b - a for a, b in zip(walls, walls[1:])],
                      "log": [{k: v for k, v in r.items() if k != "wall_time"}
                              for r in rows]}))


def run(way: str, model: str, shards: Path, folder: Path, epochs: int) -> dict:
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, __file__, "--worker", way, model, str(shards),
                          str(folder), str(epochs)], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="shallow,deep")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        way, model, shards, out, epochs = args.worker
        return worker(way, model, shards, out, int(epochs))

    from reproduce.data.tfrecords import write_tfrecord_shards
    from reproduce.datasets import get_dataset

    tmp = Path(tempfile.mkdtemp(prefix="epoch_overhead-"))
    shards = tmp / "shards"
    write_tfrecord_shards(REPO / "data" / "higgs-sample.csv.gz", shards,
                          get_dataset("HIGGS", {"source": "sample"}), rows_per_shard=4000,
                          rows_per_record=256)
    print(f"{args.epochs} epochs of the demo's schedule on the sample (90 minibatches of 100 "
          f"per epoch), one thread, medians over {args.repeats} runs of each way\n")
    print("| model | Keras's evaluate: s per epoch (range) | package: s per epoch (range) "
          "| Keras's / package's (paired) | the demo's 78 epochs: seconds saved per run |")
    print("|---|---:|---:|---:|---:|")
    for model in args.models.split(","):
        per_way = {"keras": [], "package": []}
        for i in range(args.repeats):
            logs = {}
            for way in per_way:
                result = run(way, model, shards, tmp / f"{model}-{way}-{i}", args.epochs)
                per_way[way].append(statistics.median(result["epoch_s"]))
                logs[way] = result["log"]
            if logs["keras"] != logs["package"]:
                sys.exit(f"{model}: the two ways logged different values")
        keras_s, ours = per_way["keras"], per_way["package"]
        ratio = statistics.median(k / p for k, p in zip(keras_s, ours))
        saved = 78 * (statistics.median(keras_s) - statistics.median(ours))
        print(f"| {model} | {statistics.median(keras_s):.3f} ({min(keras_s):.3f}-"
              f"{max(keras_s):.3f}) | {statistics.median(ours):.3f} ({min(ours):.3f}-"
              f"{max(ours):.3f}) | {ratio:.2f}x | {saved:.1f} |")


if __name__ == "__main__":
    main()
