"""The registries (data sets, models), the file layout and the package installed like a
library: what a newcomer touches to add a data set or a model, and nothing more."""

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from reproduce.config import ConfigError, load_config
from reproduce.datasets import DATASETS, get_dataset
from reproduce.model_registry import (model_label, model_labels, network_settings,
                                      parse_model_name, slurm_minutes)
from reproduce.paper_values import AUC, SUPP_TABLE3_LABELS

from conftest import REPO, SAMPLE, make_workflow_copy, run_snakemake


def base():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def load(config):
    return load_config(config, workflow_dir=REPO / "workflow", base=base())


# ---------------------------------------------------------------- models


def test_model_names_parse_into_the_networks_they_name():
    assert parse_model_name("deep") == {"model": "deep", "dropout": False, "width": 300,
                                        "depth": 4}
    assert parse_model_name("shallow_w10000") == {"model": "shallow", "dropout": False,
                                                  "width": 10000, "depth": 1}
    assert parse_model_name("deep_dropout_h5") == {"model": "deep", "dropout": True,
                                                   "width": 300, "depth": 5}
    for bad, why in (("deep_x3", "expected a network family"), ("deep_h7", "2..6 hidden"),
                     ("shallow_h2", "1..1 hidden"), ("bdt", "expected a network family")):
        with pytest.raises(ValueError, match=why):
            parse_model_name(bad)
    # the name is the one home of the architecture: the family's depth stays unset
    assert network_settings("deep") == {"dropout": False, "width": 300, "depth": None}
    assert network_settings("deep_h5")["depth"] == 5


def test_labels_are_the_papers():
    """Tables 1 and 2's row labels, and Supp. Table 3's (transcribed separately in
    reproduce.paper_values) for every variant that is not a Table 1 network."""
    assert model_labels(["deep_dropout", "deep", "bdt", "shallow_dropout", "shallow"]) == {
        "bdt": "BDT", "shallow": "NN", "shallow_dropout": "NNdropOut", "deep": "DN",
        "deep_dropout": "DNdropOut"}  # Table 2's order
    for name, label in SUPP_TABLE3_LABELS.items():
        if name not in ("shallow_w300", "deep_h4"):  # NN and DN of Table 1
            assert model_label(name) == label, name


def test_slurm_time_limit_scales_with_epochs_rows_and_size():
    assert slurm_minutes("deep", 1000, 10_000_000) == 3000  # 3 min per 10M-row epoch
    assert slurm_minutes("shallow", 1000, 10_000_000) == 1000
    assert slurm_minutes("deep", 1, 8984) == 60  # at least an hour
    assert slurm_minutes("shallow_w1000", 1000, 10_000_000) > slurm_minutes("shallow", 1000,
                                                                             10_000_000)
    assert slurm_minutes("deep_h6", 100, 10_000_000) > slurm_minutes("deep", 100, 10_000_000)


def test_config_checks_names_against_the_registries():
    without = {k: v for k, v in base().items() if k != "models"}
    assert load(without | {"datasets": ["HIGGS", "SUSY"]})["models"] == {
        "HIGGS": ["shallow", "deep"],  # Table 1's networks
        "SUSY": ["shallow", "shallow_dropout", "deep", "deep_dropout"]}  # Table 2's
    assert base()["models"] == load(without | {"datasets": ["HIGGS", "SUSY"]})["models"]
    for change, message in (
            ({"datasets": ["HIGGS", "LHC"]}, "datasets.1: unknown data set 'LHC'"),
            ({"models": {"HIGG": ["deep"]}}, "models.HIGG: unknown data set"),
            ({"models": {"HIGGS": ["deep", "dep"]}}, "models.HIGGS.1: model name 'dep'"),
            ({"dataset_overrides": {"HIGGS": {"source": "mini"}}},
             "dataset_overrides.HIGGS.source: HIGGS has no source 'mini' "
             "\\(known: full, sample\\)"),
            ({"training": {"width": 500}}, "unknown key")):
        with pytest.raises(ConfigError, match=message):
            load(base() | change)
    # Supp. Table 3's variants are names like any other
    assert load(base() | {"models": {"HIGGS": ["deep_h5", "shallow_w1000"]}})["models"] == {
        "HIGGS": ["deep_h5", "shallow_w1000"]}


# ---------------------------------------------------------------- data sets


def test_the_samples_facts_are_the_files():
    """HIGGS's "sample" source (the one home of the sample's facts) against the file itself
    and against data/README.md's description."""
    spec = get_dataset("HIGGS", {"source": "sample"})
    data = SAMPLE.read_bytes()
    assert spec.size == len(data)
    assert spec.sha256 == hashlib.sha256(data).hexdigest()
    with gzip.open(SAMPLE, "rt") as f:
        rows = sum(1 for _ in f)
    assert spec.rows == rows and spec.splits["test"][1] == rows
    assert spec.urls == ("data/higgs-sample.csv.gz",) and spec.source == "sample"
    assert f"{rows:,} real events" in (REPO / "data" / "README.md").read_text()
    # a key set beside the source wins over the source's
    assert get_dataset("HIGGS", {"source": "sample", "rows": 5000,
                                 "splits": {"train": [0, 3000], "valid": [3000, 4000],
                                            "test": [4000, 5000]}}).rows == 5000


