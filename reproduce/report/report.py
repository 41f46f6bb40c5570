"""Write the report to ``paper_figures/`` (rules report and partial_report).

The report is, in order: the runs (``runs``), the AUC table beside the paper's and how the
runs were made (``table``, ``description``), the table in four formats (``table``,
``html_page``), the figures (``figures``), their captions (``captions``) and the one-page
summary (``summary``). The workflow hands it one ``ReportedRun`` per run of its config;
``write_report`` needs every run finished, ``write_partial_report`` renders whatever exists
(finished runs, and the live logs of runs in training) and marks the rest.
"""

from __future__ import annotations

import logging

import pandas as pd

from reproduce.atomic_files import write_text_atomic
from reproduce.layout import ReportFiles
from reproduce.report.captions import auc_table_caption, figure_captions, partial_banner
from reproduce.report.description import describe_runs
from reproduce.report.figures import (plot_learning_curves, plot_roc_by_feature_set,
                                      plot_roc_curves, plot_schedules)
from reproduce.report.html_page import report_page
from reproduce.report.run_identity import run_identity
from reproduce.report.runs import ReportedRun, load_logs, load_runs, reported_runs
from reproduce.report.summary import summary_markdown
from reproduce.report.table import auc_table, dataset_notes, table_csv, table_latex, table_markdown

log = logging.getLogger(__name__)


def _finished_runs(runs: list[ReportedRun], partial: bool) -> list[ReportedRun]:
    """The finished runs; unless ``partial``, raise when one has not finished."""
    if not runs:
        raise ValueError("no runs to report: the config lists none")
    finished = [r for r in runs if r.finished]
    if not partial and len(finished) < len(runs):
        missing = [str(r.metrics.parent) for r in runs if r not in finished]
        raise ValueError(f"{len(missing)} run(s) have no metrics.json or evaluation yet "
                         f"(first: {missing[0]}); the partial report renders unfinished runs")
    return finished


def _write_tables(files: ReportFiles, table: pd.DataFrame, results: pd.DataFrame,
                  notes: dict, described: dict, banner: str, run_name: str) -> str:
    """The AUC table as Markdown, LaTeX, CSV and HTML; return the Markdown."""
    markdown = (f"{banner}\n\n" if banner else "") + table_markdown(table, results, run_name)
    identities = {d: run_identity(run_name, results[results.dataset == d])
                  for d in dict.fromkeys(table.dataset)}
    write_text_atomic(files.table_md, markdown + "\n")
    write_text_atomic(files.table_tex, table_latex(table, results, run_name))
    write_text_atomic(files.table_csv, table_csv(table))
    write_text_atomic(files.table_html, report_page(
        table, notes, described, banner=banner, identities=identities, run_name=run_name))
    return markdown


def _draw_figures(files: ReportFiles, runs: list[ReportedRun], results: pd.DataFrame,
                  logs: pd.DataFrame, run_name: str) -> None:
    """The four figures, each with the run it shows in its footer."""
    networks = results[results.model != "bdt"]
    plot_learning_curves(logs, files.learning_curves, footer=run_identity(run_name, networks))
    plot_schedules([r for r in runs if r.model != "bdt"], results, files.schedules,
                   footer=run_identity(run_name, networks))
    plot_roc_curves(networks, files.roc, footer=run_identity(run_name, networks))
    plot_roc_by_feature_set(results, files.roc_by_feature_set,
                            footer=run_identity(run_name, results))


def _write_captions(files: ReportFiles, captions: dict[str, str]) -> None:
    files.captions.mkdir(parents=True, exist_ok=True)
    for path in files.caption_files():
        write_text_atomic(path, captions[path.stem] + "\n")


def _render(runs, files: ReportFiles, *, train_curve: str = "monitor", run_name: str = "",
            write_captions: bool = True, partial: bool = False) -> pd.DataFrame:
    runs = reported_runs(runs)
    finished = _finished_runs(runs, partial)
    for path in (files.table_md, files.learning_curves, files.summary):
        path.parent.mkdir(parents=True, exist_ok=True)
    results = load_runs(finished)
    logs = load_logs(runs, train_curve)
    table = auc_table(results, expected=runs, run_name=run_name)
    described = describe_runs(results)
    banner = partial_banner(runs, finished)
    notes = dataset_notes(table, results, run_name)
    markdown = _write_tables(files, table, results, notes, described, banner, run_name)
    _draw_figures(files, runs, results, logs, run_name)
    captions = figure_captions(runs, results, logs, train_curve, run_name) | {
        "auc_table": auc_table_caption(notes)}
    results_dir = runs[0].evaluation.parent.parent.parent
    write_text_atomic(files.summary, summary_markdown(
        files, results_dir, banner=banner, finished=results, captions=captions,
        table_md=markdown, described=described))
    if write_captions:
        _write_captions(files, captions)
    log.info("wrote %s", files.summary.parent)
    return table


def write_report(runs, files: ReportFiles, *, train_curve: str = "monitor",
                 run_name: str = "") -> pd.DataFrame:
    """Write the tables, the HTML page, the figures, the summary and the captions of
    Snakemake's report to the paths of ``files``; return the AUC table.

    Args:
        runs: every run of the workflow (``ReportedRun`` or dicts of its fields), all finished.
        files: a ``reproduce.layout.ReportFiles``: the table in four formats, the four
            figures, the summary and the captions folder (one ``<figure>.rst`` each).
        train_curve: "monitor" (the authors' end-of-epoch monitor where logged) or
            "running_mean" (Keras's mean over the epoch).
        run_name: what the configuration is called ("demo preset", "config.yaml"): every
            table and figure says what run it shows (``run_identity``).

    Raises:
        ValueError: a run has not finished (no metrics.json or evaluation).
    """
    return _render(runs, files, train_curve=train_curve, run_name=run_name)


def write_partial_report(runs, files: ReportFiles, *, train_curve: str = "monitor",
                         run_name: str = "") -> pd.DataFrame:
    """``write_report`` from whatever exists: the finished runs (metrics.json and
    evaluation), the live logs of runs in training; cells without a finished run read
    "missing" and a banner counts the runs. Reads files only; when every run has finished
    the files equal the final report's."""
    return _render(runs, files, train_curve=train_curve, run_name=run_name,
                   write_captions=False, partial=True)
