"""The report's HTML page: the paper's AUC tables beside ours, their footnotes and how the
runs were made. One page, no scripts, ASCII only (non-ASCII as character references), so
that it reads the same opened alone, in an iframe of Snakemake's report, or inlined in the
report's landing page (``workflow/report/workflow.rst``)."""

from __future__ import annotations

import html
import math

import pandas as pd

from reproduce.datasets import FEATURE_LABELS, FEATURE_SETS
from reproduce.model_registry import model_label
from reproduce.report.table import cell_parts, table_number

# Scoped to the page's root, so that inlining it styles nothing else of the host page;
# the ":has" rules widen the host's narrow text column that holds it and keep its top in
# view (a vertically centred column taller than the window is cut at the top).
STYLE = """
.reproduction-report { font-family: system-ui, sans-serif; color: #111; background: #fff;
  padding: 0.5rem 1rem; max-width: 64rem; line-height: 1.35; }
.prose:has(.reproduction-report) { max-width: 66rem; }
.items-center:has(.reproduction-report) { align-items: flex-start; }
.reproduction-report h2 { font-size: 1.15rem; margin: 1rem 0 0.4rem; }
.reproduction-report table { border-collapse: collapse; margin: 0.3rem 0; font-size: 0.85rem; }
.reproduction-report th, .reproduction-report td { border: 1px solid #bbb;
  padding: 0.25rem 0.5rem; vertical-align: top; text-align: left; }
.reproduction-report .ours { font-weight: 600; font-size: 1rem; }
.reproduction-report .paper, .reproduction-report .seeds { color: #444; }
.reproduction-report .method { font-weight: normal; font-size: 0.75rem; color: #444; }
.reproduction-report td[data-verdict="reproduced"] { background: #e3f4e3; }
.reproduction-report td[data-verdict="above the paper"] { background: #e3ecfa; }
.reproduction-report td[data-verdict="below the paper"] { background: #fbe6e3; }
.reproduction-report td[data-verdict="missing"] { background: #eee; color: #666; }
.reproduction-report .partial { background: #fff4d6; border: 1px solid #e0b84c;
  padding: 0.4rem 0.6rem; }
.reproduction-report .notes { font-size: 0.8rem; color: #333; }
.reproduction-report .run { font-size: 0.9rem; color: #222; margin: 0.2rem 0; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _auc_td(r) -> str:
    p = cell_parts(r)
    lines = [f'<span class="ours">{_e(p["ours"])}</span>'
             + (f'<span class="mark">{_e(p["mark"])}</span>' if p["mark"] else ""),
             f'<span class="paper">paper {_e(p["paper"])}</span>',
             f'<span class="verdict">{_e(p["verdict"])}</span>']
    if p["seeds"]:
        lines.append(f'<span class="seeds">{_e(p["seeds"])}</span>')
    return (f'<td data-feature-set="{_e(r.feature_set)}" data-verdict="{_e(r.verdict)}">'
            + "<br>".join(lines) + "</td>")


def _significance_td(r) -> str:
    ours = "missing" if r.n_seeds == 0 else f"{r.significance_mean:.1f}"
    paper = "n/a" if math.isnan(r.paper_significance) else f"{r.paper_significance:.1f}"
    return (f'<td data-feature-set="{_e(r.feature_set)}"><span class="ours">{ours} '
            f'&sigma;</span><br><span class="paper">paper {paper} &sigma;</span></td>')


def _row(label, rows, feats, render, attrs="", method="") -> str:
    cells = []
    for f in feats:
        r = rows[rows.feature_set == f]
        cells.append("<td></td>" if r.empty else render(r.iloc[0]))
    method = f'<br><span class="method">{_e(method)}</span>' if method else ""
    return f"<tr{attrs}><th>{_e(label)}{method}</th>{''.join(cells)}</tr>"


def report_page(table: pd.DataFrame, notes: dict, described: dict, banner: str = "",
                identities: dict | None = None, run_name: str = "") -> str:
    """The page as ASCII text.

    Args:
        table: ``table.auc_table``'s rows.
        notes: ``{dataset: [footnote, ...]}``.
        described: ``description.describe_runs``'s ``{dataset: [(item, text), ...]}``.
        banner: shown first when not empty (a partial report).
        identities: ``{dataset: line}``, what run each table shows (``run_identity``),
            under its heading.
        run_name: what the configuration is called ("demo preset"), in the page's title.
    """
    identities = identities or {}
    body = []
    if banner:
        body.append(f'<p class="partial">{_e(banner)}</p>')
    for dataset, part in table.groupby("dataset", sort=False):
        feats = [f for f in FEATURE_SETS if f in set(part.feature_set)]
        body.append(f"<h2>{_e(table_number(dataset))}: {_e(dataset)}, test AUC, ours vs the "
                    "paper</h2>")
        if dataset in identities:
            body.append(f'<p class="run">{_e(identities[dataset])}</p>')
        rows = [f'<table class="auc-table" data-dataset="{_e(dataset)}"><thead><tr><th></th>'
                + "".join(f"<th>{_e(FEATURE_LABELS[f])}</th>" for f in feats)
                + "</tr></thead><tbody>"]
        for model, cells in part.groupby("model", sort=False):
            rows.append(_row(model_label(model), cells, feats, _auc_td,
                             f' data-model="{_e(model)}"', method=cells.iloc[0].method))
            references = cells[cells.reference != ""]
            if not references.empty:
                rows.append(_row("BDT reference (published)", references, feats,
                                 lambda r: f'<td data-feature-set="{_e(r.feature_set)}">'
                                 f'<span class="ours">{r.reference_auc:.3f}</span><br>'
                                 f'<span class="paper">{_e(r.reference)}</span></td>',
                                 ' class="reference"'))
        for model, cells in part.groupby("model", sort=False):
            if not cells.paper_significance.isna().all():
                rows.append(_row(f"significance {model_label(model)}", cells, feats,
                                 _significance_td, f' data-significance="{_e(model)}"'))
        body.append("".join(rows) + "</tbody></table>")
        body.append('<ol class="notes">' + "".join(f"<li>{_e(n)}</li>"
                                                  for n in notes.get(dataset, [])) + "</ol>")
    for dataset, items in described.items():
        body.append(f"<h2>How the {_e(dataset)} runs were made (from each run's "
                    "metrics.json)</h2>")
        body.append(f'<table class="description" data-dataset="{_e(dataset)}"><tbody>'
                    + "".join(f'<tr data-item="{_e(item)}"><th>{_e(item)}</th>'
                              f"<td>{_e(text)}</td></tr>" for item, text in items)
                    + "</tbody></table>")
    page = ("<!DOCTYPE html>\n<meta charset=\"utf-8\">\n"
            f"<title>AUC tables of the reproduction{_e(f' ({run_name})' if run_name else '')}"
            ", beside the paper's</title>\n"
            f"<style>{STYLE}</style>\n"
            '<div class="reproduction-report" id="reproduction-report">\n'
            + "\n".join(body) + "\n</div>\n")
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")
