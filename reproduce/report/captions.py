"""What each figure and table of the report says: the captions of Snakemake's report, the
titles of the schedules figure and the seed phrase of the figures, all built from the runs
they show (the seeds, the train curve shown, the recorded schedules, the evaluated
weights). Plain text that is also valid reStructuredText."""

from __future__ import annotations

import pandas as pd

from reproduce.report.description import (grouped, learning_rate_text, momentum_text, setting,
                                          setting_meaning)
from reproduce.report.run_identity import run_identity
from reproduce.report.runs import CELL, TRAIN_CURVE_LABELS, ReportedRun


def seeds_phrase(counts) -> str:
    """How many seeds a figure's curves average, from the seeds per cell.

    Example:

    >>> seeds_phrase([1, 1]), seeds_phrase([2, 3, 3]), seeds_phrase([])
    ('one seed per panel', 'mean and std band over 2 or 3 seeds', 'no run yet')
    """
    counts = sorted(set(int(c) for c in counts))
    if not counts:
        return "no run yet"
    if counts == [1]:
        return "one seed per panel"
    return f"mean and std band over {' or '.join(map(str, counts))} seeds"


def schedule_titles(runs: pd.DataFrame) -> tuple[str, str]:
    """The titles of the schedules figure, from the settings the networks recorded."""
    nets = runs[runs.model != "bdt"] if not runs.empty else runs
    if nets.empty or "settings" not in nets:
        return ("Learning rate, as logged", "Momentum, as logged")
    return (f"Learning rate: {grouped(nets, learning_rate_text)}",
            f"Momentum: {grouped(nets, momentum_text)}")


def _train_curve_text(logs: pd.DataFrame, finished: pd.DataFrame, train_curve: str) -> str:
    shown = [h for h in TRAIN_CURVE_LABELS.values() if h in set(logs.split)]
    rows = (grouped(finished[finished.model != "bdt"], setting("train_monitor_rows", "{:,}"))
            if "settings" in finished else "")
    rows = rows if rows and rows != "not recorded" else "a fixed number of"
    texts = {
        TRAIN_CURVE_LABELS["monitor"]:
            f'"{TRAIN_CURVE_LABELS["monitor"]}" is the cost and AUC on the first {rows} '
            "training rows with the weights at the end of each epoch, as the authors' code "
            "monitored it (log.csv train_monitor_loss, train_monitor_auc)",
        TRAIN_CURVE_LABELS["running_mean"]:
            f'"{TRAIN_CURVE_LABELS["running_mean"]}" is Keras\'s mean over the epoch\'s '
            "minibatches while the weights change (log.csv loss, auc)"
            + ("" if train_curve == "running_mean" else
               ", shown where a log has no monitor columns"),
    }
    return "; ".join(texts[h] for h in shown) or "no training curve logged"


def _roc_text(finished: pd.DataFrame) -> str:
    """What the ROC figures average and where the network scores come from."""
    nets = finished[finished.model != "bdt"]
    weights = grouped(nets, lambda r: setting_meaning("evaluated_weights", r.evaluated_weights))
    test = grouped(finished, lambda r: f"{r.test_events:,} events")
    seeds = nets.groupby(CELL).seed.nunique()
    band = (" (the band: one std of the seeds' background rejection at each signal "
            "efficiency)" if len(seeds) and seeds.max() > 1 else "")
    return (f"on the test split ({test}), averaged over seeds "
            f"({seeds_phrase(seeds)}){band}, with the mean AUC in the "
            f"legend; network scores from {weights}.")


def _learning_curves_caption(runs: list[ReportedRun], finished: pd.DataFrame,
                             logs: pd.DataFrame, train_curve: str) -> str:
    n_runs = len({r.key for r in runs if r.model != "bdt" and r.current_log is not None})
    in_training = int(logs.drop_duplicates([*CELL, "seed"]).in_progress.sum())
    progress = f" {in_training} of them still in training (live logs)." if in_training else ""
    curve_seeds = seeds_phrase(logs.groupby(CELL).seed.nunique())
    return (f"Learning curves of {n_runs} network runs: loss and AUC per epoch, training vs "
            f"validation, one column per model and feature set ({curve_seeds})."
            f"{progress} Validation: the whole cost and AUC on the validation split. "
            f"Training: {_train_curve_text(logs, finished, train_curve)}.")


def figure_captions(runs: list[ReportedRun], finished: pd.DataFrame, logs: pd.DataFrame,
                    train_curve: str, run_name: str = "") -> dict[str, str]:
    """One caption per figure of the report, true to the runs it shows: the run (its
    configuration, events, seeds and epochs), the seeds averaged, the train curve shown,
    the recorded schedules and the evaluated weights. Plain text that is also valid
    reStructuredText (Snakemake's report captions)."""
    lr_title, mu_title = schedule_titles(finished)
    roc = _roc_text(finished)
    networks = f" {run_identity(run_name, finished[finished.model != 'bdt'])}."
    return {
        "learning_curves":
            _learning_curves_caption(runs, finished, logs, train_curve) + networks,
        "schedules":
            "The learning rate (after each epoch) and the momentum applied per epoch, as "
            f"every run's CSV log recorded them. Recorded settings: {lr_title}. {mu_title}."
            + networks,
        "roc_curves":
            "Background rejection vs signal efficiency in the paper's style (Fig. 7): one "
            f"panel per network, one curve per feature set, {roc}" + networks,
        "roc_by_feature_set":
            "The same ROC curves grouped by feature set (the paper's Supplementary Figures "
            f"1-3): one panel per feature set, one curve per model, BDT included, {roc} "
            f"{run_identity(run_name, finished)}.",
    }


def auc_table_caption(notes: dict[str, list[str]]) -> str:
    """The AUC table's caption: what it shows, then every data set's footnotes."""
    return ("The paper's AUC tables beside ours, with a verdict per cell, and how the runs "
            "were made, from the settings each run recorded. " + " ".join(
                note for dataset_notes in notes.values() for note in dataset_notes))


def partial_banner(runs: list[ReportedRun], finished: list[ReportedRun]) -> str:
    """The partial report's first line (how many runs finished, how many in training), or
    "" when every run has finished."""
    if len(finished) == len(runs):
        return ""
    training = sum(1 for r in runs if r not in finished and r.current_log is not None)
    return (f"Partial report: {len(finished)} of {len(runs)} runs finished, {training} in "
            "training (learning curves from their live logs). Cells without a finished run "
            "read 'missing'. The final report, written when every run has finished, is "
            "in the folder above this one; this partial report never replaces it.")
