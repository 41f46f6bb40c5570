"""How the AUCs compare: the paper's AUC table beside ours (mean and std over seeds per
data set, model and feature set), a verdict per cell, the table's footnotes, and the table
as Markdown, LaTeX and CSV (the HTML page is ``reproduce.report.html_page``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reproduce.datasets import DATASETS, FEATURE_LABELS, FEATURE_SETS
from reproduce.metrics import (SIGNIFICANCE_BACKGROUND_EVENTS, SIGNIFICANCE_BACKGROUND_UNCERTAINTY,
                               SIGNIFICANCE_SIGNAL_EVENTS)
from reproduce.model_registry import model_label, model_labels
from reproduce.paper_values import AUC, BDT_REFERENCE, SIGNIFICANCE
from reproduce.report.description import bdt_fit_text, bdt_method, weights_text
from reproduce.report.run_identity import reduced_data_note, reduced_data_text, run_identity
from reproduce.report.runs import CELL, LEGACY_EVALUATED_WEIGHTS, ReportedRun

# A cell is "reproduced" when |ours - paper| <= VERDICT_SIGMAS * combined std, with the
# combined std sqrt(std_ours^2 + std_paper^2) never taken below VERDICT_MIN_STD; otherwise
# it is "above the paper" or "below the paper".
VERDICT_SIGMAS = 2.0
VERDICT_MIN_STD = 0.001
CONSTANT_OUTPUT_MARK = "\u2020"  # dagger

TABLE_COLUMNS = ["dataset", "model", "label", "feature_set", "n_seeds", "n_seeds_expected",
                 "auc_mean", "auc_std", "paper_auc", "paper_std", "difference",
                 "difference_sigmas", "verdict", "significance_mean", "paper_significance",
                 "evaluated_weights", "constant_output_seeds", "method", "reference_auc",
                 "reference", "verdict_note"]


# --------------------------------------------------------------------------- the table


def _verdict(difference, sigmas) -> str:
    if math.isnan(difference):
        return "no paper value"
    if abs(sigmas) <= VERDICT_SIGMAS:
        return "reproduced"
    return "above the paper" if difference > 0 else "below the paper"


def _seed_statistics(runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell: seeds, AUC mean and std, mean significance, the evaluated weights and the
    seeds that trained to a constant output."""
    grouped = runs.groupby(CELL, sort=False)
    table = grouped.agg(n_seeds=("seed", "nunique"), auc_mean=("auc", "mean"),
                        auc_std=("auc", "std"), significance_mean=("significance", "mean"))
    table["evaluated_weights"] = grouped["evaluated_weights"].agg(
        lambda v: ", ".join(sorted({w for w in v if isinstance(w, str)})))
    constant = {key: sorted(int(s) for s in g.seed[g.constant_output.astype(bool)])
                for key, g in grouped}
    table["constant_output_seeds"] = [constant[key] for key in table.index]
    table = table.reset_index()
    table["auc_std"] = table["auc_std"].fillna(0.0)
    return table


def _with_expected(table: pd.DataFrame, expected: list[ReportedRun] | None) -> pd.DataFrame:
    """``n_seeds_expected``, and a row with no seed for every expected cell not run yet."""
    if not expected:
        table["n_seeds_expected"] = table["n_seeds"]
        return table
    wanted = pd.DataFrame([dict(zip(CELL, r.key[:3])) | {"seed": r.seed} for r in expected])
    counts = wanted.groupby(CELL, sort=False).seed.nunique().rename("n_seeds_expected")
    table = table.merge(counts.reset_index(), on=CELL, how="right")
    table["n_seeds"] = table["n_seeds"].fillna(0).astype(int)
    table["constant_output_seeds"] = table["constant_output_seeds"].apply(
        lambda v: v if isinstance(v, list) else [])
    table["evaluated_weights"] = table["evaluated_weights"].fillna("")
    return table


def _paper_lookup(table: pd.DataFrame, values: dict, default) -> list:
    """``values[dataset][model][feature_set]`` per row of the table, else ``default``."""
    return [values.get(d, {}).get(m, {}).get(f, default)
            for d, m, f in zip(table.dataset, table.model, table.feature_set)]


