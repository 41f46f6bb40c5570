"""What was run: the runs of the workflow as the report reads them (:class:`ReportedRun`),
their evaluations and metrics.json (one row per run), and their per-epoch CSV logs (the
learning curves, with the labels of their curves).

Every other report module reads the runs through this one; it imports none of them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from reproduce.run_log import read_log

# What a metrics.json written before these keys existed meant: the best-validation
# checkpoint was evaluated, the Methods text's stopping rule ran, and each seed drew its
# own minibatch order.
LEGACY_EVALUATED_WEIGHTS = "best_validation"
LEGACY_STOPPING_RULE = "paper_text"
LEGACY_BATCH_ORDER = "per_seed"

# The "train" curve of the learning curves. The monitor columns are what the authors'
# code plotted as "train"; the running mean is Keras's average over the epoch's batches.
TRAIN_CURVES = ("monitor", "running_mean")
TRAIN_COLUMNS = {"monitor": {"loss": "train_monitor_loss", "auc": "train_monitor_auc"},
                 "running_mean": {"loss": "loss", "auc": "auc"}}
# The legend's words (the captions say which rows and columns each one is).
TRAIN_CURVE_LABELS = {"monitor": "training sample (end-of-epoch weights)",
                      "running_mean": "training sample (mean over the epoch)"}
VALIDATION_LABEL = "validation sample"

# A cell of the AUC table: the runs that differ only by their seed.
CELL = ["dataset", "model", "feature_set"]
# The columns of ``load_runs``'s rows, also when no run has finished.
RUN_COLUMNS = ["dataset", "model", "feature_set", "seed", "auc", "test_events", "significance",
               "roc_efficiency", "roc_rejection", "evaluated_weights", "constant_output",
               "warnings", "stopping_rule", "stopped_by", "epochs_trained", "batch_order",
               "settings", "splits", "versions", "trees", "trainable_parameters",
               "device"]
LOG_COLUMNS = ["dataset", "model", "feature_set", "seed", "epoch", "metric", "split", "value",
               "in_progress"]


@dataclasses.dataclass(frozen=True)
class ReportedRun:
    """One run of the workflow as the report reads it: identity and file paths.

    ``log`` and ``progress_log`` are the final and the live per-epoch CSV logs of a network
    (None for the BDT).

    Example:

    >>> run = ReportedRun.from_dict({"dataset": "HIGGS", "model": "deep", "seed": "1",
    ...                              "feature_set": "low", "metrics": "r/metrics.json",
    ...                              "evaluation": "e/deep-low-seed1.json", "log": ""})
    >>> run.key, run.log
    (('HIGGS', 'deep', 'low', 1), None)
    """

    dataset: str
    model: str
    feature_set: str
    seed: int
    metrics: Path
    evaluation: Path
    log: Path | None = None
    progress_log: Path | None = None

    @classmethod
    def from_dict(cls, values: dict) -> "ReportedRun":
        paths = {k: Path(values[k]) if values.get(k) else None
                 for k in ("metrics", "evaluation", "log", "progress_log")}
        return cls(dataset=values["dataset"], model=values["model"],
                   feature_set=values["feature_set"], seed=int(values["seed"]), **paths)

    @property
    def key(self) -> tuple:
        return (self.dataset, self.model, self.feature_set, self.seed)

    @property
    def finished(self) -> bool:
        return self.metrics.exists() and self.evaluation.exists()

    @property
    def current_log(self) -> Path | None:
        """The final log of a run that has written its metrics.json, else the live one
        (a run being retrained may still have an older final log), else None."""
        order = ((self.log, self.progress_log) if self.metrics.exists()
                 else (self.progress_log, self.log))
        for path in order:
            if path is not None and path.exists():
                return path
        return None


def reported_runs(runs) -> list[ReportedRun]:
    """``runs`` as ``ReportedRun``s (the workflow hands dicts of their fields)."""
    return [r if isinstance(r, ReportedRun) else ReportedRun.from_dict(r) for r in runs]


def run_facts(metrics: dict) -> dict:
    """The facts of one run that the report shows, from its metrics.json; keys that older
    trainings did not write take the old behaviour (``LEGACY_*``)."""
    settings = metrics.get("settings") or {}
    network = metrics.get("model") != "bdt"
    stopping = metrics.get("stopping") or {}
    stopped_by = stopping.get("stopped_by")
    if stopped_by is None and network:
        stopped_by = "before the epoch cap" if metrics.get("stopped_early") else "the epoch cap"
    return {
        "evaluated_weights": (metrics.get("evaluated_weights", LEGACY_EVALUATED_WEIGHTS)
                              if network else None),
        "constant_output": bool(metrics.get("constant_output", False)),
        "warnings": list(metrics.get("warnings") or []),
        "stopping_rule": (stopping.get("rule") or settings.get("stopping", LEGACY_STOPPING_RULE)
                          if network else None),
        "stopped_by": stopped_by,
        "epochs_trained": metrics.get("epochs_trained"),
        "batch_order": settings.get("batch_order", LEGACY_BATCH_ORDER) if network else None,
        "settings": settings,
        "splits": (metrics.get("data") or {}).get("splits"),
        "versions": metrics.get("versions") or {},
        "trees": metrics.get("trees"),
        "trainable_parameters": metrics.get("trainable_parameters"),
        "device": metrics.get("device"),  # reproduce.train.device.device_record
    }


def _evaluation_row(evaluation: dict) -> dict:
    return {"dataset": evaluation["dataset"], "model": evaluation["model"],
            "feature_set": evaluation["feature_set"], "seed": int(evaluation["seed"]),
            "auc": evaluation["auc"], "test_events": evaluation.get("test_events"),
            "significance": evaluation["significance"]["significance"],
            "roc_efficiency": evaluation["roc"]["signal_efficiency"],
            "roc_rejection": evaluation["roc"]["background_rejection"]}


def read_record(path) -> dict:
    """A run's JSON record (metrics.json, its evaluation), or ValueError naming the file
    and what to do when it is not a JSON object."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"not valid JSON ({exc})"
    else:
        if isinstance(record, dict):
            return record
        problem = f"expected a JSON object, found {type(record).__name__}"
    raise ValueError(f"{path}: {problem}; the workflow wrote it whole (an edit or a copy "
                     f"broke it?): delete it and run the workflow again, which remakes it")


