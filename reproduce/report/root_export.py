"""The test scores as a ROOT file, for users of ROOT and uproot (rule root_export, an
optional target; needs the ``root`` extra: ``pip install -e ".[root]"``).

One TTree per run, named ``<dataset>_<model>_<features>_seed<seed>``, one entry per test
event, with the branches:

- ``event_index`` (int64): the event's row in the data file (0-based, the label column's
  file order), so that it joins the features of ``HIGGS.csv.gz``;
- ``label`` (int32): 1 for signal, 0 for background;
- ``score`` (float64): the score the tables use (metrics.json ``evaluated_weights``);
- ``score_final``, ``score_best_validation`` (float64, networks only): the scores of the
  final weights and of the best-validation checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from reproduce.layout import RunFiles
from reproduce.report.runs import reported_runs

# test_scores.npz's arrays (reproduce.train.training) and the branches they become
SCORE_BRANCHES = {"scores": "score", "scores_final": "score_final",
                  "scores_best_validation": "score_best_validation"}


def tree_name(dataset: str, model: str, feature_set: str, seed: int) -> str:
    """A run's tree name.

    Example:

    >>> tree_name("HIGGS", "deep", "low", 1)
    'HIGGS_deep_low_seed1'
    """
    return f"{dataset}_{model}_{feature_set}_seed{seed}"


def run_branches(scores_path, first_test_row: int) -> dict[str, np.ndarray]:
    """The branches of one run's tree from its ``test_scores.npz``; ``first_test_row`` is
    the data file's row of the first test event (the config's split)."""
    with np.load(scores_path) as scores:
        labels = scores["labels"].astype(np.int32)
        branches = {"event_index": first_test_row + np.arange(len(labels), dtype=np.int64),
                    "label": labels}
        for array, branch in SCORE_BRANCHES.items():
            if array in scores:
                if len(scores[array]) != len(labels):
                    raise ValueError(f"{scores_path}: {array} has {len(scores[array])} "
                                     f"entries, labels {len(labels)}")
                branches[branch] = scores[array].astype(np.float64)
    return branches


def write_root_scores(runs, path, first_test_rows: dict[str, int]) -> list[str]:
    """Write every run's test scores to the ROOT file ``path``, one tree per run; return
    the tree names.

    Args:
        runs: the runs (``reproduce.report.runs.ReportedRun`` or dicts of its fields); the
            scores are the ``test_scores.npz`` beside each run's metrics.json.
        path: the ``.root`` file (written under a temporary name, then renamed).
        first_test_rows: ``{dataset: row}``, the data file's row of the first test event.

    Raises:
        ImportError: uproot is not installed (the ``root`` extra).
    """
    try:
        import uproot
    except ImportError as error:
        raise ImportError('the ROOT export needs uproot: pip install -e ".[root]"') from error
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    names = []
    with uproot.recreate(tmp) as root_file:
        for run in reported_runs(runs):
            name = tree_name(run.dataset, run.model, run.feature_set, run.seed)
            root_file[name] = run_branches(RunFiles.in_folder(run.metrics.parent).scores,
                                           first_test_rows[run.dataset])
            names.append(name)
    os.replace(tmp, path)
    return names
