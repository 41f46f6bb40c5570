"""The report's figures from the runs' logs and evaluations: learning curves, the
schedules applied, and the ROC curves (the paper's Fig. 7 and Supplementary Figs. 1-3).
Titles and legends come from what the runs recorded (``reproduce.report.runs``, and the
titles of ``reproduce.report.captions``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from reproduce.atomic_files import save_figure
from reproduce.datasets import FEATURE_LABELS
from reproduce.model_registry import model_label, model_labels
from reproduce.report.captions import schedule_titles, seeds_phrase
from reproduce.report.plotting import add_footer, pyplot
from reproduce.report.runs import TRAIN_CURVE_LABELS, VALIDATION_LABEL, ReportedRun
from reproduce.run_log import read_log


def _placeholder_figure(path: Path, text: str) -> None:
    """A figure that says why there is nothing to plot yet (partial reports)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    save_figure(fig, path)
    plt.close(fig)


def plot_learning_curves(logs: pd.DataFrame, path: Path, footer: str = "") -> None:
    """Loss and AUC per epoch, train vs validation, mean and band (std) over seeds; the
    legend names the train curve each panel shows (``load_logs``); ``footer`` says what
    run the figure shows."""
    if logs.empty:
        _placeholder_figure(path, "No training has logged an epoch yet.")
        return
    plt = pyplot()
    import seaborn as sns

    logs = logs.copy()
    keys = ["dataset", "model", "feature_set"]
    progress = logs.groupby(keys).in_progress.transform("any")
    logs["panel"] = (logs["dataset"] + " " + logs["model"].map(model_label) + ", "
                     + logs["feature_set"].map(FEATURE_LABELS)
                     + np.where(progress, " (in training)", ""))
    hues = [h for h in (*TRAIN_CURVE_LABELS.values(), VALIDATION_LABEL) if h in set(logs.split)]
    grid = sns.relplot(data=logs, x="epoch", y="value", hue="split", hue_order=hues,
                       row="metric", row_order=["loss", "auc"], col="panel", kind="line",
                       errorbar="sd", height=3.0, aspect=1.1,
                       facet_kws={"sharey": "row", "margin_titles": True})
    grid.set_titles(row_template="", col_template="{col_name}", size=12)
    grid.legend.set_title("")
    for text in grid.legend.texts:
        text.set_fontsize(11)
    for metric, axes in zip(grid.row_names, grid.axes):
        axes[0].set_ylabel({"loss": "loss (cross-entropy + L2)", "auc": "AUC"}.get(metric, metric))
    seeds = logs.groupby(keys).seed.nunique()
    grid.figure.suptitle(f"Learning curves ({seeds_phrase(seeds)})", y=1.03, fontsize=14)
    add_footer(grid.figure, footer, fontsize=12)
    save_figure(grid.figure, path)
    plt.close(grid.figure)


def plot_schedules(runs: list[ReportedRun], finished: pd.DataFrame, path: Path,
                   footer: str = "") -> None:
    """The learning rate and momentum applied per epoch, as the CSV logs recorded them;
    titles from the settings the finished runs recorded, ``footer`` the run shown."""
    plt = pyplot()
    fig, (ax_lr, ax_mu) = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in runs:
        log_path = run.current_log
        if log_path is None:
            continue
        df = read_log(log_path).frame()
        label = f"{run.dataset} {model_label(run.model)} {run.feature_set} seed {run.seed}"
        if "learning_rate" in df:
            ax_lr.plot(df["epoch"] + 1, df["learning_rate"], lw=0.8, label=label)
        if "momentum" in df:
            ax_mu.plot(df["epoch"] + 1, df["momentum"], lw=0.8)
    lr_title, mu_title = schedule_titles(finished)
    ax_lr.set(yscale="log", xlabel="epoch", ylabel="learning rate (after the epoch)")
    ax_mu.set(xlabel="epoch", ylabel="momentum")
    for ax, title in ((ax_lr, lr_title), (ax_mu, mu_title)):
        ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    add_footer(fig, footer)
    save_figure(fig, path)
    plt.close(fig)


def _draw_roc_curve(ax, rows: pd.DataFrame, color, name: str) -> None:
    """One model's ROC curve: the mean over its seeds, and a band of one std of the
    seeds' background rejection at each signal efficiency (two seeds or more)."""
    efficiency = np.asarray(rows.iloc[0].roc_efficiency)
    rejections = np.stack(rows.roc_rejection.map(np.asarray).to_list())
    mean = rejections.mean(axis=0)
    ax.plot(efficiency, mean, color=color, label=f"{name} (AUC = {rows.auc.mean():.3f})")
    if len(rejections) > 1:
        std = rejections.std(axis=0, ddof=1)
        ax.fill_between(efficiency, mean - std, mean + std, color=color, alpha=0.25, lw=0)


def _plot_roc_panels(runs: pd.DataFrame, panel_by: str, curve_by: str, curves: dict,
                     panel_labels: dict, path: Path, footer: str = "") -> None:
    """Background rejection vs signal efficiency: one panel per (dataset, ``panel_by``),
    one curve per ``curve_by`` value in ``curves`` ({value: legend name}), the mean over
    seeds with a band of one std of the seeds, the mean AUC in the legend."""
    if runs.empty:
        _placeholder_figure(path, "No run has finished yet.")
        return
    plt = pyplot()
    import seaborn as sns

    order = {key: i for i, key in enumerate(panel_labels)}
    panels = sorted(runs.groupby(["dataset", panel_by], sort=False),
                    key=lambda item: (item[0][0], order.get(item[0][1], len(order))))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
    palette = dict(zip(curves, sns.color_palette("colorblind", len(curves))))
    for ax, ((dataset, panel), part) in zip(axes[0], panels):
        for value, name in curves.items():
            rows = part[part[curve_by] == value]
            if not rows.empty:
                _draw_roc_curve(ax, rows, palette[value], name)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Signal efficiency",
               ylabel="Background rejection", title=f"{dataset}: {panel_labels[panel]}")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    add_footer(fig, footer)
    save_figure(fig, path)
    plt.close(fig)


def plot_roc_curves(runs: pd.DataFrame, path: Path, footer: str = "") -> None:
    """Fig. 7 style: one panel per model, one curve per feature set."""
    _plot_roc_panels(runs, "model", "feature_set", FEATURE_LABELS, model_labels(runs.model),
                     path, footer)


def plot_roc_by_feature_set(runs: pd.DataFrame, path: Path, footer: str = "") -> None:
    """Supp. Figs. 1-3 style: one panel per feature set, one curve per model (BDT too)."""
    models = model_labels(runs.model)
    _plot_roc_panels(runs, "feature_set", "model", models, FEATURE_LABELS, path, footer)
