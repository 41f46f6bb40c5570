"""Per-run evaluation: exact test AUC, the ROC curve on a grid, discovery significance."""

from __future__ import annotations

import numpy as np

from reproduce.atomic_files import write_json_atomic
from reproduce.layout import run_name
from reproduce.metrics import (background_rejection_curve, discovery_significance,
                               non_finite_scores, roc_auc)


def evaluate_scores(scores_path, out_path, run: dict, roc_points: int = 201) -> dict:
    """Evaluate the test-set scores saved by ``train_run`` and write them as JSON.

    Args:
        scores_path: ``test_scores.npz`` with ``labels`` and ``scores``.
        out_path: the JSON to write (atomically).
        run: identifying fields copied into the JSON (dataset, model, feature_set, seed).
        roc_points: points of the signal-efficiency grid for the ROC curve.

    Returns:
        ``run`` plus ``auc``, ``significance`` (dict) and ``roc`` (signal efficiency,
        background rejection). Scores that are not all finite raise ValueError naming the
        run and the file; nothing is written.
    """
    with np.load(scores_path) as data:
        labels, scores = data["labels"], data["scores"]
    if problem := non_finite_scores(scores):
        name = run_name(run.get("model"), run.get("feature_set"), run.get("seed"))
        raise ValueError(f"run {run.get('dataset')} {name} ({scores_path}): {problem}: no AUC "
                         f"can be computed from them (a diverged network?); look at the run's "
                         f"log.csv, and train it again with a lower training.learning_rate")
    efficiency, rejection = background_rejection_curve(labels, scores, roc_points)
    result = dict(run)
    result.update({
        "auc": roc_auc(labels, scores),
        "test_events": int(labels.size),
        "signal_fraction": float(np.mean(labels == 1)),
        "significance": discovery_significance(labels, scores),
        "roc": {"signal_efficiency": efficiency.tolist(),
                "background_rejection": rejection.tolist()},
    })
    write_json_atomic(out_path, result, indent=None)
    return result
