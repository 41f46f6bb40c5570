"""Supplementary Table 3 of the paper (rule supp_table3): HIGGS test AUC by the width of the
shallow network and the depth of the deep one, ours beside the paper's."""

from __future__ import annotations

import math

import pandas as pd

from reproduce.atomic_files import write_text_atomic
from reproduce.datasets import FEATURE_LABELS, FEATURE_SETS
from reproduce.paper_values import SUPP_TABLE3, SUPP_TABLE3_LABELS
from reproduce.report.runs import load_evaluations

# The Table 1 networks are Supp. Table 3's "NN 300" and "DN 5 layers".
TABLE1_AS_SUPP_TABLE3 = {"shallow": "shallow_w300", "deep": "deep_h4"}


def supp_table3(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean AUC and seeds per (model, feature set) of ``load_evaluations``' rows, with the
    label and the AUC of Supp. Table 3 and the difference."""
    runs = runs.copy()
    runs["model"] = runs["model"].replace(TABLE1_AS_SUPP_TABLE3)
    table = runs.groupby(["model", "feature_set"], sort=False).agg(
        auc=("auc", "mean"), n_seeds=("seed", "nunique")).reset_index()
    table["label"] = table["model"].map(SUPP_TABLE3_LABELS)
    table["paper_auc"] = [SUPP_TABLE3.get(m, {}).get(f, math.nan)
                          for m, f in zip(table.model, table.feature_set)]
    table["difference"] = table["auc"] - table["paper_auc"]
    return table


def supp_table3_markdown(table: pd.DataFrame) -> str:
    """The paper's layout: one row per width or depth, columns low / high / complete."""
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
    return "\n".join(lines)


def write_supp_table3(evaluation_paths, md_path, csv_path) -> pd.DataFrame:
    """Supplementary Table 3: our AUC beside the paper's for each width/depth variant,
    as Markdown (``md_path``) and CSV (``csv_path``); return the table."""
    table = supp_table3(load_evaluations(evaluation_paths))
    write_text_atomic(md_path, supp_table3_markdown(table))
    write_text_atomic(csv_path, table.to_csv(index=False, float_format="%.6f"))
    return table
