"""The rule mass_after_cut: the paper's Fig. 8, the reconstructed masses of the events that
pass a cut on the network's output."""

from __future__ import annotations

import numpy as np

from reproduce.atomic_files import save_figure
from reproduce.data.records import read_split
import json
from pathlib import Path

import pandas as pd

from reproduce.datasets import SCALED_UNITS, DatasetSpec, feature_axis_label
from reproduce.report.plotting import add_footer, pyplot
from reproduce.report.run_identity import run_identity
from reproduce.report.runs import run_facts

# Fig. 8: the cut keeps 10% of the background (90% background rejection).
FIG8_BACKGROUND_REJECTION = 0.90


def events_passing_cut(labels, scores, background_rejection=FIG8_BACKGROUND_REJECTION):
    """Boolean mask of the events whose score passes the cut that rejects the given
    fraction of the background."""
    threshold = np.quantile(np.asarray(scores)[np.asarray(labels) == 0], background_rejection)
    return np.asarray(scores) > threshold


def _identity(run_name: str, metrics_paths, test_events: int) -> str:
    """The footer: the run, from the two networks' metrics.json, and the test events."""
    rows = []
    for path in metrics_paths:
        metrics = json.loads(Path(path).read_text())
        rows.append({"dataset": metrics["dataset"], "model": metrics["model"],
                     "seed": metrics["seed"]} | run_facts(metrics))
    identity = run_identity(run_name, pd.DataFrame(rows)) if rows else f"Run: {run_name}"
    return (f"{identity}; {test_events:,} test events; masses in the data set's "
            f"{SCALED_UNITS} (not GeV)")


def plot_mass_after_cut(manifest, spec: DatasetSpec, *, deep_low_scores,
                        shallow_high_scores, path, metrics=(), run_name: str = "") -> None:
    """Fig. 8: the data set's two masses (``spec.mass_features``: m_Wbb and m_WWbb for
    HIGGS) of all signal, all background, and the test events (of the TFRecord
    ``manifest``; signal plus background) passing the 90%-rejection cut on DN (low-level)
    and on NN (high-level). ``metrics``: the two runs' metrics.json, for the footer that
    says what run the figure shows (``run_name``: "demo preset")."""
    if not spec.mass_features:
        raise ValueError(f"{spec.name}: the registry names no masses for Fig. 8 "
                         f"(reproduce.datasets, mass_features)")
    plt = pyplot()
    x, y = read_split(manifest, "test")
    selections = {}
    for label, scores_path in (("DN, low-level", deep_low_scores),
                               ("NN, high-level", shallow_high_scores)):
        with np.load(scores_path) as data:
            if not np.array_equal(data["labels"], y.astype(np.int8)):
                raise ValueError(f"{scores_path}: labels differ from the test split")
            selections[label] = events_passing_cut(data["labels"], data["scores"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, name in zip(axes, spec.mass_features):
        column = x[:, spec.features.index(name)]
        edges = np.linspace(*np.percentile(column, [0.5, 99.5]), 41)
        curves = [("signal", y == 1, "tab:blue", "-"), ("background", y == 0, "tab:red", "-")]
        curves += [(f"passing the cut on {k} (signal + background)", v, c, "--")
                   for (k, v), c in
                   zip(selections.items(), ("black", "tab:green"))]
        for label, mask, color, style in curves:
            part = column[mask]
            ax.hist(part, bins=edges, weights=np.full(len(part), 1 / max(len(part), 1)),
                    histtype="step", color=color, linestyle=style, label=label)
        ax.set(xlabel=feature_axis_label(name), ylabel="fraction of events")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.5)  # room for the legend above the curves
    axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle(f"{spec.name} test events; cuts at "
                 f"{FIG8_BACKGROUND_REJECTION:.0%} background rejection")
    fig.tight_layout()
    add_footer(fig, _identity(run_name, metrics, len(y)))
    save_figure(fig, path, dpi=110)
    plt.close(fig)
