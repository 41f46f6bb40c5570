"""Tables and figures for ``paper_figures/``: the paper's AUC table beside ours, learning
curves and ROC curves, and a one-page summary linking them."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic_files import save_figure, write_text_atomic
from .datasets import FEATURE_SETS
from .paper_values import AUC, MODEL_LABELS, SIGNIFICANCE, SUPP_TABLE3, SUPP_TABLE3_LABELS

log = logging.getLogger(__name__)

FEATURE_LABELS = {"low": "low-level", "high": "high-level", "complete": "complete"}
# A cell is "reproduced" when |ours - paper| <= VERDICT_SIGMAS * combined std, with the
# combined std sqrt(std_ours^2 + std_paper^2) never taken below VERDICT_MIN_STD.
VERDICT_SIGMAS = 2.0
VERDICT_MIN_STD = 0.001


def load_evaluations(paths) -> pd.DataFrame:
    """One row per run: dataset, model, feature_set, seed, auc, significance, roc."""
    rows = []
    for path in paths:
        e = json.loads(Path(path).read_text())
        rows.append({"dataset": e["dataset"], "model": e["model"],
                     "feature_set": e["feature_set"], "seed": e["seed"], "auc": e["auc"],
                     "significance": e["significance"]["significance"],
                     "roc_efficiency": e["roc"]["signal_efficiency"],
                     "roc_rejection": e["roc"]["background_rejection"]})
    if not rows:
        raise ValueError("no evaluations to report")
    return pd.DataFrame(rows)


def auc_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (dataset, model, feature set), with the paper's values.

    Columns: dataset, model, label, feature_set, n_seeds, auc_mean, auc_std, paper_auc,
    paper_std, difference, difference_sigmas, verdict, significance_mean, paper_significance.
    """
    grouped = runs.groupby(["dataset", "model", "feature_set"], sort=False)
    table = grouped.agg(n_seeds=("seed", "nunique"), auc_mean=("auc", "mean"),
                        auc_std=("auc", "std"), significance_mean=("significance", "mean"))
    table = table.reset_index()
    table["auc_std"] = table["auc_std"].fillna(0.0)
    table["label"] = table["model"].map(MODEL_LABELS)
    paper = [AUC.get(d, {}).get(m, {}).get(f, (math.nan, math.nan))
             for d, m, f in zip(table.dataset, table.model, table.feature_set)]
    table["paper_auc"] = [p[0] for p in paper]
    table["paper_std"] = [p[1] for p in paper]
    table["difference"] = table["auc_mean"] - table["paper_auc"]
    combined = np.maximum(np.hypot(table["auc_std"], table["paper_std"]), VERDICT_MIN_STD)
    table["difference_sigmas"] = table["difference"] / combined
    table["verdict"] = np.where(table["paper_auc"].isna(), "no paper value",
                                np.where(table["difference_sigmas"].abs() <= VERDICT_SIGMAS,
                                         "reproduced", "not reproduced"))
    table["paper_significance"] = [SIGNIFICANCE.get(d, {}).get(m, {}).get(f, math.nan)
                                   for d, m, f in zip(table.dataset, table.model,
                                                      table.feature_set)]
    order = {m: i for i, m in enumerate(MODEL_LABELS)}
    table["_m"] = table["model"].map(order)
    table["_f"] = table["feature_set"].map({f: i for i, f in enumerate(FEATURE_SETS)})
    table = table.sort_values(["dataset", "_m", "_f"]).drop(columns=["_m", "_f"])
    return table[["dataset", "model", "label", "feature_set", "n_seeds", "auc_mean", "auc_std",
                  "paper_auc", "paper_std", "difference", "difference_sigmas", "verdict",
                  "significance_mean", "paper_significance"]].reset_index(drop=True)


def _cell(mean, std, n):
    return f"{mean:.3f} ({std:.3f})" if n > 1 else f"{mean:.3f}"


def _row_cells(rows: pd.DataFrame, feats, render) -> list[str]:
    """One rendered cell per feature set ('' where the row has no run for it)."""
    cells = []
    for f in feats:
        r = rows[rows.feature_set == f]
        cells.append("" if r.empty else render(r.iloc[0]))
    return cells


def _auc_cell(r) -> str:
    paper = "n/a" if math.isnan(r.paper_auc) else f"{r.paper_auc:.3f} ({r.paper_std:.3f})"
    sig = "" if math.isnan(r.difference_sigmas) else \
        f"; {r.difference_sigmas:+.1f} sd, {r.verdict}"
    return f"{_cell(r.auc_mean, r.auc_std, r.n_seeds)} / {paper}{sig}"