def _beside_the_paper(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's AUC and significance per cell, the difference and the verdict."""
    paper = _paper_lookup(table, AUC, (math.nan, math.nan))
    table["paper_auc"] = [p[0] for p in paper]
    table["paper_std"] = [p[1] for p in paper]
    table["difference"] = table["auc_mean"] - table["paper_auc"]
    combined = np.maximum(np.hypot(table["auc_std"], table["paper_std"]), VERDICT_MIN_STD)
    table["difference_sigmas"] = table["difference"] / combined
    table["verdict"] = [("missing" if n == 0 else _verdict(d, s)) for n, d, s in
                        zip(table.n_seeds, table.difference, table.difference_sigmas)]
    table["paper_significance"] = _paper_lookup(table, SIGNIFICANCE, math.nan)
    return table


def _bdt_columns(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The published BDT reference and the BDT's recorded library and settings."""
    references = [BDT_REFERENCE.get(d, {}).get(f) if m == "bdt" else None
                  for d, m, f in zip(table.dataset, table.model, table.feature_set)]
    table["reference_auc"] = [r["auc"] if r else math.nan for r in references]
    table["reference"] = [f"{r['name']} ({r['settings']}; {r['test_rows']})" if r else ""
                          for r in references]
    methods = ({dataset: bdt_method(part) for dataset, part in runs[runs.model == "bdt"]
                .groupby("dataset")} if "settings" in runs else {})
    table["method"] = [methods.get(d, "") if m == "bdt" else ""
                       for d, m in zip(table.dataset, table.model)]
    return table


def _paper_order(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by data set, then the registry's model order, then low / high / complete."""
    order = {m: i for i, m in enumerate(model_labels(table["model"]))}
    table["_m"] = table["model"].map(order)
    table["_f"] = table["feature_set"].map({f: i for i, f in enumerate(FEATURE_SETS)})
    table = table.sort_values(["dataset", "_m", "_f"]).drop(columns=["_m", "_f"])
    return table[TABLE_COLUMNS].reset_index(drop=True)


def _verdict_notes(table: pd.DataFrame, runs: pd.DataFrame, run_name: str) -> pd.DataFrame:
    """``verdict_note``: beside a verdict "below the paper" of runs that trained on fewer
    events than the paper, what the run is and that it is not expected to reach it."""
    reduced = {d: reduced_data_text(run_name, runs, d) for d in set(table.dataset)}
    table["verdict_note"] = [reduced[d] if v == "below the paper" else ""
                             for d, v in zip(table.dataset, table.verdict)]
    return table


def auc_table(runs: pd.DataFrame, expected: list[ReportedRun] | None = None,
              run_name: str = "") -> pd.DataFrame:
    """Mean and std over seeds per (dataset, model, feature set), with the paper's values.

    Args:
        runs: one row per finished run (``load_runs``; ``load_evaluations`` rows work too,
            with the old behaviour's facts).
        expected: every run of the workflow; cells without a finished run get the verdict
            "missing", and ``n_seeds_expected`` counts the seeds asked for.
        run_name: what the configuration is called ("demo preset"), for ``verdict_note``.

    Columns (``TABLE_COLUMNS``): dataset, model, label, feature_set, n_seeds,
    n_seeds_expected, auc_mean, auc_std, paper_auc, paper_std, difference,
    difference_sigmas, verdict, significance_mean, paper_significance, evaluated_weights,
    constant_output_seeds, method (the BDT's library and settings), reference_auc,
    reference, verdict_note (beside "below the paper" when the runs trained on fewer
    events than the paper: "demo preset: 8,984 training events, not expected to reach it").
    """
    runs = runs.copy()
    if "constant_output" not in runs:
        runs["constant_output"] = False
    if "evaluated_weights" not in runs:
        runs["evaluated_weights"] = np.where(runs["model"] == "bdt", None,
                                             LEGACY_EVALUATED_WEIGHTS)
    table = _with_expected(_seed_statistics(runs), expected)
    table["label"] = table["model"].map(model_label)
    table = _bdt_columns(_beside_the_paper(table), runs)
    return _paper_order(_verdict_notes(table, runs, run_name))


# --------------------------------------------------------------------------- its cells


def _cell(mean, std, n):
    return f"{mean:.3f} ({std:.3f})" if n > 1 else f"{mean:.3f}"


def cell_parts(r) -> dict:
    """The texts of one table cell: ours, the paper's, the difference and verdict, the
    seeds (when fewer than asked for) and the constant-output marker."""
    paper = "n/a" if math.isnan(r.paper_auc) else f"{r.paper_auc:.3f} ({r.paper_std:.3f})"
    if r.n_seeds == 0:
        return {"ours": "missing", "paper": paper, "verdict": "missing",
                "seeds": f"0 of {r.n_seeds_expected} seeds finished", "mark": ""}
    verdict = (r.verdict if math.isnan(r.difference_sigmas)
               else f"{r.difference_sigmas:+.1f} sd, {r.verdict}")
    note = getattr(r, "verdict_note", "")
    verdict += f" ({note})" if isinstance(note, str) and note else ""
    seeds = ("" if r.n_seeds == r.n_seeds_expected
             else f"{r.n_seeds} of {r.n_seeds_expected} seeds finished")
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
    """The paper's table for a data set ("Table 1" for HIGGS), or the data set's name.

    Example:

    >>> table_number("HIGGS"), table_number("toy")
    ('Table 1', 'toy')
    """
    spec = DATASETS.get(dataset)
    return spec.paper_table if spec and spec.paper_table else dataset


def row_label(r) -> str:
    """A table row's name: the paper's label, and for the BDT the library that ran it."""
    return f"{r.label} ({r.method})" if r.method else r.label


def _cell_names(rows: pd.DataFrame) -> list[str]:
    return [f"{label} {FEATURE_LABELS[f]}" for label, f in zip(rows.label, rows.feature_set)]


# --------------------------------------------------------------------------- its footnotes


def _weights_note(networks: pd.DataFrame) -> list[str]:
    """Which weights the network AUCs are from (metrics.json evaluated_weights)."""
    weights = networks[networks.n_seeds > 0].groupby("evaluated_weights", sort=True)
    if len(weights) == 1:
        name = next(iter(weights.groups))
        return [f"Network AUCs are from {weights_text(name)} of each run "
                f"(metrics.json evaluated_weights: {name})."]
    if len(weights) > 1:
        return ["Network AUCs come from different weights (metrics.json "
                "evaluated_weights): " + "; ".join(
                    f"{weights_text(name)} in " + ", ".join(_cell_names(rows))
                    for name, rows in weights) + "."]
    return []


def _constant_output_note(part: pd.DataFrame) -> list[str]:
    constant = part[part.constant_output_seeds.map(len) > 0]
    if constant.empty:
        return []
    return [f"{CONSTANT_OUTPUT_MARK} A network trained to a constant output "
            "(metrics.json constant_output): " + "; ".join(
                f"{name} seed(s) {', '.join(map(str, r.constant_output_seeds))}"
                for name, r in zip(_cell_names(constant), constant.itertuples()))
            + ". Its AUC measures no learning; the cell's mean includes it."]


def table_notes(part: pd.DataFrame, runs: pd.DataFrame, run_name: str = "") -> list[str]:
    """The footnotes of one data set's table, built from its runs' recorded facts; the
    first says what run it shows (``run_identity``)."""
    networks = part[part.model != "bdt"]
    n_seeds = sorted(set(networks.n_seeds_expected)) or sorted(set(part.n_seeds_expected))
    shown = runs[runs.dataset == part.dataset.iloc[0]] if "dataset" in runs else runs
    notes = [f"{run_identity(run_name, shown)}."]
    notes += reduced_data_note(run_name, runs, part.dataset.iloc[0])
    notes += [f"Each cell: our test AUC, mean (std) over seeds / the paper's mean (std); the "
             f"difference in units of the combined std; the verdict: reproduced when "
             f"the two differ by at most {VERDICT_SIGMAS:g} x sqrt(std_ours^2 + std_paper^2) (at "
             f"least {VERDICT_MIN_STD}), otherwise above or below the paper. Seeds per "
             f"network cell: {', '.join(map(str, n_seeds))}."]
    notes += _weights_note(networks) + _constant_output_note(part)
    bdt = (runs[(runs.model == "bdt") & (runs.dataset == part.dataset.iloc[0])]
           if "settings" in runs else runs.iloc[0:0])
    if not bdt.empty:
        notes.append(bdt_note(bdt, part[part.model == "bdt"]))
    notes.append(f"Significance: Asimov significance with background uncertainty (Cowan et "
                 f"al. 2011) for {SIGNIFICANCE_SIGNAL_EVENTS:g} signal and "
                 f"{SIGNIFICANCE_BACKGROUND_EVENTS:g} +- "
                 f"{SIGNIFICANCE_BACKGROUND_UNCERTAINTY:g} background events at the best cut "
                 "on the classifier output.")
    return notes


def dataset_notes(table: pd.DataFrame, runs: pd.DataFrame,
                  run_name: str = "") -> dict[str, list[str]]:
    """``table_notes`` of each data set of the table: ``{dataset: [footnote, ...]}``."""
    return {dataset: table_notes(part, runs, run_name)
            for dataset, part in table.groupby("dataset", sort=False)}


def bdt_note(bdt_runs: pd.DataFrame, bdt_cells: pd.DataFrame | None = None) -> str:
    """Which library and settings the BDT rows used (from metrics.json), with the
    published reference beside the paper's TMVA BDT."""
    text = f"BDT: {bdt_fit_text(bdt_runs)}"
    cells = bdt_cells if bdt_cells is not None else pd.DataFrame(columns=["reference"])
    for r in cells[cells.reference != ""].itertuples():
        paper = "" if math.isnan(r.paper_auc) else f" against the paper's {r.paper_auc:.3f}"
        text += (f" Reference for the {FEATURE_LABELS[r.feature_set]} cell: {r.reference}: "
                 f"AUC {r.reference_auc:.3f}{paper}; a modern gradient-boosting library is "
                 "expected above the paper's BDT at full size.")
    return text


# --------------------------------------------------------------------------- its formats


def _by_dataset(table: pd.DataFrame, runs: pd.DataFrame):
    """Each data set's rows of the table, its feature sets in the paper's order and the runs
    it shows: ``(dataset, part, feature_sets, runs)``, as every format lays them out."""
    for dataset, part in table.groupby("dataset", sort=False):
        feats = [f for f in FEATURE_SETS if f in set(part.feature_set)]
        yield dataset, part, feats, runs[runs.dataset == dataset] if "dataset" in runs else runs


def table_markdown(table: pd.DataFrame, runs: pd.DataFrame | None = None,
                   run_name: str = "") -> str:
    """The paper's layout: rows BDT/NN/DN (and dropout), columns low / high / complete;
    under each heading the run it shows (``run_identity``)."""
    runs = table.iloc[0:0] if runs is None else runs
    lines = []
    for dataset, part, feats, shown in _by_dataset(table, runs):
        lines += [f"## {table_number(dataset)}: {dataset}, test AUC, ours vs the paper", "",
                  f"{run_identity(run_name, shown)}", "",
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
        lines += [""] + [f"{note}\n" for note in table_notes(part, runs, run_name)]
    return "\n".join(lines)


def _latex_cell(r) -> str:
    ours = "missing" if r.n_seeds == 0 else _cell(r.auc_mean, r.auc_std, r.n_seeds)
    mark = "$^\\dagger$" if r.constant_output_seeds else ""
    return f"{ours}{mark} / {r.paper_auc:.3f}"


def _latex_text(text: str) -> str:
    """Plain text with LaTeX's special characters escaped."""
    return "".join(f"\\{c}" if c in "_%&#$" else c for c in text)


def table_latex(table: pd.DataFrame, runs: pd.DataFrame | None = None,
                run_name: str = "") -> str:
    """A LaTeX tabular per data set: rows models, columns feature sets, ours / paper; its
    last row says what run it shows (``run_identity``)."""
    runs = table.iloc[0:0] if runs is None else runs
    out = []
    for dataset, part, feats, shown in _by_dataset(table, runs):
        out += [f"% {dataset}: test AUC, ours mean (std) / paper", "\\begin{tabular}{l"
                + "c" * len(feats) + "}", "\\hline",
                " & " + " & ".join(FEATURE_LABELS[f] for f in feats) + " \\\\", "\\hline"]
        for model, rows in part.groupby("model", sort=False):
            cells = _row_cells(rows, feats, _latex_cell)
            out.append(f"{model_label(model)} & " + " & ".join(cells) + " \\\\")
        out += ["\\hline", f"\\multicolumn{{{len(feats) + 1}}}{{l}}{{\\footnotesize "
                f"{_latex_text(run_identity(run_name, shown))}}} \\\\",
                "\\end{tabular}", ""]
    return "\n".join(out)


def table_csv(table: pd.DataFrame) -> str:
    """The table as CSV, floats to 6 decimals, constant-output seeds space-separated."""
    csv = table.copy()
    csv["constant_output_seeds"] = csv["constant_output_seeds"].map(
        lambda seeds: " ".join(map(str, seeds)))
    return csv.to_csv(index=False, float_format="%.6f")
