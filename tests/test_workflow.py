"""The workflow end to end: the smoke preset on the embedded sample, the full DAG, bad config."""

import json
import re

import pandas as pd
import pytest

from conftest import run_snakemake as snakemake


def test_default_config_plans_the_full_paper_run(workflow_copy):
    out = snakemake(workflow_copy, "-n", "--cores", "all", "-p", "--quiet", "host").stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.M))
    assert counts["train"] == "30" and counts["bdt"] == "3" and counts["evaluate"] == "33"
    assert counts["download"] == "1" and counts["tfrecords"] == "1"
    assert "resources/HIGGS/HIGGS.csv.gz" in out


def test_bad_config_stops_before_any_job(workflow_copy):
    (workflow_copy / "bad.yaml").write_text("training:\n  max_epochs: -5\n")
    proc = snakemake(workflow_copy, "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert "config key training.max_epochs: -5 is less than the minimum of 1" in proc.stderr
    assert not (workflow_copy / "resources").exists()


@pytest.mark.slow
def test_smoke_preset_end_to_end(local_smoke_run):
    workflow_copy = local_smoke_run
    results = workflow_copy / "results" / "smoke"
    figures = results / "paper_figures"
    table = pd.read_csv(figures / "auc_table.csv")
    assert len(table[table.model != "bdt"]) == 6 and len(table[table.model == "bdt"]) == 3
    assert table.auc_mean.between(0.5, 1.0, inclusive="right").all()
    for log in (results / "HIGGS" / "runs").glob("*/log.csv"):
        epochs = pd.read_csv(log)["epoch"].tolist()
        assert epochs == list(range(3)), log
    assert len(list((results / "HIGGS" / "runs").glob("*/log.csv"))) == 6
    assert set(table.model) == {"bdt", "shallow", "deep"}
    # Every AUC in the table recomputes from the run's own test scores (scikit-learn).
    import numpy as np
    from sklearn.metrics import roc_auc_score

    for row in table.itertuples():
        with np.load(results / "HIGGS" / "runs" / f"{row.model}-{row.feature_set}-seed1" /
                     "test_scores.npz") as scores:
            assert abs(roc_auc_score(scores["labels"], scores["scores"]) - row.auc_mean) < 1e-6
    for name in ("learning_curves.png", "roc_curves.png", "schedules.png",
                 "roc_by_feature_set.png", "features_HIGGS_low_level.png",
                 "features_HIGGS_high_level.png", "fig8_HIGGS_mass_after_cut.png"):
        data = (figures / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, name
    assert "auc_table.md" in (figures / "summary.md").read_text()
    # The HTML report carries the figures with their captions.
    snakemake(workflow_copy, "--config", "preset=smoke", "--report", "report.html")
    html = (workflow_copy / "report.html").read_text()
    assert "background rejection" in html and len(html) > 100_000
    # Nothing left to do: a rerun is a no-op.
    assert "Nothing to be done" in snakemake(workflow_copy, "-n", "--cores", "2",
                                             "--config", "preset=smoke").stdout


@pytest.mark.slow
def test_susy_path_with_dropout_variants(workflow_copy):
    """SUSY through the same rules: its own columns, split, dropout models and Table 2.

    No SUSY events can be fetched here, so the input is a file in the SUSY layout (label +
    18 features) built from the real HIGGS sample's first 18 feature columns: it exercises
    every SUSY code path, not SUSY physics.
    """
    import gzip

    source = workflow_copy / "data" / "higgs-sample.csv.gz"
    with gzip.open(source, "rt") as f:
        lines = [",".join(line.rstrip("\n").split(",")[:19]) for line in f]
    susy = workflow_copy / "susy-layout.csv.gz"
    with gzip.open(susy, "wt") as f:
        f.write("\n".join(lines[:3000]) + "\n")
    (workflow_copy / "susy.yaml").write_text(f"""
preset: smoke
datasets: [SUSY]
dataset_overrides:
  SUSY:
    urls: [{susy}]
    filename: SUSY.csv.gz
    rows: 3000
    splits: {{train: [0, 2000], valid: [2000, 2500], test: [2500, 3000]}}
feature_sets: [complete]
""")
    snakemake(workflow_copy, "--cores", "2", "--configfile", "susy.yaml")
    lock = workflow_copy / "resources" / "SUSY" / "SUSY.csv.gz.lock.json"
    assert len(json.loads(lock.read_text())["sha256"]) == 64  # recorded on first download
    table = pd.read_csv(workflow_copy / "results" / "smoke" / "paper_figures" / "auc_table.csv")
    assert set(table.model) == {"bdt", "shallow", "deep", "shallow_dropout", "deep_dropout"}
    assert (table.dataset == "SUSY").all()
    assert table.auc_mean.between(0.5, 1.0, inclusive="right").all()
    markdown = (workflow_copy / "results" / "smoke" / "paper_figures" / "auc_table.md").read_text()
    assert "Table 2: SUSY" in markdown and "| DNdropOut |" in markdown
    runs = workflow_copy / "results" / "smoke" / "SUSY" / "runs"
    settings = json.loads((runs / "deep_dropout-complete-seed1" / "metrics.json").read_text())
    assert settings["settings"]["decay_factor"] == 1.0000003
    assert settings["settings"]["stopping_patience"] == 40
    assert settings["settings"]["dropout"] is True


def test_supplementary_table3_is_an_optional_target(workflow_copy):
    out = snakemake(workflow_copy, "-n", "--cores", "all", "supp_table3", "--quiet", "host").stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.M))
    # 8 variants x 3 feature sets, one seed; NN 300 and DN 5 layers are Table 1's runs
    assert counts["train"] == "24" and counts["supp_table3"] == "1"
    assert "deep_h5-complete-seed1" in out and "shallow_w10000-low-seed1" in out
    assert "shallow_w300" not in out