def _significance_cell(r) -> str:
    paper = "n/a" if math.isnan(r.paper_significance) else f"{r.paper_significance:.1f}"
    return f"{r.significance_mean:.1f} sigma / {paper} sigma"


def table_markdown(table: pd.DataFrame) -> str:
    """The paper's layout: rows NN/DN (and dropout), columns low / high / complete."""
    lines = []
    for dataset, part in table.groupby("dataset", sort=False):
        number = {"HIGGS": 1, "SUSY": 2}.get(dataset, "")
        feats = [f for f in FEATURE_SETS if f in set(part.feature_set)]
        lines += [f"## Table {number}: {dataset}, test AUC, ours vs the paper", "",
                  "Each cell: our mean (std) over seeds / the paper's mean (std); the "
                  "difference in units of the combined std; the verdict.", "",
                  "| | " + " | ".join(FEATURE_LABELS[f] for f in feats) + " |",
                  "|---|" + "---|" * len(feats)]
        for model, rows in part.groupby("model", sort=False):
            lines.append(f"| {MODEL_LABELS[model]} | "
                         + " | ".join(_row_cells(rows, feats, _auc_cell)) + " |")
        for model, rows in part.groupby("model", sort=False):
            if not rows.paper_significance.isna().all():
                lines.append(f"| significance {MODEL_LABELS[model]} | "
                             + " | ".join(_row_cells(rows, feats, _significance_cell)) + " |")
        n_seeds = sorted(set(part[part.model != "bdt"].n_seeds)) or sorted(set(part.n_seeds))
        lines += ["", f"Seeds per network cell: {', '.join(map(str, n_seeds))} (the BDT: one "
                  f"fit per feature set). Verdict: reproduced "
                  f"when |ours - paper| <= {VERDICT_SIGMAS:g} x sqrt(std_ours^2 + "
                  f"std_paper^2) (at least {VERDICT_MIN_STD}). Significance: Asimov with "
                  "background uncertainty (Cowan et al. 2011) for 100 signal and 1000 +- 50 "
                  "background events at the best cut on the network output.", ""]
    return "\n".join(lines)


def table_latex(table: pd.DataFrame) -> str:
    """A LaTeX tabular per data set: rows models, columns feature sets, ours / paper."""
    out = []
    for dataset, part in table.groupby("dataset", sort=False):
        feats = [f for f in FEATURE_SETS if f in set(part.feature_set)]
        out += [f"% {dataset}: test AUC, ours mean (std) / paper", "\\begin{tabular}{l"
                + "c" * len(feats) + "}", "\\hline",
                " & " + " & ".join(FEATURE_LABELS[f] for f in feats) + " \\\\", "\\hline"]
        for model, rows in part.groupby("model", sort=False):
            cells = _row_cells(rows, feats, lambda r: f"{_cell(r.auc_mean, r.auc_std, r.n_seeds)}"
                               f" / {r.paper_auc:.3f}")
            out.append(f"{MODEL_LABELS[model]} & " + " & ".join(cells) + " \\\\")
        out += ["\\hline", "\\end{tabular}", ""]
    return "\n".join(out)


def load_logs(paths) -> pd.DataFrame:
    """Per-epoch CSV logs in long form: run columns, epoch, metric, split, value."""
    frames = []
    for path in paths:
        path = Path(path)
        dataset = path.parent.parent.parent.name
        model, features, seed = path.parent.name.rsplit("-", 2)
        df = pd.read_csv(path)
        df["epoch"] = df["epoch"] + 1
        for metric in ("loss", "auc"):
            for split, column in (("train", metric), ("validation", f"val_{metric}")):
                if column in df:
                    frames.append(pd.DataFrame({
                        "dataset": dataset, "model": model, "feature_set": features,
                        "seed": int(seed.removeprefix("seed")), "epoch": df["epoch"],
                        "metric": metric, "split": split, "value": df[column]}))
    return pd.concat(frames, ignore_index=True)


