"""Figures drawn from the data themselves: feature distributions (Figs. 2, 3, 5, 6) and the
invariant masses of events passing a cut on the network output (Fig. 8)."""

from __future__ import annotations

import math

import numpy as np

from reproduce.atomic_files import save_figure
from reproduce.datasets import DatasetSpec
from reproduce.data.tfrecords import read_split

# Fig. 8: the cut keeps 10% of the background (90% background rejection).
FIG8_BACKGROUND_REJECTION = 0.90


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _histogram_panels(values, labels, names, title, path, bins=50):
    plt = _pyplot()
    n = len(names)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False)
    for i, name in enumerate(names):
        ax = axes[i // cols][i % cols]
        column = values[:, i]
        lo, hi = np.percentile(column, [0.5, 99.5])
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        for cls, color, label in ((1, "tab:blue", "signal"), (0, "tab:red", "background")):
            part = column[labels == cls]
            ax.hist(part, bins=edges, weights=np.full(len(part), 1 / max(len(part), 1)),
                    histtype="step", color=color, label=label)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        if i % cols == 0:
            ax.set_ylabel("fraction of events", fontsize=8)
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def plot_feature_distributions(manifest, spec: DatasetSpec, low_path, high_path,
                               max_events: int = 1_000_000) -> None:
    """Histograms of every low-level and high-level feature, signal vs background, from
    the training split of the TFRecord ``manifest`` (path, or its folder)."""
    x, y = read_split(manifest, "train")
    x, y = x[:max_events], y[:max_events]
    n_low = len(spec.low_level)
    _histogram_panels(x[:, :n_low], y, spec.low_level,
                      f"{spec.name}: low-level features ({len(y):,} training events)", low_path)
    _histogram_panels(x[:, n_low:], y, spec.high_level,
                      f"{spec.name}: high-level features ({len(y):,} training events)",
                      high_path)


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
    plt = _pyplot()
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
