"""The workflow end to end: the smoke preset on the embedded sample, the full DAG, bad config."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(workdir, *args, check=True):
    proc = subprocess.run(SNAKEMAKE + list(args), cwd=workdir, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}"
                             f"\n{proc.stderr[-4000:]}")
    return proc


def test_default_config_plans_the_full_paper_run(workflow_copy):
    out = snakemake(workflow_copy, "-n", "--cores", "all", "-p").stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.M))
    assert counts["train"] == "30" and counts["evaluate"] == "30"
    assert counts["download"] == "1" and counts["tfrecords"] == "1"
    assert "resources/HIGGS/HIGGS.csv.gz" in out


def test_bad_config_stops_before_any_job(workflow_copy):
    (workflow_copy / "bad.yaml").write_text("training:\n  max_epochs: -5\n")
    proc = snakemake(workflow_copy, "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert "config key training.max_epochs: -5 is less than the minimum of 1" in proc.stderr
    assert not (workflow_copy / "resources").exists()


@pytest.mark.slow
def test_smoke_preset_end_to_end(workflow_copy):
    snakemake(workflow_copy, "--cores", "2", "--config", "preset=smoke")
    results = workflow_copy / "results" / "smoke"
    figures = results / "paper_figures"
    table = pd.read_csv(figures / "auc_table.csv")
    assert len(table) == 6
    assert table.auc_mean.between(0.5, 1.0, inclusive="right").all()
    for log in (results / "HIGGS" / "runs").glob("*/log.csv"):
        epochs = pd.read_csv(log)["epoch"].tolist()
        assert epochs == list(range(3)), log
    assert len(list((results / "HIGGS" / "runs").glob("*/log.csv"))) == 6
    for name in ("learning_curves.png", "roc_curves.png"):
        data = (figures / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    assert "auc_table.md" in (figures / "summary.md").read_text()
    # Nothing left to do: a rerun is a no-op.
    assert "Nothing to be done" in snakemake(workflow_copy, "-n", "--cores", "2",
                                             "--config", "preset=smoke").stdout


def test_lint_is_clean(workflow_copy):
    proc = snakemake(workflow_copy, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
