"""Tables and figures for ``paper_figures/``: the paper's AUC table beside ours, a
description of how the runs were made (from the settings each run recorded), learning
curves, schedules and ROC curves (drawn by ``reproduce.report.report_figures``), a one-page
summary, an HTML page for Snakemake's report (``reproduce.report.report_html``), and the captions
of that report.

The workflow hands the report one :class:`ReportedRun` per run of its config (identity and
file paths). ``write_report`` needs every run finished; ``write_partial_report`` renders
whatever exists (finished runs, and the live logs of runs in training) and marks the rest.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from reproduce.atomic_files import write_text_atomic
from reproduce.data.tfrecords import STANDARDIZATIONS
from reproduce.datasets import DATASETS, FEATURE_SETS
from reproduce.layout import ReportFiles
from reproduce.metrics import (SIGNIFICANCE_BACKGROUND_EVENTS, SIGNIFICANCE_BACKGROUND_UNCERTAINTY,
                      SIGNIFICANCE_SIGNAL_EVENTS)
from reproduce.model_registry import model_label, model_labels
from reproduce.paper_values import (AUC, BDT_REFERENCE, SIGNIFICANCE, SUPP_TABLE3,
                           SUPP_TABLE3_LABELS)

log = logging.getLogger(__name__)

FEATURE_LABELS = {"low": "low-level", "high": "high-level", "complete": "complete"}
# A cell is "reproduced" when |ours - paper| <= VERDICT_SIGMAS * combined std, with the
# combined std sqrt(std_ours^2 + std_paper^2) never taken below VERDICT_MIN_STD; otherwise
# it is "above the paper" or "below the paper".
VERDICT_SIGMAS = 2.0
VERDICT_MIN_STD = 0.001

# What a metrics.json written before these keys existed meant: the best-validation
# checkpoint was evaluated, the Methods text's stopping rule ran, and each seed drew its
# own minibatch order.
LEGACY_EVALUATED_WEIGHTS = "best_validation"
LEGACY_STOPPING_RULE = "paper_text"
LEGACY_BATCH_ORDER = "per_seed"
WEIGHTS_DESCRIPTION = {"final": "the weights when training ended",
                       "best_validation": "the checkpoint with the lowest validation loss"}
STOPPING_DESCRIPTION = {
    "authors": "authors: train every epoch up to the cap (the authors' instruction for the "
               "paper's results)",
    "pylearn2": "pylearn2: the released code's criterion as Pylearn2 ran it",
    "paper_text": "paper_text: the Methods text's rule (momentum saturated, no relative "
                  "improvement of the validation loss over the patience)",
}
CONSTANT_OUTPUT_MARK = "\u2020"  # dagger

# The "train" curve of the learning curves. The monitor columns are what the authors'
# code plotted as "train"; the running mean is Keras's average over the epoch's batches.
TRAIN_CURVES = ("monitor", "running_mean")
TRAIN_COLUMNS = {"monitor": {"loss": "train_monitor_loss", "auc": "train_monitor_auc"},
                 "running_mean": {"loss": "loss", "auc": "auc"}}
TRAIN_CURVE_LABELS = {"monitor": "train, end of epoch (monitor rows)",
                      "running_mean": "train, running mean over the epoch"}
VALIDATION_LABEL = "validation"


@dataclasses.dataclass(frozen=True)
class ReportedRun:
    """One run of the workflow as the report reads it: identity and file paths.

    ``log`` and ``progress_log`` are the final and the live per-epoch CSV logs of a network
    (None for the BDT).
    """

    dataset: str
    model: str
    feature_set: str
    seed: int
    metrics: Path
    evaluation: Path
    log: Path | None = None
    progress_log: Path | None = None

    @classmethod
    def from_dict(cls, values: dict) -> "ReportedRun":
        paths = {k: Path(values[k]) if values.get(k) else None
                 for k in ("metrics", "evaluation", "log", "progress_log")}
        return cls(dataset=values["dataset"], model=values["model"],
                   feature_set=values["feature_set"], seed=int(values["seed"]), **paths)

    @property
    def key(self) -> tuple:
        return (self.dataset, self.model, self.feature_set, self.seed)

    @property
    def finished(self) -> bool:
        return self.metrics.exists() and self.evaluation.exists()

    @property
    def current_log(self) -> Path | None:
        """The final log of a run that has written its metrics.json, else the live one
        (a run being retrained may still have an older final log), else None."""
        order = (self.log, self.progress_log) if self.metrics.exists() else \
            (self.progress_log, self.log)
        for path in order:
            if path is not None and path.exists():
                return path
        return None


# --------------------------------------------------------------------------- loading


def run_facts(metrics: dict) -> dict:
    """The facts of one run that the report shows, from its metrics.json; keys that older
    trainings did not write take the old behaviour (``LEGACY_*``)."""
    settings = metrics.get("settings") or {}
    network = metrics.get("model") != "bdt"
    stopping = metrics.get("stopping") or {}
    stopped_by = stopping.get("stopped_by")
    if stopped_by is None and network:
        stopped_by = "before the epoch cap" if metrics.get("stopped_early") else "the epoch cap"
    return {
        "evaluated_weights": (metrics.get("evaluated_weights", LEGACY_EVALUATED_WEIGHTS)
                              if network else None),
        "constant_output": bool(metrics.get("constant_output", False)),
        "warnings": list(metrics.get("warnings") or []),
        "stopping_rule": (stopping.get("rule") or settings.get("stopping", LEGACY_STOPPING_RULE)
                          if network else None),
        "stopped_by": stopped_by,
        "epochs_trained": metrics.get("epochs_trained"),
        "batch_order": settings.get("batch_order", LEGACY_BATCH_ORDER) if network else None,
        "settings": settings,
        "splits": (metrics.get("data") or {}).get("splits"),
        "versions": metrics.get("versions") or {},
        "trees": metrics.get("trees"),
        "trainable_parameters": metrics.get("trainable_parameters"),
    }


def _evaluation_row(evaluation: dict) -> dict:
    return {"dataset": evaluation["dataset"], "model": evaluation["model"],
            "feature_set": evaluation["feature_set"], "seed": int(evaluation["seed"]),
            "auc": evaluation["auc"], "test_events": evaluation.get("test_events"),
            "significance": evaluation["significance"]["significance"],
            "roc_efficiency": evaluation["roc"]["signal_efficiency"],
            "roc_rejection": evaluation["roc"]["background_rejection"]}


def load_evaluations(paths) -> pd.DataFrame:
    """One row per run: dataset, model, feature_set, seed, auc, significance, roc."""
    rows = [_evaluation_row(json.loads(Path(p).read_text())) for p in paths]
    if not rows:
        raise ValueError("no evaluations to report")
    return pd.DataFrame(rows)


def load_runs(runs: list[ReportedRun]) -> pd.DataFrame:
    """One row per finished run: its evaluation and the facts of its metrics.json.

    Raises:
        ValueError: a run's evaluation or metrics.json names another run than expected.
    """
    rows = []
    for run in runs:
        evaluation = json.loads(run.evaluation.read_text())
        metrics = json.loads(run.metrics.read_text())
        row = _evaluation_row(evaluation)
        # metrics.json names the architecture ("deep" for deep_dropout or deep_h5), the
        # evaluation the run
        for name, record, fields in (
                ("evaluation", evaluation, ("dataset", "model", "feature_set", "seed")),
                ("metrics.json", metrics, ("dataset", "feature_set", "seed"))):
            found = tuple(record.get(f) for f in fields)
            expected = tuple(getattr(run, f) for f in fields)
            if found != expected:
                raise ValueError(f"{run.metrics.parent}: the {name} is of run {found}, "
                                 f"expected {expected}")
        rows.append(row | run_facts(metrics))
    return pd.DataFrame(rows)


def load_logs(runs: list[ReportedRun], train_curve: str = "monitor") -> pd.DataFrame:
    """The per-epoch CSV logs of the networks in long form.

    Columns: dataset, model, feature_set, seed, epoch (from 1), metric ("loss" | "auc"),
    split (``VALIDATION_LABEL`` or one of ``TRAIN_CURVE_LABELS``' values), value,
    in_progress (True when read from a live log). The train curve is the one
    ``train_curve`` names where the log has its columns, else the running mean.
    """
    if train_curve not in TRAIN_CURVES:
        raise ValueError(f"report.train_curve: expected one of {', '.join(TRAIN_CURVES)}, "
                         f"got {train_curve!r}")
    frames = []
    for run in runs:
        path = run.current_log
        if path is None:
            continue
        df = read_log(path)
        if df.empty:
            continue
        curve = train_curve if set(TRAIN_COLUMNS[train_curve].values()) <= set(df) \
            else "running_mean"
        for metric in ("loss", "auc"):
            for split, column in ((TRAIN_CURVE_LABELS[curve], TRAIN_COLUMNS[curve][metric]),
                                  (VALIDATION_LABEL, f"val_{metric}")):
                if column in df:
                    frames.append(pd.DataFrame({
                        "dataset": run.dataset, "model": run.model,
                        "feature_set": run.feature_set, "seed": run.seed,
                        "epoch": df["epoch"] + 1, "metric": metric, "split": split,
                        "value": df[column], "in_progress": path != run.log}))
    columns = ["dataset", "model", "feature_set", "seed", "epoch", "metric", "split", "value",
               "in_progress"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def read_log(path: Path) -> pd.DataFrame:
    """A CSV log, also while a training appends to it: an incomplete last line is dropped."""
    text = Path(path).read_text()
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
    if not text.strip():
        return pd.DataFrame()
    from io import StringIO

    return pd.read_csv(StringIO(text))


# --------------------------------------------------------------------------- the table


def _verdict(difference, sigmas) -> str:
    if math.isnan(difference):
        return "no paper value"
    if abs(sigmas) <= VERDICT_SIGMAS:
        return "reproduced"
    return "above the paper" if difference > 0 else "below the paper"


def auc_table(runs: pd.DataFrame, expected: list[ReportedRun] | None = None) -> pd.DataFrame:
    """Mean and std over seeds per (dataset, model, feature set), with the paper's values.

    Args:
        runs: one row per finished run (``load_runs``; ``load_evaluations`` rows work too,
            with the old behaviour's facts).
        expected: every run of the workflow; cells without a finished run get the verdict
            "missing", and ``n_seeds_expected`` counts the seeds asked for.

    Columns: dataset, model, label, feature_set, n_seeds, n_seeds_expected, auc_mean,
    auc_std, paper_auc, paper_std, difference, difference_sigmas, verdict,
    significance_mean, paper_significance, evaluated_weights, constant_output_seeds,
    method (the BDT's library and settings), reference_auc, reference.
    """
    runs = runs.copy()
    if "constant_output" not in runs:
        runs["constant_output"] = False
    if "evaluated_weights" not in runs:
        runs["evaluated_weights"] = np.where(runs["model"] == "bdt", None,
                                             LEGACY_EVALUATED_WEIGHTS)
    keys = ["dataset", "model", "feature_set"]
    grouped = runs.groupby(keys, sort=False)
    table = grouped.agg(n_seeds=("seed", "nunique"), auc_mean=("auc", "mean"),
                        auc_std=("auc", "std"), significance_mean=("significance", "mean"))
    table["evaluated_weights"] = grouped["evaluated_weights"].agg(
        lambda v: ", ".join(sorted({w for w in v if isinstance(w, str)})))
    constant = {key: sorted(int(s) for s in g.seed[g.constant_output.astype(bool)])
                for key, g in grouped}
    table["constant_output_seeds"] = [constant[key] for key in table.index]
    table = table.reset_index()
    table["auc_std"] = table["auc_std"].fillna(0.0)
    if expected:
        wanted = pd.DataFrame([dict(zip(keys, r.key[:3])) | {"seed": r.seed} for r in expected])
        counts = wanted.groupby(keys, sort=False).seed.nunique().rename("n_seeds_expected")
        table = table.merge(counts.reset_index(), on=keys, how="right")
        table["n_seeds"] = table["n_seeds"].fillna(0).astype(int)
        table["constant_output_seeds"] = table["constant_output_seeds"].apply(
            lambda v: v if isinstance(v, list) else [])
        table["evaluated_weights"] = table["evaluated_weights"].fillna("")
    else:
        table["n_seeds_expected"] = table["n_seeds"]
    table["label"] = table["model"].map(model_label)
    paper = [AUC.get(d, {}).get(m, {}).get(f, (math.nan, math.nan))
             for d, m, f in zip(table.dataset, table.model, table.feature_set)]
    table["paper_auc"] = [p[0] for p in paper]
    table["paper_std"] = [p[1] for p in paper]
    table["difference"] = table["auc_mean"] - table["paper_auc"]
    combined = np.maximum(np.hypot(table["auc_std"], table["paper_std"]), VERDICT_MIN_STD)
    table["difference_sigmas"] = table["difference"] / combined
    table["verdict"] = [("missing" if n == 0 else _verdict(d, s)) for n, d, s in
                        zip(table.n_seeds, table.difference, table.difference_sigmas)]
    table["paper_significance"] = [SIGNIFICANCE.get(d, {}).get(m, {}).get(f, math.nan)
                                   for d, m, f in zip(table.dataset, table.model,
                                                      table.feature_set)]
    references = [BDT_REFERENCE.get(d, {}).get(f) if m == "bdt" else None
                  for d, m, f in zip(table.dataset, table.model, table.feature_set)]
    table["reference_auc"] = [r["auc"] if r else math.nan for r in references]
    table["reference"] = [f"{r['name']} ({r['settings']}; {r['test_rows']})" if r else ""
                          for r in references]
    methods = {dataset: bdt_method(part) for dataset, part in runs[runs.model == "bdt"]
               .groupby("dataset")} if "settings" in runs else {}
    table["method"] = [methods.get(d, "") if m == "bdt" else ""
                       for d, m in zip(table.dataset, table.model)]
    order = {m: i for i, m in enumerate(model_labels(table["model"]))}
    table["_m"] = table["model"].map(order)
    table["_f"] = table["feature_set"].map({f: i for i, f in enumerate(FEATURE_SETS)})
    table = table.sort_values(["dataset", "_m", "_f"]).drop(columns=["_m", "_f"])
    return table[["dataset", "model", "label", "feature_set", "n_seeds", "n_seeds_expected",
                  "auc_mean", "auc_std", "paper_auc", "paper_std", "difference",
                  "difference_sigmas", "verdict", "significance_mean", "paper_significance",
                  "evaluated_weights", "constant_output_seeds", "method", "reference_auc",
                  "reference"]].reset_index(drop=True)


def _cell(mean, std, n):
    return f"{mean:.3f} ({std:.3f})" if n > 1 else f"{mean:.3f}"


def cell_parts(r) -> dict:
    """The texts of one table cell: ours, the paper's, the difference and verdict, the
    seeds (when fewer than asked for) and the constant-output marker."""
    paper = "n/a" if math.isnan(r.paper_auc) else f"{r.paper_auc:.3f} ({r.paper_std:.3f})"
    if r.n_seeds == 0:
        return {"ours": "missing", "paper": paper, "verdict": "missing",
                "seeds": f"0 of {r.n_seeds_expected} seeds finished", "mark": ""}
    verdict = r.verdict if math.isnan(r.difference_sigmas) else \
        f"{r.difference_sigmas:+.1f} sd, {r.verdict}"
    seeds = "" if r.n_seeds == r.n_seeds_expected else \
        f"{r.n_seeds} of {r.n_seeds_expected} seeds finished"
    return {"ours": _cell(r.auc_mean, r.auc_std, r.n_seeds), "paper": paper,
            "verdict": verdict, "seeds": seeds,
            "mark": CONSTANT_OUTPUT_MARK if r.constant_output_seeds else ""}


def _row_cells(rows: pd.DataFrame, feats, render) -> list[str]:
    """One rendered cell per feature set ('' where the row has no run for it)."""
    cells = []
    for f in feats:
        r = rows[rows.feature_set == f]
        cells.append("" if r.empty else render(r.iloc[0]))
    return cells


def _auc_cell(r) -> str:
    p = cell_parts(r)
    seeds = f"; {p['seeds']}" if p["seeds"] else ""
    return f"{p['ours']}{p['mark']} / {p['paper']}; {p['verdict']}{seeds}"


def _significance_cell(r) -> str:
    paper = "n/a" if math.isnan(r.paper_significance) else f"{r.paper_significance:.1f}"
    ours = "missing" if r.n_seeds == 0 else f"{r.significance_mean:.1f}"
    return f"{ours} sigma / {paper} sigma"


def table_number(dataset: str) -> str:
    """The paper's table for a data set ("Table 1" for HIGGS), or the data set's name."""
    spec = DATASETS.get(dataset)
    return spec.paper_table if spec and spec.paper_table else dataset


def table_notes(part: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    """The footnotes of one data set's table, built from its runs' recorded facts."""
    networks = part[part.model != "bdt"]
    n_seeds = sorted(set(networks.n_seeds_expected)) or sorted(set(part.n_seeds_expected))
    notes = [f"Each cell: our test AUC, mean (std) over seeds / the paper's mean (std); the "
             f"difference in units of the combined std; the verdict: reproduced when "
             f"the two differ by at most {VERDICT_SIGMAS:g} x sqrt(std_ours^2 + std_paper^2) (at "
             f"least {VERDICT_MIN_STD}), otherwise above or below the paper. Seeds per "
             f"network cell: {', '.join(map(str, n_seeds))}."]
    weights = networks[networks.n_seeds > 0].groupby("evaluated_weights", sort=True)
    if len(weights) == 1:
        name = next(iter(weights.groups))
        notes.append(f"Network AUCs are from {_weights_text(name)} of each run "
                     f"(metrics.json evaluated_weights: {name}).")
    elif len(weights) > 1:
        notes.append("Network AUCs come from different weights (metrics.json "
                     "evaluated_weights): " + "; ".join(
                         f"{_weights_text(name)} in " + ", ".join(_cell_names(rows))
                         for name, rows in weights) + ".")
    constant = part[part.constant_output_seeds.map(len) > 0]
    if not constant.empty:
        notes.append(f"{CONSTANT_OUTPUT_MARK} A network trained to a constant output "
                     "(metrics.json constant_output): " + "; ".join(
                         f"{name} seed(s) {', '.join(map(str, r.constant_output_seeds))}"
                         for name, r in zip(_cell_names(constant), constant.itertuples()))
                     + ". Its AUC measures no learning; the cell's mean includes it.")
    bdt = runs[(runs.model == "bdt") & (runs.dataset == part.dataset.iloc[0])] \
        if "settings" in runs else runs.iloc[0:0]
    if not bdt.empty:
        notes.append(bdt_note(bdt, part[part.model == "bdt"]))
    notes.append(f"Significance: Asimov significance with background uncertainty (Cowan et "
                 f"al. 2011) for {SIGNIFICANCE_SIGNAL_EVENTS:g} signal and "
                 f"{SIGNIFICANCE_BACKGROUND_EVENTS:g} +- "
                 f"{SIGNIFICANCE_BACKGROUND_UNCERTAINTY:g} background events at the best cut "
                 "on the classifier output.")
    return notes


def _weights_text(name: str) -> str:
    return " and ".join(WEIGHTS_DESCRIPTION.get(n.strip(), n) for n in name.split(","))


def _cell_names(rows: pd.DataFrame) -> list[str]:
    return [f"{label} {FEATURE_LABELS[f]}" for label, f in zip(rows.label, rows.feature_set)]


def bdt_method(bdt_runs: pd.DataFrame) -> str:
    """The BDT's library and settings as its metrics.json recorded them."""
    settings = [dict(s) for s in bdt_runs.settings if isinstance(s, dict)]
    if not settings:
        return ""
    library = _distinct([s.get("library", "unknown library") for s in settings])
    knobs = _distinct([", ".join(f"{k} {v}" for k, v in s.items() if k != "library")
                       for s in settings])
    return f"{library} ({knobs})"


def row_label(r) -> str:
    """A table row's name: the paper's label, and for the BDT the library that ran it."""
    return f"{r.label} ({r.method})" if r.method else r.label


def _bdt_fit_text(bdt_runs: pd.DataFrame) -> str:
    trees = sorted({int(t) for t in bdt_runs.trees if t is not None and not pd.isna(t)})
    kept = f" ({', '.join(map(str, trees))} trees kept)" if trees else ""
    return (f"{bdt_method(bdt_runs)}, one fit per feature set, early stopping on the "
            f"validation split{kept}; the paper's BDT was TMVA's, settings not published.")


def bdt_note(bdt_runs: pd.DataFrame, bdt_cells: pd.DataFrame | None = None) -> str:
    """Which library and settings the BDT rows used (from metrics.json), with the
    published reference beside the paper's TMVA BDT."""
    text = f"BDT: {_bdt_fit_text(bdt_runs)}"
    cells = bdt_cells if bdt_cells is not None else pd.DataFrame(columns=["reference"])
    for r in cells[cells.reference != ""].itertuples():
        paper = "" if math.isnan(r.paper_auc) else f" against the paper's {r.paper_auc:.3f}"
        text += (f" Reference for the {FEATURE_LABELS[r.feature_set]} cell: {r.reference}: "
                 f"AUC {r.reference_auc:.3f}{paper}; a modern gradient-boosting library is "
                 "expected above the paper's BDT at full size.")
    return text


def _distinct(values) -> str:
    seen = list(dict.fromkeys(str(v) for v in values))
    return " | ".join(seen)


def table_markdown(table: pd.DataFrame, runs: pd.DataFrame | None = None) -> str:
    """The paper's layout: rows BDT/NN/DN (and dropout), columns low / high / complete."""
    runs = table.iloc[0:0] if runs is None else runs
    lines = []
    for dataset, part in table.groupby("dataset", sort=False):
        feats = [f for f in FEATURE_SETS if f in set(part.feature_set)]
        lines += [f"## {table_number(dataset)}: {dataset}, test AUC, ours vs the paper", "",
                  "| | " + " | ".join(FEATURE_LABELS[f] for f in feats) + " |",
                  "|---|" + "---|" * len(feats)]
        for model, rows in part.groupby("model", sort=False):
            lines.append(f"| {row_label(rows.iloc[0])} | "
                         + " | ".join(_row_cells(rows, feats, _auc_cell)) + " |")
            references = rows[rows.reference != ""]
            if not references.empty:
                lines.append("| BDT reference (published) | " + " | ".join(_row_cells(
                    references, feats, lambda r: f"{r.reference_auc:.3f}")) + " |")
        for model, rows in part.groupby("model", sort=False):
            if not rows.paper_significance.isna().all():
                lines.append(f"| significance {model_label(model)} | "
                             + " | ".join(_row_cells(rows, feats, _significance_cell)) + " |")
        lines += [""] + [f"{note}\n" for note in table_notes(part, runs)]
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
            cells = _row_cells(rows, feats, lambda r: (
                "missing" if r.n_seeds == 0 else _cell(r.auc_mean, r.auc_std, r.n_seeds))
                + ("$^\\dagger$" if r.constant_output_seeds else "")
                + f" / {r.paper_auc:.3f}")
            out.append(f"{model_label(model)} & " + " & ".join(cells) + " \\\\")
        out += ["\\hline", "\\end{tabular}", ""]
    return "\n".join(out)


def table_csv(table: pd.DataFrame) -> str:
    csv = table.copy()
    csv["constant_output_seeds"] = csv["constant_output_seeds"].map(
        lambda seeds: " ".join(map(str, seeds)))
    return csv.to_csv(index=False, float_format="%.6f")


# --------------------------------------------------------------------- description


def _grouped(runs: pd.DataFrame, value) -> str:
    """``value(row)`` over the runs: one text if all agree, else each with its models."""
    texts: dict[str, list[str]] = {}
    for r in runs.itertuples():
        text = value(r)
        if text is None:
            continue
        names = texts.setdefault(str(text), [])
        if model_label(r.model) not in names:
            names.append(model_label(r.model))
    if len(texts) <= 1:
        return next(iter(texts), "not recorded")
    return "; ".join(f"{text} ({', '.join(names)})" for text, names in texts.items())


def _setting(key, fmt="{}"):
    def value(r):
        v = r.settings.get(key)
        return None if v is None else fmt.format(v)
    return value


def _standardize_text(r) -> str | None:
    method = r.settings.get("standardize")
    if method is None:
        return None
    return f"standardize: {method} ({STANDARDIZATIONS.get(method, 'unknown')})"


def _splits_text(splits) -> str | None:
    if not splits:
        return None
    names = {"train": "training", "valid": "validation", "test": "test"}
    return "; ".join(f"{names.get(k, k)} rows {a:,}-{b:,} ({b - a:,} events)"
                     for k, (a, b) in splits.items())


def _momentum_text(r) -> str | None:
    s = r.settings
    if "initial_momentum" not in s:
        return None
    return (f"{s['initial_momentum']:g} -> {s['final_momentum']:g} linearly over "
            f"{s['momentum_saturation_epochs']} epochs")


def _learning_rate_text(r) -> str | None:
    s = r.settings
    if "learning_rate" not in s:
        return None
    factor = s.get("decay_factor", s.get("learning_rate_decay_factor"))
    schedule = s.get("learning_rate_schedule", "per_batch").replace("_", " ")
    return (f"{s['learning_rate']:g}, divided by {factor:.10g} per batch (applied "
            f"{schedule}), floor {s.get('learning_rate_floor', 0):g}")


def _stopping_text(r) -> str:
    rule = STOPPING_DESCRIPTION.get(r.stopping_rule, r.stopping_rule)
    s = r.settings
    text = f"{rule}; cap {s.get('max_epochs')} epochs"
    if r.stopping_rule in ("paper_text", "pylearn2"):
        text += (f", patience {s.get('stopping_patience', s.get('patience'))}, relative "
                 f"improvement {s.get('min_relative_improvement'):g}")
    return text


def _epochs_text(runs: pd.DataFrame) -> str:
    parts = []
    for (label, stopped_by), rows in runs.groupby(
            [runs.model.map(model_label), "stopped_by"], sort=False):
        epochs = sorted(int(e) for e in rows.epochs_trained if e is not None and not pd.isna(e))
        span = f"{epochs[0]}" if epochs[0] == epochs[-1] else f"{epochs[0]}-{epochs[-1]}"
        parts.append(f"{label}: {span} epochs, stopped by {stopped_by} ({len(rows)} "
                     f"run{'s' if len(rows) > 1 else ''})")
    return "; ".join(parts)


def _parameters_text(runs: pd.DataFrame) -> str:
    counts = runs.drop_duplicates(["model", "feature_set"])
    return "; ".join(f"{model_label(r.model)} {FEATURE_LABELS[r.feature_set]} "
                     f"{int(r.trainable_parameters):,}" for r in counts.itertuples()
                     if r.trainable_parameters and not pd.isna(r.trainable_parameters)) \
        or "not recorded"


def _versions_text(runs: pd.DataFrame) -> str:
    versions: dict[str, list[str]] = {}
    for record in runs.versions:
        for name, version in record.items():
            versions.setdefault(name, [])
            if str(version) not in versions[name]:
                versions[name].append(str(version))
    return ", ".join(f"{name} {' / '.join(v)}" for name, v in versions.items()) or \
        "not recorded"


def describe_runs(runs: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """How the finished runs of each data set were made, from their metrics.json: data and
    split, networks, recipe, stopping, minibatch order, evaluated weights, seeds, the BDT
    and the versions. ``{dataset: [(item, text), ...]}``; settings that differ between
    runs are listed with the models that used each."""
    described = {}
    for dataset, part in runs.groupby("dataset", sort=False):
        nets = part[part.model != "bdt"]
        bdt = part[part.model == "bdt"]
        items = [("data", f"{dataset}; " + _grouped(part, lambda r: _splits_text(r.splits))
                  + f"; {_grouped(part, lambda r: f'{r.test_events:,} test events')}")]
        if not nets.empty:
            items += [
                ("trainable parameters", _parameters_text(nets)),
                ("minibatch", _grouped(nets, _setting("batch_size", "{} examples"))),
                ("learning rate", _grouped(nets, _learning_rate_text)),
                ("momentum", _grouped(nets, _momentum_text)),
                ("weight decay", _grouped(nets, _setting("weight_decay", "{:g} x sum W^2"))),
                ("dropout", _grouped(nets, _setting("dropout", "{}"))),
                ("inputs", _grouped(nets, _standardize_text)),
                ("stopping rule", _grouped(nets, _stopping_text)),
                ("epochs trained", _epochs_text(nets)),
                ("minibatch order", _grouped(nets, lambda r: r.batch_order)),
                ("evaluated weights", _grouped(nets, lambda r: (
                    f"{r.evaluated_weights} ({WEIGHTS_DESCRIPTION.get(r.evaluated_weights)})"))),
                ("seeds", _grouped(nets, lambda r: ", ".join(
                    str(s) for s in sorted(set(nets[nets.model == r.model].seed))))),
            ]
        if not bdt.empty:
            items.append(("BDT", _bdt_fit_text(bdt)))
        items.append(("versions", _versions_text(part)))
        described[dataset] = items
    return described


def description_markdown(described: dict) -> str:
    lines = []
    for dataset, items in described.items():
        lines += [f"## How the {dataset} runs were made (from each run's metrics.json)", ""]
        lines += [f"- {item}: {text}" for item, text in items] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures
# (drawn by reproduce.report.report_figures)


def seeds_phrase(counts) -> str:
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
    return (f"Learning rate: {_grouped(nets, _learning_rate_text)}",
            f"Momentum: {_grouped(nets, _momentum_text)}")



# --------------------------------------------------------------------------- captions


def _train_curve_text(logs: pd.DataFrame, finished: pd.DataFrame, train_curve: str) -> str:
    shown = [h for h in TRAIN_CURVE_LABELS.values() if h in set(logs.split)]
    rows = _grouped(finished[finished.model != "bdt"],
                    _setting("train_monitor_rows", "{:,}")) if "settings" in finished else ""
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


def figure_captions(runs: list[ReportedRun], finished: pd.DataFrame, logs: pd.DataFrame,
                    train_curve: str) -> dict[str, str]:
    """One caption per figure of the report, true to the runs it shows: the seeds, the
    train curve shown, the recorded schedules and the evaluated weights. Plain text that is
    also valid reStructuredText (Snakemake's report captions)."""
    cell = ["dataset", "model", "feature_set"]
    nets = finished[finished.model != "bdt"]
    n_runs = len({r.key for r in runs if r.model != "bdt" and r.current_log is not None})
    in_training = int(logs.drop_duplicates([*cell, "seed"]).in_progress.sum())
    progress = f" {in_training} of them still in training (live logs)." if in_training else ""
    curve_seeds = seeds_phrase(logs.groupby(cell).seed.nunique())
    weights = _grouped(nets, lambda r: WEIGHTS_DESCRIPTION.get(r.evaluated_weights))
    test = _grouped(finished, lambda r: f"{r.test_events:,} events")
    lr_title, mu_title = schedule_titles(finished)
    roc = (f"on the test split ({test}), averaged over seeds "
           f"({seeds_phrase(nets.groupby(cell).seed.nunique())}), with the mean AUC in the "
           f"legend; network scores from {weights}.")
    return {
        "learning_curves":
            f"Learning curves of {n_runs} network runs: loss and AUC per epoch, training vs "
            f"validation, one column per model and feature set ({curve_seeds})."
            f"{progress} Validation: the whole cost and AUC on the validation split. "
            f"Training: {_train_curve_text(logs, finished, train_curve)}.",
        "schedules":
            "The learning rate (after each epoch) and the momentum applied per epoch, as "
            f"every run's CSV log recorded them. Recorded settings: {lr_title}. {mu_title}.",
        "roc_curves":
            "Background rejection vs signal efficiency in the paper's style (Fig. 7): one "
            f"panel per network, one curve per feature set, {roc}",
        "roc_by_feature_set":
            "The same ROC curves grouped by feature set (the paper's Supplementary Figures "
            f"1-3): one panel per feature set, one curve per model, BDT included, {roc}",
    }


# --------------------------------------------------------------------------- writers

SUMMARY_HEAD = """# Summary of this reproduction

{banner}What the workflow produced, and what each file shows. Every number traces back to a run
under `{results}`: `<dataset>/runs/<model>-<features>-seed<seed>/` (per-epoch `log.csv`,
`metrics.json` with the settings the run used, checkpoints, test scores) and
`<dataset>/evaluation/*.json`.
"""
# Figures of other rules (their captions are workflow/report/features.rst and fig8.rst).
DATA_FIGURES = """- `features_<dataset>_low_level.png`, `features_<dataset>_high_level.png`: each input
  feature, signal vs background, as fractions of events (Figs. 2/3 and 5/6).
- `fig8_<dataset>_mass_after_cut.png` (a data set whose registry entry names two masses:
  m_Wbb and m_WWbb for HIGGS): the masses of the events passing a 90%
  background-rejection cut, DN on low-level vs NN on high-level inputs (Fig. 8).
"""


def _empty_runs() -> pd.DataFrame:
    return pd.DataFrame(columns=["dataset", "model", "feature_set", "seed", "auc",
                                 "test_events", "significance", "roc_efficiency",
                                 "roc_rejection", "evaluated_weights", "constant_output",
                                 "warnings", "stopping_rule", "stopped_by", "epochs_trained",
                                 "batch_order", "settings", "splits", "versions", "trees",
                                 "trainable_parameters"])


def _flags(finished: pd.DataFrame) -> list[str]:
    """Runs to look at before trusting the table: constant outputs, recorded warnings."""
    flags = []
    for r in finished.itertuples():
        name = f"{r.dataset} {model_label(r.model)} " \
               f"{FEATURE_LABELS.get(r.feature_set, r.feature_set)} seed {r.seed}"
        if r.constant_output:
            flags.append(f"{CONSTANT_OUTPUT_MARK} {name} trained to a constant output "
                         "(metrics.json constant_output): its AUC measures no learning.")
        for warning in r.warnings or []:
            flags.append(f"{name}: {warning}")
    return flags


def _banner(runs: list[ReportedRun], finished: list[ReportedRun]) -> str:
    if len(finished) == len(runs):
        return ""
    training = sum(1 for r in runs if r not in finished and r.current_log is not None)
    return (f"Partial report: {len(finished)} of {len(runs)} runs finished, {training} in "
            "training (learning curves from their live logs). Cells without a finished run "
            "read 'missing'. The workflow's report rule overwrites these files when every "
            "run has finished.")


def _render(runs, files: ReportFiles, *, train_curve: str = "monitor", write_captions: bool = True,
            partial: bool = False) -> pd.DataFrame:
    from reproduce.report.report_figures import (plot_learning_curves, plot_roc_by_feature_set,
                                 plot_roc_curves, plot_schedules)
    from reproduce.report.report_html import report_page

    runs = [r if isinstance(r, ReportedRun) else ReportedRun.from_dict(r) for r in runs]
    if not runs:
        raise ValueError("no runs to report: the config lists none")
    finished = [r for r in runs if r.finished]
    if not partial and len(finished) < len(runs):
        missing = [str(r.metrics.parent) for r in runs if r not in finished]
        raise ValueError(f"{len(missing)} run(s) have no metrics.json or evaluation yet "
                         f"(first: {missing[0]}); the partial report renders unfinished runs")
    for path in (files.table_md, files.learning_curves, files.summary):
        path.parent.mkdir(parents=True, exist_ok=True)
    results = load_runs(finished) if finished else _empty_runs()
    logs = load_logs(runs, train_curve)
    table = auc_table(results, expected=runs)
    described = describe_runs(results)
    banner = _banner(runs, finished)
    notes = {dataset: table_notes(part, results)
             for dataset, part in table.groupby("dataset", sort=False)}
    markdown = (f"{banner}\n\n" if banner else "") + table_markdown(table, results)
    write_text_atomic(files.table_md, markdown + "\n")
    write_text_atomic(files.table_tex, table_latex(table))
    write_text_atomic(files.table_csv, table_csv(table))
    write_text_atomic(files.table_html, report_page(table, notes, described, banner=banner))
    plot_learning_curves(logs, files.learning_curves)
    plot_schedules([r for r in runs if r.model != "bdt"], results, files.schedules)
    plot_roc_curves(results[results.model != "bdt"], files.roc)
    plot_roc_by_feature_set(results, files.roc_by_feature_set)
    captions = figure_captions(runs, results, logs, train_curve)
    captions["auc_table"] = (
        "The paper's AUC tables beside ours, with a verdict per cell, and how the runs were "
        "made, from the settings each run recorded. " + " ".join(
            note for dataset_notes in notes.values() for note in dataset_notes))
    flags = _flags(results)
    results_dir = runs[0].evaluation.parent.parent.parent
    summary = [SUMMARY_HEAD.format(banner=f"**{banner}**\n\n" if banner else "",
                                   results=f"{results_dir}/")]
    if flags:
        summary += ["**Flagged runs** (see the table's footnotes):", ""]
        summary += [f"- {flag}" for flag in flags] + [""]

    def link(path):  # the summary's links, relative to the summary
        return os.path.relpath(path, files.summary.parent)

    summary += [
        f"- [{files.table_md.name}]({link(files.table_md)}) (also [CSV]"
        f"({link(files.table_csv)}), [LaTeX]({link(files.table_tex)}), [HTML]"
        f"({link(files.table_html)})): {captions['auc_table'].split('. ')[0]}.",
        *(f"- [{path.name}]({link(path)}) (and PDF): {captions[name]}"
          for name, path in (("learning_curves", files.learning_curves),
                             ("schedules", files.schedules), ("roc_curves", files.roc),
                             ("roc_by_feature_set", files.roc_by_feature_set))),
        DATA_FIGURES, markdown, description_markdown(described)]
    write_text_atomic(files.summary, "\n".join(summary))
    if write_captions:
        files.captions.mkdir(parents=True, exist_ok=True)
        for path in files.caption_files():
            write_text_atomic(path, captions[path.stem] + "\n")
    log.info("wrote %s", files.summary.parent)
    return table


def write_report(runs, files: ReportFiles, *, train_curve: str = "monitor") -> pd.DataFrame:
    """Write the tables, the HTML page, the figures, the summary and the captions of
    Snakemake's report to the paths of ``files``; return the AUC table.

    Args:
        runs: every run of the workflow (``ReportedRun`` or dicts of its fields), all finished.
        files: a ``reproduce.layout.ReportFiles``: the table in four formats, the four
            figures, the summary and the captions folder (one ``<figure>.rst`` each).
        train_curve: "monitor" (the authors' end-of-epoch monitor where logged) or
            "running_mean" (Keras's mean over the epoch).

    Raises:
        ValueError: a run has not finished (no metrics.json or evaluation).
    """
    return _render(runs, files, train_curve=train_curve)


def write_partial_report(runs, files: ReportFiles, *, train_curve: str = "monitor") -> pd.DataFrame:
    """``write_report`` from whatever exists: the finished runs (metrics.json and
    evaluation), the live logs of runs in training; cells without a finished run read
    "missing" and a banner counts the runs. Reads files only; when every run has finished
    the files equal the final report's."""
    return _render(runs, files, train_curve=train_curve, write_captions=False, partial=True)


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
