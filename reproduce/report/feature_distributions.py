"""The rule feature_distributions: each input feature, signal against background, as
fractions of events (the paper's Figs. 2 and 3 for HIGGS, 5 and 6 for SUSY)."""

from __future__ import annotations

import math

import numpy as np

from reproduce.atomic_files import save_figure
from reproduce.data.records import read_split
from reproduce.datasets import SCALED_UNITS, DatasetSpec, feature_axis_label
from reproduce.report.plotting import add_footer, pyplot


def _histogram_panels(values, labels, names, title, path, footer="", bins=50):
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
        ax.set_xlabel(feature_axis_label(name), fontsize=10)
        ax.tick_params(labelsize=8)
        if i % cols == 0:
            ax.set_ylabel("fraction of events", fontsize=8)
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # room for the title
    add_footer(fig, footer)
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def plot_feature_distributions(manifest, spec: DatasetSpec, low_path, high_path,
                               max_events: int = 1_000_000, run_name: str = "") -> None:
    """Histograms of every low-level and high-level feature, signal vs background, from
    the training split of the TFRecord ``manifest`` (path, or its folder); axes in physics
    notation (``reproduce.datasets.FEATURE_AXIS_LABELS``), a footer with the run
    (``run_name``: "demo preset") and the events shown."""
    x, y = read_split(manifest, "train")
    events = len(y)
    x, y = x[:max_events], y[:max_events]
    n_low = len(spec.low_level)
    shown = f"{len(y):,} of {events:,}" if len(y) < events else f"{events:,}"
    footer = (f"Run: {run_name or 'unnamed configuration'}; {spec.name} training split, "
              f"{shown} events; axes marked [{SCALED_UNITS}] are in the data set's "
              f"{SCALED_UNITS}, not GeV")
    for names, values, path in (("low-level", x[:, :n_low], low_path),
                                ("high-level", x[:, n_low:], high_path)):
        features = spec.low_level if names == "low-level" else spec.high_level
        _histogram_panels(values, y, features, f"{spec.name}: {names} features, signal vs "
                          "background (normalized to unit area)", path, footer)
