"""What a finished training run's ``metrics.json`` says, field by field.

``metrics_record`` assembles it from the parts a run knows when it ends: which run it was,
the test AUCs, the CSV log's epochs, what stopped it, the optimizer's steps, the settings,
the data and the versions. The report and ``status`` read these keys.
"""

from __future__ import annotations

import dataclasses
import platform

import numpy as np

from reproduce.train import schedules as paper
from reproduce.train.resume import fingerprint_sha256
from reproduce.train.settings import TrainingSettings


def metrics_record(*, run: dict, settings: TrainingSettings, evaluated_weights: str,
                   evaluation: dict, history: list[dict], stopped_by: str, rules: dict,
                   steps: int, trainable_parameters: int, blocks: dict, data: dict,
                   fingerprint: dict) -> dict:
    """The ``metrics.json`` of a finished run.

    Args:
        run: ``dataset``, ``model``, ``feature_set``, ``seed``.
        settings: the run's ``TrainingSettings``.
        evaluated_weights: "final" or "best_validation": whose AUC is ``test_auc``.
        evaluation: ``auc`` (by weights), ``constant_output``, ``warnings``, ``test_rows``.
        history: the rows of the run's CSV log (dicts of strings).
        stopped_by: the rule or built-in that ended training, or "max_epochs".
        rules: the three stopping rules, by name (their ``stopped_epoch``).
        steps: the optimizer's step counter when training ended.
        trainable_parameters: the network's trainable weights.
        blocks: ``steps_per_execution_used`` and ``steps_per_epoch``.
        data: ``tfrecords`` (the folder) and ``splits`` (the row ranges).
        fingerprint: the run's fingerprint (``reproduce.train.resume.run_fingerprint``).
    """
    epochs = len(history)
    return run | test_auc_fields(evaluation, evaluated_weights) | {
        "test_rows": evaluation["test_rows"],
        **history_fields(history),
        "stopping": stopping_fields(settings.stopping, stopped_by, epochs, rules),
        # before max_epochs: by the stopping rule or an optional built-in of the config
        "stopped_early": epochs < settings.max_epochs,
        "constant_output": evaluation["constant_output"],
        "warnings": evaluation["warnings"],
        "final_learning_rate": paper.learning_rate_at(steps, settings.learning_rate,
                                                      settings.decay_factor,
                                                      settings.learning_rate_floor),
        "steps": steps,
        "trainable_parameters": trainable_parameters,
        "wall_time_s": float(history[-1]["wall_time"]) if history else 0.0,
        "settings": settings_fields(settings, blocks),
        "data": data,
        "fingerprint_sha256": fingerprint_sha256(fingerprint),
        "versions": versions(),
    }


def test_auc_fields(evaluation: dict, evaluated_weights: str) -> dict:
    """``test_auc`` (of the evaluated weights), which weights, and both AUCs."""
    auc = evaluation["auc"]
    return {"test_auc": auc[evaluated_weights], "evaluated_weights": evaluated_weights,
            "test_auc_final": auc["final"], "test_auc_best_validation": auc["best_validation"]}


def history_fields(history: list[dict]) -> dict:
    """Epochs trained, and the 1-based epoch of lowest validation loss with that loss."""
    val_losses = [float(r["val_loss"]) for r in history]
    best = int(np.argmin(val_losses)) if val_losses else None
    return {"epochs_trained": len(history),
            "best_epoch": best + 1 if best is not None else None,
            "best_val_loss": float(val_losses[best]) if val_losses else None}


def stopping_fields(rule: str, stopped_by: str, epochs: int, rules: dict) -> dict:
    """The chosen rule, what stopped the run, and when each rule stops (or would have
    stopped) it, in epochs trained."""
    return {"rule": rule, "stopped_by": stopped_by, "epochs": epochs,
            "rule_epochs": {name: (r.stopped_epoch + 1 if r.stopped_epoch is not None
                                   else None) for name, r in rules.items()}}


def settings_fields(settings: TrainingSettings, blocks: dict) -> dict:
    """Every setting, with the values this run derived from them."""
    return dataclasses.asdict(settings) | {
        "decay_factor": settings.decay_factor,
        "stopping_patience": settings.stopping_patience,
        "steps_per_execution_used": blocks["steps_per_execution_used"],
        "steps_per_epoch": blocks["steps_per_epoch"]}


def versions() -> dict:
    """The versions of Python and the libraries that trained the run (Keras, its backend and
    the backend's packages: ``reproduce.backend.backend_versions``), and the machine."""
    from reproduce.backend import backend_versions

    return {"python": platform.python_version(), **backend_versions(),
            "numpy": np.__version__, "machine": platform.machine()}
