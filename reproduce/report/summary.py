"""The one-page summary of the report (``summary.md``): where the numbers come from, the
runs to look at before trusting the table, each file with its caption, the AUC table and
how the runs were made."""

from __future__ import annotations

import os

import pandas as pd

from reproduce.datasets import FEATURE_LABELS
from reproduce.layout import ReportFiles
from reproduce.model_registry import model_label
from reproduce.report.description import description_markdown
from reproduce.report.table import CONSTANT_OUTPUT_MARK

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
  m_Wbb and m_WWbb for HIGGS, in the data set's scaled units): the masses of the test events,
  signal plus background, passing a 90% background-rejection cut, DN on low-level vs NN on
  high-level inputs (Fig. 8).
"""


def flags(finished: pd.DataFrame) -> list[str]:
    """Runs to look at before trusting the table: constant outputs, recorded warnings."""
    found = []
    for r in finished.itertuples():
        name = (f"{r.dataset} {model_label(r.model)} "
                f"{FEATURE_LABELS.get(r.feature_set, r.feature_set)} seed {r.seed}")
        if r.constant_output:
            found.append(f"{CONSTANT_OUTPUT_MARK} {name} trained to a constant output "
                         "(metrics.json constant_output): its AUC measures no learning.")
        for warning in r.warnings or []:
            found.append(f"{name}: {warning}")
    return found


def _file_list(files: ReportFiles, captions: dict[str, str]) -> list[str]:
    """One line per file of the report with its caption, linked relative to the summary."""
    def link(path):
        return os.path.relpath(path, files.summary.parent)

    return [
        f"- [{files.table_md.name}]({link(files.table_md)}) (also [CSV]"
        f"({link(files.table_csv)}), [LaTeX]({link(files.table_tex)}), [HTML]"
        f"({link(files.table_html)})): {captions['auc_table'].split('. ')[0]}.",
        *(f"- [{path.name}]({link(path)}) (and PDF): {captions[name]}"
          for name, path in (("learning_curves", files.learning_curves),
                             ("schedules", files.schedules), ("roc_curves", files.roc),
                             ("roc_by_feature_set", files.roc_by_feature_set)))]


def summary_markdown(files: ReportFiles, results_dir, *, banner: str, finished: pd.DataFrame,
                     captions: dict[str, str], table_md: str, described: dict) -> str:
    """The summary page.

    Args:
        files: the report's files (the links are relative to ``files.summary``).
        results_dir: the workflow's results folder, named as where the numbers come from.
        banner: the partial report's banner ("" for the final report).
        finished: ``load_runs``'s rows (their flags are listed first).
        captions: ``figure_captions`` with the ``auc_table`` caption.
        table_md: the AUC table as Markdown (``table_markdown``).
        described: ``describe_runs``'s ``{dataset: [(item, text), ...]}``.
    """
    summary = [SUMMARY_HEAD.format(banner=f"**{banner}**\n\n" if banner else "",
                                   results=f"{results_dir}/")]
    flagged = flags(finished)
    if flagged:
        summary += ["**Flagged runs** (see the table's footnotes):", ""]
        summary += [f"- {flag}" for flag in flagged] + [""]
    summary += [*_file_list(files, captions), DATA_FIGURES, table_md,
                description_markdown(described)]
    return "\n".join(summary)
