"""The cost estimate's seconds per epoch against real training epochs on this machine.

For each network (``--models``, default shallow and deep, complete feature set):
  * predicted: ``reproduce.estimate.plan``, the per-network timing that
    ``python -m reproduce estimate`` prints (a few hundred real SGD steps on random data,
    validation and train-monitor scoring, the per-epoch checkpoint), for a config whose
    HIGGS data set has ``--rows`` rows split as the paper's (1/22 validation, 1/22 test);
  * measured: ``reproduce.train.training.train_run`` (what the train rule calls) on a real file
    of that many rows, with the settings the estimate timed: ``--epochs`` epochs (default 4),
    from the run's ``log.csv`` (``wall_time`` at the end of each epoch: an epoch's
    difference holds its training and validation, and the train monitor and state
    checkpoint of the epoch before). The seconds per epoch are the median from the third
    epoch on: the first compiles the training step, the second holds the first train
    monitor (its compilation) and the first checkpoint. The estimate counts compilation
    once per run, apart from the epochs; both one-off epochs are shown beside.

The file is resampled from the embedded real sample by ``benchmarks/conversion.py``'s
``build_file`` (the UCI layout) and converted with ``write_tfrecord_shards``. Each round
(``--repeats``, default 3) runs the estimate's timing once for all networks, then trains each
network once; the table gives medians over the rounds, with the ranges, and the median of
the rounds' ratios measured / predicted (1.00: the estimate is exact; above 1: it is
optimistic). The load average is printed at the start and the end: on a shared machine
both sides are inflated, not necessarily alike.

    python benchmarks/estimate_check.py [--rows 200000] [--repeats 3] [--models shallow,deep]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import yaml  # noqa: E402

from conversion import build_file  # noqa: E402  (benchmarks/conversion.py)
from reproduce.__main__ import active_config  # noqa: E402
from reproduce.datasets import get_dataset  # noqa: E402
from reproduce.estimate import plan  # noqa: E402
from reproduce.train.settings import settings_for  # noqa: E402
from reproduce.model_registry import parse_model_name  # noqa: E402
from reproduce.data.tfrecords import write_tfrecord_shards  # noqa: E402
from reproduce.train.training import train_run  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out" / "estimate_check"
FEATURES = "complete"


def paper_splits(rows: int) -> dict:
    """The paper's proportions, as ``full_scale.py``: 1/22 validation, 1/22 test, at the end."""
    held = rows // 22
    return {"train": [0, rows - 2 * held], "valid": [rows - 2 * held, rows - held],
            "test": [rows - held, rows]}


def check_config(rows: int, models: list[str]) -> dict:
    """The validated config of the workflow with a HIGGS data set of ``rows`` rows."""
    text = yaml.safe_dump({
        "datasets": ["HIGGS"],
        "dataset_overrides": {"HIGGS": {"rows": rows, "splits": paper_splits(rows)}},
        "models": {"HIGGS": models}, "feature_sets": [FEATURES], "seeds": [1],
        "bdt": {"enabled": False}})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "estimate_check.yaml"
        path.write_text(text)
        with contextlib.chdir(REPO):  # the workflow's config.yaml, schema and presets
            return active_config([str(path)], [])


def measured_epoch_seconds(shards: Path, run_dir: Path, config: dict, network: str,
                           epochs: int) -> tuple[float, float, float]:
    """Seconds per epoch of a real ``train_run``: (the median from the third epoch on, the
    first, the second)."""
    shutil.rmtree(run_dir, ignore_errors=True)  # train_run would resume a saved state
    settings = dataclasses.replace(
        settings_for(network, config["training"], threads=config["compute"]["train_threads"]),
        max_epochs=epochs)
    spec = get_dataset("HIGGS", config["dataset_overrides"]["HIGGS"])
    train_run(shards, run_dir, spec=spec, model=parse_model_name(network)["model"],
              feature_set=FEATURES, seed=1, settings=settings, verbose=0)
    with open(run_dir / "log.csv") as f:
        wall = [float(row["wall_time"]) for row in csv.DictReader(f)]
    seconds = [wall[0]] + [b - a for a, b in zip(wall, wall[1:])]
    return statistics.median(seconds[2:]), seconds[0], seconds[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="at least 3")
    parser.add_argument("--models", default="shallow,deep")
    args = parser.parse_args(argv)
    if args.epochs < 3:
        parser.error(f"--epochs: the first two carry one-off costs, so at least 3; got "
                     f"{args.epochs}")
    models = args.models.split(",")
    started, load_start = time.perf_counter(), os.getloadavg()

    OUT.mkdir(parents=True, exist_ok=True)
    config = check_config(args.rows, models)
    spec = get_dataset("HIGGS", config["dataset_overrides"]["HIGGS"])
    shards = OUT / f"tfrecords-{args.rows}"
    if not (shards / "statistics.json").exists():
        shutil.rmtree(shards, ignore_errors=True)
        write_tfrecord_shards(build_file(args.rows, OUT), shards, spec)

    predicted = {m: [] for m in models}
    measured = {m: [] for m in models}
    first = {m: [] for m in models}
    second = {m: [] for m in models}
    for round_ in range(args.repeats):
        estimate = plan(config)
        for network in models:
            predicted[network].append(estimate.epoch_seconds["HIGGS", network, FEATURES])
            later, one, two = measured_epoch_seconds(shards, OUT / "run", config, network,
                                                     args.epochs)
            measured[network].append(later)
            first[network].append(one)
            second[network].append(two)
            print(f"round {round_ + 1}: {network}: predicted {predicted[network][-1]:.2f} s, "
                  f"measured {later:.2f} s per epoch (epoch 1 {one:.2f} s, 2 {two:.2f} s)",
                  file=sys.stderr, flush=True)

    load_end = os.getloadavg()
    n = spec.splits["train"][1] - spec.splits["train"][0]
    print(f"\n# estimate check: HIGGS layout, {args.rows:,} rows ({n:,} training, complete "
          f"features), {config['compute']['train_threads']} training threads, "
          f"{os.cpu_count()} CPUs; median of {args.repeats} rounds; load average "
          f"{load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end; "
          f"{time.perf_counter() - started:.0f} s in all\n")
    print("| network | predicted s per epoch (range) | measured s per epoch, epochs 3-"
          f"{args.epochs} (range) | measured / predicted | measured epoch 1 | measured "
          "epoch 2 |")
    print("|---|---:|---:|---:|---:|---:|")
    for network in models:
        p, m = predicted[network], measured[network]
        ratio = statistics.median(b / a for a, b in zip(p, m))
        print(f"| {network} | {statistics.median(p):.2f} ({min(p):.2f}-{max(p):.2f}) | "
              f"{statistics.median(m):.2f} ({min(m):.2f}-{max(m):.2f}) | {ratio:.2f} | "
              f"{statistics.median(first[network]):.2f} | "
              f"{statistics.median(second[network]):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
