"""What the report's tables and figures say about themselves: the run they show (config,
events trained on, seeds, epochs), the demo's verdicts, the ROC band the caption promises,
the features' axis labels, and figure folders of different configurations kept apart."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from reproduce.config import load_config
from reproduce.datasets import DATASETS, FEATURE_AXIS_LABELS, feature_axis_label
from reproduce.layout import ReportFiles
from reproduce.report.report import write_report
from test_report import html_cells, paper_grid

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflow"
# make_run's recorded split: rows 0-8,984 train; 3 epochs; seeds 1-3 (test_report.py)
IDENTITY = "Run: demo preset; HIGGS, 8,984 training events, seeds 1, 2, 3, 3 epochs"


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("identity")
    runs = paper_grid(root, lambda m, f: 0.6)  # far below the paper's 0.73-0.89
    files = ReportFiles.in_folder(root / "figures", root / "captions")
    table = write_report(runs, files, run_name="demo preset")
    return files, table


def test_every_table_format_says_what_run_it_shows(demo_report):
    files, _ = demo_report
    markdown = files.table_md.read_text()
    assert markdown.splitlines()[2] == IDENTITY  # under the table's heading
    assert IDENTITY in files.table_html.read_text()
    assert "<title>AUC tables of the reproduction (demo preset)" in files.table_html.read_text()
    assert IDENTITY in files.table_tex.read_text().replace("\\footnotesize ", "")
    # 8,984 of the paper's 10,000,000 training events
    assert "trained on 8,984 events, 0.09% of the paper's 10,000,000" in markdown


def test_demo_verdicts_say_the_demo_is_not_expected_to_reach_the_paper(demo_report):
    files, table = demo_report
    note = "below the paper (demo preset: 8,984 training events, not expected to reach it)"
    networks = table[table.model != "bdt"]
    assert set(networks.verdict) == {"below the paper"}  # the verdict column is unchanged
    for (model, features), (verdict, text) in html_cells(files.table_html.read_text()).items():
        assert (note in text) == (verdict == "below the paper"), (model, features, text)
        if model != "bdt":
            assert verdict == "below the paper", (model, features, text)
    csv = pd.read_csv(files.table_csv)
    assert csv.auc_mean.dtype == float and csv.difference_sigmas.dtype == float
    assert ((csv.verdict_note.fillna("") != "") == (csv.verdict == "below the paper")).all()


def test_every_caption_says_what_run_it_shows(demo_report):
    files, _ = demo_report
    for path in files.caption_files():
        if path.stem != "auc_table":
            assert IDENTITY in path.read_text() or "Run: demo preset; HIGGS" in path.read_text()


def test_roc_band_is_the_seeds_std_the_caption_names(tmp_path):
    """The band drawn is mean +- std (ddof 1) of the seeds' rejection, computed here."""
    from reproduce.report.figures import _draw_roc_curve
    from reproduce.report.plotting import pyplot

    efficiency = np.linspace(0, 1, 5)
    rejections = [np.array([1, .9, .6, .3, 0]), np.array([1, .8, .5, .2, 0]),
                  np.array([1, .7, .7, .1, 0])]
    rows = pd.DataFrame({"roc_efficiency": [efficiency] * 3, "roc_rejection": rejections,
                         "auc": [0.7, 0.6, 0.65]})
    plt = pyplot()
    fig, ax = plt.subplots()
    _draw_roc_curve(ax, rows, "black", "DN")
    (band,) = ax.collections
    top = band.get_paths()[0].vertices[:, 1].max()
    stacked = np.stack(rejections)
    assert top == pytest.approx((stacked.mean(0) + stacked.std(0, ddof=1)).max())
    assert ax.lines[0].get_label() == "DN (AUC = 0.650)"
    plt.close(fig)


def test_every_feature_has_a_physics_label_with_its_unit():
    for spec in DATASETS.values():
        for name in spec.features:
            assert name in FEATURE_AXIS_LABELS, (spec.name, name)
    assert feature_axis_label("m_wwbb") == "$m_{WWbb}$ [scaled units]"
    assert feature_axis_label("jet_3_pt").endswith("[scaled units]")
    assert feature_axis_label("lepton_eta") == r"lepton $\eta$"  # no unit


def _figure_files(preset: str) -> set[Path]:
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    config = load_config(workflow_dir=WORKFLOW, config=base | {"preset": preset}, base=base)
    figures = Path(config["figures"])
    final = ReportFiles.in_folder(figures, "captions")
    partial = ReportFiles.in_folder(figures / "partial", "captions")
    return {p for files in (final, partial) for p in vars(files).values() if p.suffix}


def test_demo_smoke_and_full_run_never_write_the_same_figure():
    """The figure folders the report rule uses (workflow/rules/report.smk: FIGURES and
    FIGURES/partial) of each configuration hold no file of another."""
    files = {preset: _figure_files(preset) for preset in ("none", "demo", "smoke")}
    assert files["none"] & files["demo"] == set()
    assert files["none"] & files["smoke"] == set()
    assert files["demo"] & files["smoke"] == set()
    assert Path("paper_figures/demo/auc_table.md") in files["demo"]
    assert Path("paper_figures/auc_table.md") in files["none"]