def plot_learning_curves(logs: pd.DataFrame, path: Path) -> None:
    """Loss and AUC per epoch, train vs validation, mean and band (std) over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    logs = logs.copy()
    logs["panel"] = (logs["dataset"] + " " + logs["model"].map(MODEL_LABELS) + ", "
                     + logs["feature_set"].map(FEATURE_LABELS))
    grid = sns.relplot(data=logs, x="epoch", y="value", hue="split", row="metric",
                       col="panel", kind="line", errorbar="sd", height=2.6, aspect=1.1,
                       facet_kws={"sharey": "row", "margin_titles": True})
    grid.set_titles(row_template="", col_template="{col_name}", size=8)
    for metric, axes in zip(grid.row_names, grid.axes):
        axes[0].set_ylabel({"loss": "loss (cross-entropy + L2)", "auc": "AUC"}.get(metric, metric))
    grid.figure.suptitle("Learning curves (mean and std over seeds)", y=1.02)
    save_figure(grid.figure, path)
    plt.close(grid.figure)


def plot_schedules(log_paths, path: Path) -> None:
    """The learning rate and momentum applied per epoch, as the CSV logs recorded them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_lr, ax_mu) = plt.subplots(1, 2, figsize=(10, 3.6))
    for log_path in log_paths:
        df = pd.read_csv(log_path)
        label = Path(log_path).parent.name
        if "learning_rate" in df:
            ax_lr.plot(df["epoch"] + 1, df["learning_rate"], lw=0.8, label=label)
        if "momentum" in df:
            ax_mu.plot(df["epoch"] + 1, df["momentum"], lw=0.8)
    ax_lr.set(yscale="log", xlabel="epoch", ylabel="learning rate (after the epoch)",
              title="Learning rate: / 1.0000002 per batch, floor 1e-6")
    ax_mu.set(xlabel="epoch", ylabel="momentum", title="Momentum: 0.9 -> 0.99 linear ramp")
    for ax in (ax_lr, ax_mu):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def _plot_roc_panels(runs: pd.DataFrame, panel_by: str, curve_by: str, curves: dict,
                     panel_labels: dict, path: Path) -> None:
    """Background rejection vs signal efficiency: one panel per (dataset, ``panel_by``),
    one curve per ``curve_by`` value in ``curves`` ({value: legend name}), averaged over
    seeds, with the mean AUC in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = {key: i for i, key in enumerate(panel_labels)}
    panels = sorted(runs.groupby(["dataset", panel_by], sort=False),
                    key=lambda item: (item[0][0], order.get(item[0][1], len(order))))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
    palette = dict(zip(curves, sns.color_palette("colorblind", len(curves))))
    for ax, ((dataset, panel), part) in zip(axes[0], panels):
        for value, name in curves.items():
            rows = part[part[curve_by] == value]
            if rows.empty:
                continue
            efficiency = np.asarray(rows.iloc[0].roc_efficiency)
            rejection = np.mean(np.stack(rows.roc_rejection.map(np.asarray).to_list()), axis=0)
            ax.plot(efficiency, rejection, color=palette[value],
                    label=f"{name} (AUC = {rows.auc.mean():.3f})")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Signal efficiency",
               ylabel="Background rejection", title=f"{dataset}: {panel_labels[panel]}")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_roc_curves(runs: pd.DataFrame, path: Path) -> None:
    """Fig. 7 style: one panel per model, one curve per feature set."""
    _plot_roc_panels(runs, "model", "feature_set", FEATURE_LABELS, MODEL_LABELS, path)


def plot_roc_by_feature_set(runs: pd.DataFrame, path: Path) -> None:
    """Supp. Figs. 1-3 style: one panel per feature set, one curve per model (BDT too)."""
    models = {m: label for m, label in MODEL_LABELS.items() if m in set(runs.model)}
    _plot_roc_panels(runs, "feature_set", "model", models, FEATURE_LABELS, path)


SUMMARY = """# Summary of this reproduction

What the workflow produced, and what each file shows. Every number traces back to a run
under `{results}`: `<dataset>/runs/<model>-<features>-seed<seed>/` (per-epoch `log.csv`,
`metrics.json`, checkpoints, test scores) and `<dataset>/evaluation/*.json`.

- [auc_table.md](auc_table.md) (also [CSV](auc_table.csv), [LaTeX](auc_table.tex)): the
  paper's Table 1/2 layout, our test AUC as mean (std) over {n_seeds} seed(s) per network
  (the BDT once per feature set) beside the paper's value, the difference in combined
  standard deviations, a verdict per cell, and the discovery-significance rows.