def load_evaluations(paths) -> pd.DataFrame:
    """One row per run: dataset, model, feature_set, seed, auc, significance, roc."""
    rows = [_evaluation_row(read_record(p)) for p in paths]
    if not rows:
        raise ValueError("no evaluations to report")
    return pd.DataFrame(rows)


def _check_identity(run: ReportedRun, evaluation: dict, metrics: dict) -> None:
    """Raise if the run's evaluation or metrics.json names another run. metrics.json names
    the architecture ("deep" for deep_dropout or deep_h5), the evaluation the run."""
    for name, record, fields in (
            ("evaluation", evaluation, ("dataset", "model", "feature_set", "seed")),
            ("metrics.json", metrics, ("dataset", "feature_set", "seed"))):
        found = tuple(record.get(f) for f in fields)
        expected = tuple(getattr(run, f) for f in fields)
        if found != expected:
            raise ValueError(f"{run.metrics.parent}: the {name} is of run {found}, "
                             f"expected {expected}")


def load_runs(runs: list[ReportedRun]) -> pd.DataFrame:
    """One row per finished run: its evaluation and the facts of its metrics.json
    (the columns ``RUN_COLUMNS``; no rows when ``runs`` is empty).

    Raises:
        ValueError: a run's evaluation or metrics.json names another run than expected, or
        is not a JSON object (``read_record``).
    """
    if not runs:
        return pd.DataFrame(columns=RUN_COLUMNS)
    rows = []
    for run in runs:
        evaluation, metrics = read_record(run.evaluation), read_record(run.metrics)
        _check_identity(run, evaluation, metrics)
        rows.append(_evaluation_row(evaluation) | run_facts(metrics))
    return pd.DataFrame(rows)


def _log_frames(run: ReportedRun, log: pd.DataFrame, train_curve: str, in_progress: bool):
    """The long-form rows of one run's log: a train and a validation curve per metric."""
    curve = (train_curve if set(TRAIN_COLUMNS[train_curve].values()) <= set(log)
             else "running_mean")
    for metric in ("loss", "auc"):
        for split, column in ((TRAIN_CURVE_LABELS[curve], TRAIN_COLUMNS[curve][metric]),
                              (VALIDATION_LABEL, f"val_{metric}")):
            if column in log:
                yield pd.DataFrame({
                    "dataset": run.dataset, "model": run.model,
                    "feature_set": run.feature_set, "seed": run.seed,
                    "epoch": log["epoch"] + 1, "metric": metric, "split": split,
                    "value": log[column], "in_progress": in_progress})


def load_logs(runs: list[ReportedRun], train_curve: str = "monitor") -> pd.DataFrame:
    """The per-epoch CSV logs of the networks in long form.

    Columns: dataset, model, feature_set, seed, epoch (from 1), metric ("loss" | "auc"),
    split (``VALIDATION_LABEL`` or one of ``TRAIN_CURVE_LABELS``' values), value,
    in_progress (True when read from a live log). The train curve is the one
    ``train_curve`` names where the log has its columns, else the running mean. A log
    still being written is read up to its last complete line (``reproduce.run_log``).
    """
    if train_curve not in TRAIN_CURVES:
        raise ValueError(f"report.train_curve: expected one of {', '.join(TRAIN_CURVES)}, "
                         f"got {train_curve!r}")
    frames = []
    for run in runs:
        path = run.current_log
        if path is None:
            continue
        log = read_log(path).frame()
        if not log.empty:
            frames += _log_frames(run, log, train_curve, path != run.log)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LOG_COLUMNS)
