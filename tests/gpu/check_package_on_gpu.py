"""The package's own training on a GPU, on Keras's JAX backend, without TensorFlow (not
collected by pytest; ``tests/test_gpu_packed.py`` runs it on the CPU).

``benchmarks/gpu_packed.py`` times packing on synthetic rows. This check runs what a
training job of the workflow runs, through the package's entry points, on real events:
the smoke preset's settings (``workflow/presets/smoke.yaml`` over ``config.yaml``) on the
embedded HIGGS sample's shards. For the shallow and the deep net it trains the 3 runs of
seed 1 (low, high, complete features) as one pack (``train_pack``, the ``train_pack`` rule's
call) and the complete-feature run alone (``train_run``, the ``train`` rule's), each into its
own run folder with every output of a workflow run. It prints one row per run (the device
its ``metrics.json`` records, epochs, test AUC, seconds) and checks:

* every run recorded the GPU (``device.kind`` "gpu"; ``--allow-cpu`` accepts the CPU);
* the packed complete-feature run's test scores equal those of the same run trained alone
  within 1e-4, at ``highest`` matmul precision (set for the whole process: on Hopper, JAX
  multiplies float32 in TF32 by default);
* TensorFlow was never imported.

The shards are made beforehand where TensorFlow is installed (the workflow's converter), and
carried to the GPU machine:

    python tests/gpu/check_package_on_gpu.py --make-shards SHARDS   # here, with TensorFlow
    python tests/gpu/check_package_on_gpu.py --shards SHARDS --out RUNS   # on the GPU

Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

FEATURE_SETS = ["low", "high", "complete"]
SEED = 1
SCORE_TOLERANCE = 1e-4


def smoke_training() -> dict:
    """The smoke preset's ``training`` section over config.yaml's (no jsonschema needed)."""
    import yaml

    from reproduce.config import deep_merge

    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    preset = yaml.safe_load((ROOT / "workflow" / "presets" / "smoke.yaml").read_text())
    return deep_merge(base, preset)["training"], preset["conversion"]


def make_shards(folder: Path) -> None:
    """The embedded sample's shards, as the smoke preset's conversion writes them."""
    from reproduce.data.tfrecords import write_tfrecord_shards
    from reproduce.datasets import get_dataset

    spec = get_dataset("HIGGS", {"source": "sample"})
    _, conversion = smoke_training()
    folder.mkdir(parents=True, exist_ok=True)
    write_tfrecord_shards(ROOT / "data" / "higgs-sample.csv.gz", folder, spec,
                          rows_per_shard=conversion["rows_per_shard"],
                          rows_per_record=conversion["rows_per_record"])
    print(f"shards of the embedded sample in {folder}")


def train(shards: Path, out: Path) -> list[dict]:
    """Each network's pack of 3 runs and its complete-feature run alone; one row per run."""
    import numpy as np

    from reproduce.datasets import get_dataset
    from reproduce.train.packed_training import train_pack
    from reproduce.train.settings import settings_for
    from reproduce.train.training import train_run

    training, _ = smoke_training()
    spec = get_dataset("HIGGS", {"source": "sample"})
    rows = []
    for network in ("shallow", "deep"):
        settings = settings_for(network, training)
        names = [f"{network}-{f}-seed{SEED}" for f in FEATURE_SETS]
        start = time.perf_counter()
        packed = train_pack(shards, [out / "packed" / n for n in names], spec=spec,
                            model=network, feature_sets=FEATURE_SETS,
                            seeds=[SEED] * len(FEATURE_SETS), settings=settings,
                            pack_state=out / "packed" / f"{network}-pack-state", verbose=0)
        pack_seconds = time.perf_counter() - start
        start = time.perf_counter()
        alone = train_run(shards, out / "alone" / names[-1], spec=spec, model=network,
                          feature_set="complete", seed=SEED, settings=settings, verbose=0)
        alone_seconds = time.perf_counter() - start
        scores = [np.load(out / how / names[-1] / "test_scores.npz")["scores"]
                  for how in ("packed", "alone")]
        difference = float(np.max(np.abs(scores[0].astype(np.float64) - scores[1])))
        for name, metrics in zip(names, packed):
            rows.append({"run": name, "how": "pack of 3", "metrics": metrics,
                         "seconds": pack_seconds, "score_difference": None})
        rows.append({"run": names[-1], "how": "alone", "metrics": alone,
                     "seconds": alone_seconds, "score_difference": difference})
    return rows


def report(rows: list[dict], allow_cpu: bool) -> list[str]:
    """Print the table; return the failed checks."""
    from reproduce.train.device import device_summary

    print("| run | trained | device (metrics.json) | epochs | test AUC | seconds "
          "| packed - alone, test scores |")
    print("|---|---|---|---:|---:|---:|---:|")
    failures = []
    for row in rows:
        m = row["metrics"]
        device = m.get("device") or {}
        diff = row["score_difference"]
        print(f"| {row['run']} | {row['how']} | {device_summary(device)} | "
              f"{m.get('epochs_trained', '-')} | {m['test_auc']:.4f} | {row['seconds']:.1f} | "
              f"{'-' if diff is None else f'{diff:.1e}'} |", flush=True)
        if device.get("kind") != "gpu" and not allow_cpu:
            failures.append(f"{row['run']} ({row['how']}) trained on {device_summary(device)}")
        if diff is not None and not diff <= SCORE_TOLERANCE:
            failures.append(f"{row['run']}: packed and alone test scores differ by {diff:.1e}")
    if sys.modules.get("tensorflow") is not None:
        failures.append("TensorFlow was imported")
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make-shards", type=Path, metavar="FOLDER",
                        help="write the sample's shards to FOLDER (needs TensorFlow) and stop")
    parser.add_argument("--shards", type=Path, help="the shards folder (its manifest.json)")
    parser.add_argument("--out", type=Path, help="where the run folders go (a new folder)")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="accept runs that trained on the CPU (the check on a CPU)")
    args = parser.parse_args(argv)
    if args.make_shards:
        make_shards(args.make_shards)
        return 0
    if args.shards is None or args.out is None:
        parser.error("--shards and --out are needed (or --make-shards)")
    if not (args.shards / "manifest.json").is_file():
        parser.error(f"--shards {args.shards}: no manifest.json (make it with --make-shards)")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out}: not empty (the runs would resume from it)")

    os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"  # before JAX is imported
    from reproduce.backend import select_backend

    select_backend("jax")
    import jax

    print(f"devices: {jax.devices()} | jax {jax.__version__} | matmul precision "
          f"{jax.config.jax_default_matmul_precision}", flush=True)
    start = time.perf_counter()
    failures = report(train(args.shards, args.out), args.allow_cpu)
    print(f"\n{time.perf_counter() - start:.0f} s in all; tensorflow imported: "
          f"{sys.modules.get('tensorflow') is not None}")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