- [learning_curves.png](learning_curves.png) (and PDF): loss and AUC per epoch, training vs
  validation, one column per model and feature set, mean and std band over seeds. Not in
  the paper; made from the per-epoch CSV logs.
- [schedules.png](schedules.png) (and PDF): the learning rate and momentum actually applied
  per epoch in every run (from the CSV logs).
- [roc_curves.png](roc_curves.png) (and PDF): background rejection vs signal efficiency per
  model, one curve per feature set with its AUC in the legend, as in the paper's Fig. 7.
- [roc_by_feature_set.png](roc_by_feature_set.png) (and PDF): the same curves grouped by
  feature set, one curve per model (BDT included), as in the Supplementary Figures.
- `features_<dataset>_low_level.png`, `features_<dataset>_high_level.png`: each input
  feature, signal vs background, as fractions of events (Figs. 2/3 and 5/6).
- `fig8_HIGGS_mass_after_cut.png`: m_Wbb and m_WWbb of the events passing a 90%
  background-rejection cut, DN on low-level vs NN on high-level inputs (Fig. 8).

{table}
"""


def write_report(evaluation_paths, log_paths, figures_dir) -> pd.DataFrame:
    """Write the tables, figures and summary into ``figures_dir``; return the AUC table."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    runs = load_evaluations(evaluation_paths)
    table = auc_table(runs)
    markdown = table_markdown(table)
    write_text_atomic(figures_dir / "auc_table.md", markdown + "\n")
    write_text_atomic(figures_dir / "auc_table.tex", table_latex(table))
    write_text_atomic(figures_dir / "auc_table.csv",
                      table.to_csv(index=False, float_format="%.6f"))
    plot_learning_curves(load_logs(log_paths), figures_dir / "learning_curves.png")
    plot_schedules(log_paths, figures_dir / "schedules.png")
    plot_roc_curves(runs[runs.model != "bdt"], figures_dir / "roc_curves.png")
    plot_roc_by_feature_set(runs, figures_dir / "roc_by_feature_set.png")
    results = Path(evaluation_paths[0]).parent.parent.parent
    network_seeds = sorted(set(table[table.model != "bdt"].n_seeds)) or sorted(set(table.n_seeds))
    summary = SUMMARY.format(results=f"{results}/", n_seeds=", ".join(map(str, network_seeds)),
                             table=markdown)
    write_text_atomic(figures_dir / "summary.md", summary)
    log.info("wrote %s", ", ".join(sorted(p.name for p in figures_dir.iterdir())))
    return table


def write_supp_table3(evaluation_paths, md_path, csv_path) -> pd.DataFrame:
    """Supplementary Table 3: our AUC beside the paper's for each width/depth variant."""
    runs = load_evaluations(evaluation_paths)
    # The Table 1 networks are Supp. Table 3's "NN 300" and "DN 5 layers".
    runs["model"] = runs["model"].replace({"shallow": "shallow_w300", "deep": "deep_h4"})
    table = runs.groupby(["model", "feature_set"], sort=False).agg(
        auc=("auc", "mean"), n_seeds=("seed", "nunique")).reset_index()
    table["label"] = table["model"].map(SUPP_TABLE3_LABELS)
    table["paper_auc"] = [SUPP_TABLE3.get(m, {}).get(f, math.nan)
                          for m, f in zip(table.model, table.feature_set)]
    table["difference"] = table["auc"] - table["paper_auc"]
    feats = [f for f in FEATURE_SETS if f in set(table.feature_set)]
    lines = ["## Supplementary Table 3: HIGGS test AUC by width and depth, ours / the paper", "",
             "| | " + " | ".join(FEATURE_LABELS[f] for f in feats) + " |",
             "|---|" + "---|" * len(feats)]
    for model in SUPP_TABLE3:
        rows = table[table.model == model]
        if rows.empty:
            continue
        cells = []
        for f in feats:
            r = rows[rows.feature_set == f]
            cells.append("" if r.empty else
                         f"{r.iloc[0].auc:.3f} / {r.iloc[0].paper_auc:.3f}")
        lines.append(f"| {SUPP_TABLE3_LABELS[model]} | " + " | ".join(cells) + " |")
    lines += ["", "One seed per cell (the paper reports single values here). "
              "\"DN k layers\" counts the output layer, as the paper does.", ""]
    write_text_atomic(md_path, "\n".join(lines))
    write_text_atomic(csv_path, table.to_csv(index=False, float_format="%.6f"))
    return table
