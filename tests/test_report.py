import json

import numpy as np
import pandas as pd
import pytest

from reproduce.evaluation import evaluate_scores
from reproduce.report import auc_table, write_report


def fake_runs(tmp_path, aucs):
    """Evaluation JSONs and CSV logs of made-up runs with chosen test AUCs."""
    evaluations, logs = [], []
    rng = np.random.default_rng(0)
    for (model, features, seed), target in aucs.items():
        run = tmp_path / "HIGGS" / "runs" / f"{model}-{features}-seed{seed}"
        run.mkdir(parents=True)
        labels = np.r_[np.ones(500), np.zeros(500)].astype(np.int8)
        # scores with a separation chosen to land near the target AUC
        shift = np.sqrt(2) * {0.6: 0.2533, 0.7: 0.5244, 0.8: 0.8416, 0.9: 1.2816}[target]
        scores = rng.normal(labels * shift, 1.0)
        np.savez(run / "test_scores.npz", labels=labels, scores=scores)
        out = tmp_path / "HIGGS" / "evaluation" / f"{model}-{features}-seed{seed}.json"
        evaluate_scores(run / "test_scores.npz", out,
                        {"dataset": "HIGGS", "model": model, "feature_set": features,
                         "seed": seed})
        pd.DataFrame({"epoch": [0, 1, 2], "loss": [0.7, 0.6, 0.5], "auc": [0.6, 0.7, 0.75],
                      "val_loss": [0.71, 0.62, 0.55], "val_auc": [0.6, 0.68, 0.7]}
                     ).to_csv(run / "log.csv", index=False)
        evaluations.append(out)
        logs.append(run / "log.csv")
    return evaluations, logs


def test_table_numbers_recompute_from_runs(tmp_path):
    runs = {(m, f, s): 0.8 if m == "deep" else 0.7
            for m in ("shallow", "deep") for f in ("low", "high", "complete") for s in (1, 2, 3)}
    evaluations, logs = fake_runs(tmp_path, runs)
    table = write_report(evaluations, logs, tmp_path / "figures")
    assert len(table) == 6
    for _, row in table.iterrows():
        aucs = [json.loads((tmp_path / "HIGGS" / "evaluation" /
                            f"{row.model}-{row.feature_set}-seed{s}.json").read_text())["auc"]
                for s in (1, 2, 3)]
        assert row.auc_mean == pytest.approx(np.mean(aucs), abs=1e-12)
        assert row.auc_std == pytest.approx(np.std(aucs, ddof=1), abs=1e-12)
    deep_low = table[(table.model == "deep") & (table.feature_set == "low")].iloc[0]
    assert deep_low.paper_auc == 0.880 and deep_low.paper_significance == 4.9
    combined = np.hypot(deep_low.auc_std, 0.001)
    assert deep_low.difference_sigmas == pytest.approx((deep_low.auc_mean - 0.880) / combined)
    assert deep_low.verdict == "not reproduced"
    csv = pd.read_csv(tmp_path / "figures" / "auc_table.csv")
    assert csv.auc_mean.round(6).tolist() == table.auc_mean.round(6).tolist()
    for name in ("learning_curves.png", "roc_curves.png", "learning_curves.pdf"):
        assert (tmp_path / "figures" / name).stat().st_size > 10_000
    markdown = (tmp_path / "figures" / "auc_table.md").read_text()
    assert "| DN |" in markdown and "0.880 (0.001)" in markdown
    assert "\\begin{tabular}" in (tmp_path / "figures" / "auc_table.tex").read_text()


def test_verdict_reproduced_within_tolerance():
    runs = pd.DataFrame([{"dataset": "HIGGS", "model": "deep", "feature_set": "low", "seed": s,
                          "auc": a, "significance": 5.0} for s, a in
                         enumerate([0.879, 0.881, 0.880])])
    row = auc_table(runs).iloc[0]
    assert row.verdict == "reproduced"
    assert row.auc_std == pytest.approx(0.001)


def test_supplementary_table3_beside_the_paper(tmp_path):
    from reproduce.report import write_supp_table3

    runs = {("deep_h5", f, 1): 0.9 for f in ("low", "high", "complete")}
    runs |= {("shallow", f, 1): 0.7 for f in ("low", "high", "complete")}
    evaluations, _ = fake_runs(tmp_path, runs)
    table = write_supp_table3(evaluations, tmp_path / "s3.md", tmp_path / "s3.csv")
    row = table[(table.model == "deep_h5") & (table.feature_set == "low")].iloc[0]
    assert row.paper_auc == 0.888 and row.label == "DN 6 layers"
    own = json.loads((tmp_path / "HIGGS" / "evaluation" / "deep_h5-low-seed1.json").read_text())
    assert row.auc == own["auc"]
    assert "| NN 300 |" in (tmp_path / "s3.md").read_text()
