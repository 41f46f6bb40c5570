"""Run one training in a fresh process (used by the determinism and kill/resume tests)."""

import json
import logging
import os
import sys

from reproduce.train.compile_cache import use_compile_cache

logging.basicConfig(level=logging.INFO, stream=sys.stderr)

# as a workflow's training job does: the programs of earlier processes of this kind, loaded
use_compile_cache("auto", os.environ.get("KERAS_BACKEND", "tensorflow"), "tests-train_once",
                  on_cpu=True)

from reproduce.datasets import get_dataset
from reproduce.train.settings import TrainingSettings
from reproduce.train.training import train_run

tfrecords, run_dir, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
spec = get_dataset("HIGGS", {"source": "sample"})
train_run(tfrecords, run_dir, spec=spec, model=settings.pop("model", "deep"),
          feature_set="complete", seed=settings.pop("seed", 1),
          settings=TrainingSettings.from_dict(settings), verbose=0)
