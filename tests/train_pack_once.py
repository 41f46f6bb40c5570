"""Train the 15 shallow runs of tests/packed_runs.py in a fresh process: as one pack
(``train_pack``) or one by one (``train_run``), on the backend Keras was started with.

    python tests/train_pack_once.py SHARDS OUT pack|alone|first SETTINGS_JSON

``first``: only the first run, alone (a run of a pack continued unpacked).
"""

import json
import logging
import os
import sys
from pathlib import Path

from reproduce.datasets import get_dataset
from reproduce.train.compile_cache import use_compile_cache
from reproduce.train.packed_training import train_pack
from reproduce.train.settings import TrainingSettings
from reproduce.train.training import train_run

FEATURE_SETS = ["low", "high", "complete"]
SEEDS = [1, 2, 3, 4, 5]
RUNS = [(feature_set, seed) for seed in SEEDS for feature_set in FEATURE_SETS]


def run_name(feature_set: str, seed: int) -> str:
    return f"shallow-{feature_set}-seed{seed}"


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    shards, out, mode, values = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    # as a workflow's training job does: the programs of earlier processes of this kind
    # (a pack's are not those of runs alone; the first run alone's are those of "first"),
    # before anything has compiled
    use_compile_cache("auto", os.environ.get("KERAS_BACKEND", "tensorflow"),
                      f"tests-train_pack_once-{'pack' if mode == 'pack' else 'alone'}",
                      on_cpu=True)
    settings = TrainingSettings.from_dict(json.loads(values))
    spec = get_dataset("HIGGS", {"source": "sample"})
    if mode == "pack":
        train_pack(shards, [out / run_name(f, s) for f, s in RUNS], spec=spec,
                   model="shallow", feature_sets=[f for f, _ in RUNS],
                   seeds=[s for _, s in RUNS], settings=settings,
                   pack_state=out / "pack_state", verbose=0)
    else:
        for feature_set, seed in RUNS[:1] if mode == "first" else RUNS:
            train_run(shards, out / run_name(feature_set, seed), spec=spec, model="shallow",
                      feature_set=feature_set, seed=seed, settings=settings, verbose=0)
