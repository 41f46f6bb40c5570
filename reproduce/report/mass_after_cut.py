"""The rule mass_after_cut: the paper's Fig. 8, the reconstructed masses of the events that
pass a cut on the network's output."""

from __future__ import annotations

import numpy as np

from reproduce.atomic_files import save_figure
from reproduce.data.tfrecords import read_split
from reproduce.datasets import DatasetSpec
from reproduce.report.plotting import pyplot

# Fig. 8: the cut keeps 10% of the background (90% background rejection).
FIG8_BACKGROUND_REJECTION = 0.90


def events_passing_cut(labels, scores, background_rejection=FIG8_BACKGROUND_REJECTION):
    """Boolean mask of the events whose score passes the cut that rejects the given
    fraction of the background."""
    threshold = np.quantile(np.asarray(scores)[np.asarray(labels) == 0], background_rejection)
    return np.asarray(scores) > threshold


def plot_mass_after_cut(manifest, spec: DatasetSpec, *, deep_low_scores,
                        shallow_high_scores, path) -> None:
    """Fig. 8: the data set's two masses (``spec.mass_features``: m_Wbb and m_WWbb for
    HIGGS) of all signal, all background, and the test events (of the TFRecord
    ``manifest``) passing the 90%-rejection cut on DN (low-level) and on NN (high-level)."""
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
        curves += [(f"passing cut, {k}", v, c, "--") for (k, v), c in
                   zip(selections.items(), ("black", "tab:green"))]
        for label, mask, color, style in curves:
            part = column[mask]
            ax.hist(part, bins=edges, weights=np.full(len(part), 1 / max(len(part), 1)),
                    histtype="step", color=color, linestyle=style, label=label)
        ax.set(xlabel=name, ylabel="fraction of events")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{spec.name} test events; cuts at "
                 f"{FIG8_BACKGROUND_REJECTION:.0%} background rejection")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
