"""Where the stages' files live: the one home of their names.

The workflow's rules build their inputs and outputs from these patterns
(``workflow/rules/common.smk``) and hand the paths to the package's entry points, which
write exactly the paths they are given. The tools that read a results folder without
Snakemake (``python -m reproduce status``) and the tests find the files through the same
functions. Importable without TensorFlow (the Snakefile uses it).

    results/<dataset>/tfrecords/manifest.json, statistics.json, <split>-*.tfrecord
    results/<dataset>/runs/<model>-<features>-seed<seed>/   (one training or BDT)
        metrics.json, log.csv, test_scores.npz, model.keras, best.weights.h5
        state/      the resumable training state (outside the rule's outputs)
        progress/   log.csv and best.weights.h5 while the training runs
    results/<dataset>/evaluation/<model>-<features>-seed<seed>.json
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from reproduce.datasets import FEATURE_SETS

RUN = "{model}-{features}-seed{seed}"
# Inside a run's state folder (written by reproduce.train.callbacks.TrainingStateCheckpoint):
# the JSON record, and the suffix the folder carries while a save swaps it for the new one.
STATE_FILE = "state.json"
STATE_SWAP_SUFFIX = ".old"
RUN_NAME = re.compile(rf"^(?P<model>.+)-(?P<features>{'|'.join(FEATURE_SETS)})-seed(?P<seed>\d+)$")


class _Paths:
    def __post_init__(self):
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, Path(getattr(self, field.name)))


def run_name(model: str, features: str, seed) -> str:
    """The folder name of one run: ``deep-complete-seed1``."""
    return RUN.format(model=model, features=features, seed=seed)


@dataclasses.dataclass(frozen=True)
class TFRecordFiles(_Paths):
    """A data set's converted splits: the manifest (listing the shards, which lie beside it)
    and the training split's per-feature statistics."""

    manifest: Path
    statistics: Path

    @classmethod
    def in_folder(cls, folder) -> "TFRecordFiles":
        folder = Path(folder)
        return cls(manifest=folder / "manifest.json", statistics=folder / "statistics.json")


@dataclasses.dataclass(frozen=True)
class RunFiles(_Paths):
    """Everything one training writes.

    The first five are the rule's declared outputs (``metrics`` last, when the run is
    done); ``state`` and ``progress`` are folders outside them, which Snakemake does not
    delete when a job fails, so that a killed training resumes: ``state`` holds the
    resumable state, ``progress`` the live CSV log and best checkpoint, copied to ``log``
    and ``best`` when training ends.
    """

    metrics: Path
    log: Path
    scores: Path
    model: Path
    best: Path
    state: Path
    progress: Path

    @classmethod
    def in_folder(cls, run_dir) -> "RunFiles":
        run_dir = Path(run_dir)
        return cls(metrics=run_dir / "metrics.json", log=run_dir / "log.csv",
                   scores=run_dir / "test_scores.npz", model=run_dir / "model.keras",
                   best=run_dir / "best.weights.h5", state=run_dir / "state",
                   progress=run_dir / "progress")

    @property
    def live_log(self) -> Path:
        """The CSV log while training runs."""
        return self.progress / "log.csv"

    @property
    def live_best(self) -> Path:
        """The best-validation checkpoint while training runs."""
        return self.progress / "best.weights.h5"

    @property
    def state_file(self) -> Path:
        """The training state's JSON record (rewritten atomically after every epoch)."""
        return self.state / STATE_FILE

    @property
    def swapped_state_file(self) -> Path:
        """Where the record is during a save's swap (the previous state, complete)."""
        return self.state.with_name(self.state.name + STATE_SWAP_SUFFIX) / STATE_FILE


def tfrecord_folder(results, dataset) -> Path:
    return Path(results) / str(dataset) / "tfrecords"


def run_folder(results, dataset, run=RUN) -> Path:
    return Path(results) / str(dataset) / "runs" / run


def evaluation_file(results, dataset, run=RUN) -> Path:
    return Path(results) / str(dataset) / "evaluation" / f"{run}.json"


@dataclasses.dataclass(frozen=True)
class ReportFiles(_Paths):
    """The report's files: the AUC table in four formats, four figures (each PNG with a
    PDF beside it), the summary page, and a folder for the captions of Snakemake's HTML
    report (one ``<figure>.rst`` each)."""

    table_md: Path
    table_csv: Path
    table_tex: Path
    table_html: Path
    learning_curves: Path
    schedules: Path
    roc: Path
    roc_by_feature_set: Path
    summary: Path
    captions: Path

    CAPTIONS = ("auc_table", "learning_curves", "schedules", "roc_curves", "roc_by_feature_set")

    @classmethod
    def in_folder(cls, figures, captions) -> "ReportFiles":
        figures = Path(figures)
        return cls(table_md=figures / "auc_table.md", table_csv=figures / "auc_table.csv",
                   table_tex=figures / "auc_table.tex", table_html=figures / "auc_table.html",
                   learning_curves=figures / "learning_curves.png",
                   schedules=figures / "schedules.png", roc=figures / "roc_curves.png",
                   roc_by_feature_set=figures / "roc_by_feature_set.png",
                   summary=figures / "summary.md", captions=Path(captions))

    def caption_files(self) -> list[Path]:
        return [self.captions / f"{name}.rst" for name in self.CAPTIONS]
