"""Run one training in a fresh process (used by the determinism and kill/resume tests)."""

import json
import logging
import sys

from reproduce.datasets import get_dataset
from reproduce.train.settings import TrainingSettings
from reproduce.train.training import train_run

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
tfrecords, run_dir, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
spec = get_dataset("HIGGS", {"source": "sample"})
train_run(tfrecords, run_dir, spec=spec, model=settings.pop("model", "deep"),
          feature_set="complete", seed=settings.pop("seed", 1),
          settings=TrainingSettings.from_dict(settings), verbose=0)
