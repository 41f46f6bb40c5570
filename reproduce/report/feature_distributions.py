"""The rule feature_distributions: each input feature, signal against background, as
fractions of events (the paper's Figs. 2 and 3 for HIGGS, 5 and 6 for SUSY)."""

from __future__ import annotations

import math

import numpy as np

from reproduce.atomic_files import save_figure
from reproduce.data.tfrecords import read_split
from reproduce.datasets import DatasetSpec
from reproduce.report.plotting import pyplot


def _histogram_panels(values, labels, names, title, path, bins=50):
    plt = pyplot()
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