def test_presets_name_the_sample_instead_of_copying_its_facts():
    for preset in ("demo", "smoke"):
        text = (REPO / "workflow" / "presets" / f"{preset}.yaml").read_text()
        assert "source: sample" in text and "sha256" not in text and "10984" not in text


def test_every_data_set_has_its_paper_values_and_table():
    for name, spec in DATASETS.items():
        assert spec.paper_table and name in AUC
        assert set(spec.feature_indices("complete")) == set(range(len(spec.features)))


# ---------------------------------------------------------------- a third data set


TOY_REGISTRY_ENTRY = '''

TOY = DatasetSpec(
    name="TOY",
    urls=("toy.csv.gz",),
    filename="toy.csv.gz",
    size=None,
    sha256=None,
    rows=3000,
    low_level=("a", "b", "c", "d"),
    high_level=("m1", "m2"),
    splits={"train": (0, 2000), "valid": (2000, 2500), "test": (2500, 3000)},
    paper_table="Table T",
)
DATASETS[TOY.name] = TOY
'''

TOY_PAPER_VALUES = '''

AUC["TOY"] = {
    "bdt": {"low": (0.70, 0.01), "high": (0.75, 0.01), "complete": (0.80, 0.01)},
    "shallow": {"low": (0.71, 0.01), "high": (0.76, 0.01), "complete": (0.81, 0.01)},
}
'''


def _toy_file(path, rows=3000, seed=0):
    """Label, 4 low-level and 2 high-level features; the signal is shifted in all of them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    features = rng.normal(size=(rows, 6)) + 0.6 * labels[:, None]
    with gzip.open(path, "wt") as f:
        for y, x in zip(labels, features):
            f.write(",".join([f"{y:.18e}"] + [f"{v:.18e}" for v in x]) + "\n")


@pytest.mark.slow
def test_a_third_data_set_is_one_registry_entry_and_its_paper_values(tmp_path):
    """A copy of the package with exactly two additions, a DatasetSpec in DATASETS and the
    data set's AUCs in paper_values, runs the whole workflow on it: download, conversion,
    training, BDT, evaluation, feature plots and the report's table under its own name. No
    rule, schema or report code is touched."""
    package = tmp_path / "site"
    shutil.copytree(REPO / "reproduce", package / "reproduce",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(package / "reproduce" / "datasets.py", "a") as f:
        f.write(TOY_REGISTRY_ENTRY)
    with open(package / "reproduce" / "paper_values.py", "a") as f:
        f.write(TOY_PAPER_VALUES)
    (tmp_path / "work").mkdir()
    work = make_workflow_copy(tmp_path / "work")
    _toy_file(work / "toy.csv.gz")
    (work / "toy.yaml").write_text(
        "preset: smoke\ndatasets: [TOY]\nfeature_sets: [complete]\n"
        "training: {max_epochs: 1}\nbdt: {max_iter: 5}\n")
    env = dict(os.environ, PYTHONPATH=str(package))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
                           "toy.yaml"], cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = work / "results" / "smoke" / "paper_figures"
    table = pd.read_csv(figures / "auc_table.csv")
    assert set(table.dataset) == {"TOY"} and set(table.model) == {"bdt", "shallow"}
    assert set(table.feature_set) == {"complete"}
    assert table.auc_mean.between(0.6, 1.0).all()  # the toy's classes are separable
    assert "Table T: TOY" in (figures / "auc_table.md").read_text()
    assert (figures / "features_TOY_high_level.png").exists()
    assert not list(figures.glob("fig8_*"))  # the toy names no masses for Fig. 8


# ---------------------------------------------------------------- installed, not editable


@pytest.mark.slow
def test_the_smoke_run_is_made_by_the_installed_package(local_smoke_run):
    """The session's smoke run (``local_smoke_run``: the whole smoke preset, download to
    report) ran from ``pip install .`` into a folder of its own, not from the checkout:
    the schema and presets came from the workflow folder. ``python -m reproduce status``
    works from there too."""
    site = local_smoke_run.parent / "install" / "site"
    env = dict(os.environ, PYTHONPATH=str(site))
    where = subprocess.run([sys.executable, "-c", "import reproduce; print(reproduce.__file__)"],
                           cwd=local_smoke_run, env=env, capture_output=True, text=True,
                           check=True)
    assert where.stdout.startswith(str(site)), where.stdout
    assert not (local_smoke_run / "reproduce").exists()
    figures = local_smoke_run / "results" / "smoke" / "paper_figures"
    assert "Table 1: HIGGS" in (figures / "auc_table.md").read_text()
    status = subprocess.run([sys.executable, "-m", "reproduce", "status", "--config",
                             "preset=smoke"], cwd=local_smoke_run, env=env,
                            capture_output=True, text=True)
    assert status.returncode == 0 and "shallow-high-seed1" in status.stdout, status.stderr


def test_lint_asks_only_for_per_rule_environments(workflow_copy):
    """The rules run in the README's venv, where the package is installed, and declare no
    per-rule conda environment (``--sdm conda`` is not offered: its environments would
    lack the package). Snakemake's request for one is the only lint."""
    proc = run_snakemake(workflow_copy, "--lint", check=False)
    text = proc.stdout + proc.stderr
    items = re.findall(r"^    \* (.+)$", text, flags=re.M)
    assert items and all(i.startswith("Specify a conda environment or container")
                         for i in items), text[-3000:]
    assert not (REPO / "workflow" / "envs").exists()
    assert not re.search(r"^\s+conda:", "".join(
        p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk")), flags=re.M)
