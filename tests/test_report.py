import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from reproduce.evaluate.evaluation import evaluate_scores
from reproduce.layout import ReportFiles
from reproduce.report.captions import figure_captions
from reproduce.report.description import describe_runs
from reproduce.report.report import write_partial_report, write_report
from reproduce.report.runs import (TRAIN_CURVE_LABELS, VALIDATION_LABEL, ReportedRun, load_logs,
                                  load_runs)
from reproduce.report.supp_table3 import write_supp_table3
from reproduce.report.table import auc_table, table_markdown

FEATURES = ("low", "high", "complete")
NEW_SETTINGS = {"batch_size": 100, "learning_rate": 0.05, "learning_rate_decay_factor": 1.0225,
                "decay_factor": 1.0225, "learning_rate_floor": 1e-6,
                "learning_rate_schedule": "per_batch", "initial_momentum": 0.9,
                "final_momentum": 0.99, "momentum_saturation_epochs": 2, "weight_decay": 1e-5,
                "dropout": False, "standardize": "none", "max_epochs": 3, "patience": 2,
                "stopping_patience": 2, "min_relative_improvement": 1e-5,
                "stopping": "authors", "batch_order": "shared", "train_monitor_rows": 100_000}


def make_run(root, model, features, seed, target_auc, *, new_keys=True, epochs=3,
             finished=True, monitor_columns=True, **metrics_extra) -> ReportedRun:
    """A run folder with real test scores whose AUC lands near ``target_auc`` (two unit
    Gaussians shifted by sqrt(2) * Phi^-1(AUC)), its evaluation JSON, metrics.json (with or
    without the keys newer trainings write) and its CSV log."""
    run_dir = root / "HIGGS" / "runs" / f"{model}-{features}-seed{seed}"
    run = ReportedRun("HIGGS", model, features, seed, metrics=run_dir / "metrics.json",
                   evaluation=root / "HIGGS" / "evaluation" / f"{model}-{features}-seed{seed}.json",
                   log=None if model == "bdt" else run_dir / "log.csv",
                   progress_log=None if model == "bdt" else run_dir / "progress" / "log.csv")
    (run_dir / "progress").mkdir(parents=True)
    rng = np.random.default_rng(seed * 100 + len(model) + len(features))
    epoch = np.arange(epochs)
    log = pd.DataFrame({"epoch": epoch, "loss": 0.7 - 0.05 * epoch, "auc": 0.6 + 0.05 * epoch,
                        "val_loss": 0.71 - 0.04 * epoch, "val_auc": 0.6 + 0.04 * epoch,
                        "learning_rate": 0.05 / 1.0225 ** (90 * (epoch + 1)),
                        "momentum": np.minimum(0.9 + 0.045 * (epoch + 1), 0.99)})
    if monitor_columns:
        log["train_monitor_loss"] = 0.65 - 0.06 * epoch
        log["train_monitor_auc"] = 0.62 + 0.06 * epoch
    if model != "bdt":
        log.to_csv(run_dir / "progress" / "log.csv", index=False)
    if not finished:
        return run
    labels = np.r_[np.ones(500), np.zeros(500)].astype(np.int8)
    scores = rng.normal(labels * np.sqrt(2) * norm.ppf(target_auc), 1.0)
    np.savez(run_dir / "test_scores.npz", labels=labels, scores=scores)
    evaluate_scores(run_dir / "test_scores.npz", run.evaluation,
                    {"dataset": "HIGGS", "model": model, "feature_set": features, "seed": seed})
    # as the training writes it: the architecture, not the variant's name
    metrics = {"dataset": "HIGGS", "model": model.split("_")[0], "feature_set": features,
               "seed": seed,
               "test_auc": json.loads(run.evaluation.read_text())["auc"]}
    if model == "bdt":
        metrics |= {"trees": 50, "settings": {
            "library": "scikit-learn HistGradientBoostingClassifier", "max_iter": 500,
            "learning_rate": 0.1, "max_leaf_nodes": 31, "patience": 20}}
    else:
        log.to_csv(run.log, index=False)
        settings = dict(NEW_SETTINGS)
        metrics |= {"epochs_trained": epochs, "stopped_early": False, "settings": settings,
                    "trainable_parameters": 10_000,
                    "data": {"splits": {"train": [0, 8984], "valid": [8984, 9984],
                                        "test": [9984, 10984]}},
                    "versions": {"python": "3.11.2", "keras": "3.0.0"}}
        if new_keys:
            metrics |= {"evaluated_weights": "final", "test_auc_final": metrics["test_auc"],
                        "test_auc_best_validation": metrics["test_auc"] - 0.01,
                        "stopping": {"rule": "authors", "stopped_by": "max_epochs",
                                     "epochs": epochs},
                        "constant_output": False, "warnings": []}
        else:
            for key in ("stopping", "batch_order", "train_monitor_rows"):
                settings.pop(key)
    metrics |= metrics_extra
    run.metrics.write_text(json.dumps(metrics))
    return run


def paper_grid(tmp_path, auc_of, seeds=(1, 2, 3), **kwargs):
    runs = [make_run(tmp_path, m, f, s, auc_of(m, f), **kwargs)
            for m in ("shallow", "deep") for f in FEATURES for s in seeds]
    return runs + [make_run(tmp_path, "bdt", f, 1, 0.75) for f in FEATURES]


class ReportPage(HTMLParser):
    """The report page's text: the AUC cells ({(model, features): (verdict, text)}) and the
    rows of the run description ({item: text})."""

    def __init__(self):
        super().__init__()
        self.cells, self.items, self.where, self.text = {}, {}, None, []
        self.model = self.item = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.model, self.item = attrs.get("data-model"), attrs.get("data-item")
        if tag == "td" and self.model and "data-verdict" in attrs:
            self.where = ("cell", (self.model, attrs["data-feature-set"]), attrs["data-verdict"])
            self.text = []
        elif tag == "td" and self.item:
            self.where, self.text = ("item", self.item, None), []

    def handle_data(self, data):
        if self.where:
            self.text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self.where:
            kind, key, verdict = self.where
            text = " ".join(self.text)
            if kind == "cell":
                self.cells[key] = (verdict, text)
            else:
                self.items[key] = text
            self.where = None


def html_cells(text: str) -> dict:
    page = ReportPage()
    page.feed(text)
    return page.cells


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Table 1's grid of made-up runs (two seeds, a third DN high-level seed that trained to
    a constant output), rendered once by the final and once by the partial report."""
    root = tmp_path_factory.mktemp("grid")
    runs = paper_grid(root, lambda m, f: 0.8 if m == "deep" else 0.7, seeds=(1, 2))
    runs.append(make_run(root, "deep", "high", 3, 0.5, constant_output=True,
                         warnings=["output constant: std 1e-9 over the test split"]))
    table = write_report(runs, ReportFiles.in_folder(root / "figures", root / "captions"))
    write_partial_report(runs, ReportFiles.in_folder(root / "partial", root / "partial-captions"))
    return root, runs, table


def test_table_numbers_recompute_from_runs(grid):
    root, runs, table = grid
    assert len(table) == 9
    for row in table[table.model != "bdt"].itertuples():
        aucs = [json.loads(r.evaluation.read_text())["auc"] for r in runs
                if (r.model, r.feature_set) == (row.model, row.feature_set)]
        assert row.n_seeds == len(aucs) == (3 if (row.model, row.feature_set) ==
                                            ("deep", "high") else 2)
        assert row.auc_mean == pytest.approx(np.mean(aucs), abs=1e-12)
        assert row.auc_std == pytest.approx(np.std(aucs, ddof=1), abs=1e-12)
    deep_low = table[(table.model == "deep") & (table.feature_set == "low")].iloc[0]
    assert deep_low.paper_auc == 0.880 and deep_low.paper_significance == 4.9
    combined = np.hypot(deep_low.auc_std, 0.001)
    assert deep_low.difference_sigmas == pytest.approx((deep_low.auc_mean - 0.880) / combined)
    assert deep_low.verdict == "below the paper"
    csv = pd.read_csv(root / "figures" / "auc_table.csv")
    assert csv.auc_mean.round(6).tolist() == table.auc_mean.round(6).tolist()
    for name in ("learning_curves.png", "roc_curves.png", "learning_curves.pdf",
                 "schedules.png", "roc_by_feature_set.png"):
        assert (root / "figures" / name).stat().st_size > 10_000
    markdown = (root / "figures" / "auc_table.md").read_text()
    assert "| DN |" in markdown and "0.880 (0.001)" in markdown
    assert "\\begin{tabular}" in (root / "figures" / "auc_table.tex").read_text()
    # the HTML page: one cell per (model, feature set), ours beside the paper's
    cells = html_cells((root / "figures" / "auc_table.html").read_text())
    assert len(cells) == 9
    verdict, text = cells[("deep", "low")]
    assert verdict == "below the paper"
    assert f"{deep_low.auc_mean:.3f} ({deep_low.auc_std:.3f})" in text
    assert "paper 0.880 (0.001)" in text
    for name in ("auc_table", "learning_curves", "schedules", "roc_curves",
                 "roc_by_feature_set"):
        assert (root / "captions" / f"{name}.rst").read_text().strip()


def test_verdict_reproduced_within_tolerance():
    runs = pd.DataFrame([{"dataset": "HIGGS", "model": "deep", "feature_set": "low", "seed": s,
                          "auc": a, "significance": 5.0} for s, a in
                         enumerate([0.879, 0.881, 0.880])])
    row = auc_table(runs).iloc[0]
    assert row.verdict == "reproduced"
    assert row.auc_std == pytest.approx(0.001)


@pytest.mark.parametrize("aucs, verdict", [
    ([0.890, 0.891, 0.889], "above the paper"),   # +10 combined std above 0.880 (0.001)
    ([0.870, 0.871, 0.869], "below the paper"),
    ([0.8815, 0.8825, 0.8820], "reproduced"),     # +1.6 combined std: within 2
])
def test_verdict_tells_above_from_below(aucs, verdict):
    runs = pd.DataFrame([{"dataset": "HIGGS", "model": "deep", "feature_set": "low", "seed": s,
                          "auc": a, "significance": 5.0} for s, a in enumerate(aucs)])
    row = auc_table(runs).iloc[0]
    assert row.verdict == verdict
    assert row.difference == pytest.approx(np.mean(aucs) - 0.880)


def test_recorded_facts_in_table_and_summary(grid):
    """A constant-output run is marked and footnoted, the table names the evaluated weights,
    the BDT row names its library and settings beside the published LightGBM reference."""
    tmp_path = grid[0]
    markdown = (tmp_path / "figures" / "auc_table.md").read_text()
    dn_row = next(line for line in markdown.splitlines() if line.startswith("| DN |"))
    assert dn_row.split("|")[3].count("\u2020") == 1  # DN high-level, the constant seed
    assert dn_row.split("|")[2].count("\u2020") == 0
    assert "\u2020" in html_cells((tmp_path / "figures" / "auc_table.html").read_text())[
        ("deep", "high")][1]
    assert "\u2020 A network trained to a constant output" in markdown
    assert "DN high-level seed(s) 3" in markdown
    assert "from the weights when training ended of each run (metrics.json " \
           "evaluated_weights: final)" in markdown
    assert "BDT: scikit-learn HistGradientBoostingClassifier (max_iter 500, learning_rate " \
           "0.1, max_leaf_nodes 31, patience 20)" in markdown
    assert "| BDT (scikit-learn HistGradientBoostingClassifier (max_iter 500, learning_rate " \
           "0.1, max_leaf_nodes 31, patience 20)) | 0." in markdown  # the row names its library
    assert "| BDT reference (published) |  |  | 0.845 |" in markdown
    assert "AUC 0.845 against the paper's 0.810" in markdown
    summary = (tmp_path / "figures" / "summary.md").read_text()
    assert "HIGGS DN high-level seed 3 trained to a constant output" in summary
    assert "output constant: std 1e-9 over the test split" in summary
    # the significance footnote states the numbers of reproduce.metrics
    from reproduce import metrics

    assert (f"for {metrics.SIGNIFICANCE_SIGNAL_EVENTS:g} signal and "
            f"{metrics.SIGNIFICANCE_BACKGROUND_EVENTS:g} +- "
            f"{metrics.SIGNIFICANCE_BACKGROUND_UNCERTAINTY:g} background") in markdown
    csv = pd.read_csv(tmp_path / "figures" / "auc_table.csv")
    bdt = csv[(csv.model == "bdt") & (csv.feature_set == "complete")].iloc[0]
    assert bdt.reference_auc == pytest.approx(0.845154) and bdt.verdict == "below the paper"


def test_a_run_reads_only_its_own_files(tmp_path):
    run = make_run(tmp_path, "deep", "low", 1, 0.7)
    other = make_run(tmp_path, "deep", "high", 1, 0.7)
    swapped = ReportedRun("HIGGS", "deep", "low", 1, metrics=other.metrics,
                       evaluation=run.evaluation)
    with pytest.raises(ValueError, match="deep-high-seed1: the metrics.json is of run "
                                         "\\('HIGGS', 'high', 1\\), expected "
                                         "\\('HIGGS', 'low', 1\\)"):
        load_runs([swapped])


def test_metrics_without_the_new_keys_read_as_the_old_behaviour(tmp_path):
    runs = paper_grid(tmp_path, lambda m, f: 0.7, seeds=(1,), new_keys=False,
                      monitor_columns=False)
    finished = load_runs(runs)
    table = auc_table(finished, expected=runs)
    assert set(table[table.model != "bdt"].evaluated_weights) == {"best_validation"}
    assert "the checkpoint with the lowest validation loss of each run (metrics.json " \
           "evaluated_weights: best_validation)" in table_markdown(table, finished)
    described = dict(describe_runs(finished)["HIGGS"])
    assert described["stopping rule"].startswith("paper_text: the Methods text's rule")
    assert described["minibatch order"] == "per_seed"  # before batch_order existed
    caption = figure_captions(runs, finished, load_logs(runs), "monitor")["learning_curves"]
    assert TRAIN_CURVE_LABELS["running_mean"] in caption
    assert TRAIN_CURVE_LABELS["monitor"] not in caption and "Keras's mean" in caption


def test_train_curve_is_the_monitor_or_the_running_mean(tmp_path):
    new = make_run(tmp_path, "deep", "low", 1, 0.7)
    old = make_run(tmp_path, "shallow", "low", 1, 0.7, monitor_columns=False)
    csv_new, csv_old = pd.read_csv(new.log), pd.read_csv(old.log)

    def train_values(logs, run, metric):
        rows = logs[(logs.model == run.model) & (logs.metric == metric)
                    & logs.split.str.startswith("train")]
        return rows.split.unique().tolist(), rows.value.tolist()

    monitor = load_logs([new, old], "monitor")
    assert train_values(monitor, new, "loss") == (
        [TRAIN_CURVE_LABELS["monitor"]], csv_new.train_monitor_loss.tolist())
    assert train_values(monitor, new, "auc")[1] == csv_new.train_monitor_auc.tolist()
    # a log without the monitor columns falls back to the running mean, and says so
    assert train_values(monitor, old, "loss") == (
        [TRAIN_CURVE_LABELS["running_mean"]], csv_old.loss.tolist())
    running = load_logs([new, old], "running_mean")
    assert train_values(running, new, "auc") == (
        [TRAIN_CURVE_LABELS["running_mean"]], csv_new.auc.tolist())
    validation = running[(running.model == "deep") & (running.split == VALIDATION_LABEL)
                         & (running.metric == "loss")]
    assert validation.value.tolist() == csv_new.val_loss.tolist()
    assert validation.epoch.tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="report.train_curve: expected one of monitor, "
                                         "running_mean, got 'last'"):
        load_logs([new], "last")


def test_a_live_log_is_read_up_to_its_last_complete_line(tmp_path):
    """A training appending to its live log: the half-written last line is left out."""
    run = make_run(tmp_path, "deep", "low", 1, 0.7, finished=False, epochs=2)
    with run.progress_log.open("a") as log:
        log.write("2,0.6")  # epoch 3, still being written
    logs = load_logs([run])
    validation = logs[(logs.split == VALIDATION_LABEL) & (logs.metric == "loss")]
    assert validation.epoch.tolist() == [1, 2]
    assert validation.value.tolist() == pytest.approx([0.71, 0.67])
    assert logs.in_progress.all()


def test_captions_and_schedule_titles_come_from_the_recorded_settings(grid):
    tmp_path = grid[0]
    schedules = (tmp_path / "captions" / "schedules.rst").read_text()
    assert "divided by 1.0225 per batch" in schedules and "1.0000002" not in schedules
    assert "0.9 -> 0.99 linearly over 2 epochs" in schedules
    curves = (tmp_path / "captions" / "learning_curves.rst").read_text()
    assert "first 100,000 training rows" in curves and "band over 2 or 3 seeds" in curves
    roc = (tmp_path / "captions" / "roc_curves.rst").read_text()
    assert "1,000 events" in roc and "the weights when training ended" in roc


def test_partial_report_marks_missing_cells(tmp_path):
    """Some runs finished, one in training (live log only), the rest not started."""
    finished = [make_run(tmp_path, "deep", f, s, 0.7) for f in FEATURES for s in (1, 2)]
    training = make_run(tmp_path, "shallow", "low", 1, 0.7, finished=False, epochs=2)
    waiting = [ReportedRun("HIGGS", "shallow", f, 1,
                        metrics=tmp_path / "HIGGS" / "runs" / f"shallow-{f}-seed1" / "metrics.json",
                        evaluation=tmp_path / "HIGGS" / "evaluation" / f"shallow-{f}-seed1.json",
                        log=tmp_path / "none.csv", progress_log=tmp_path / "none2.csv")
               for f in ("high", "complete")]
    deep_seed3 = ReportedRun("HIGGS", "deep", "low", 3, metrics=tmp_path / "x" / "metrics.json",
                          evaluation=tmp_path / "x.json")
    runs = finished + [training] + waiting + [deep_seed3]
    with pytest.raises(ValueError, match="4 run\\(s\\) have no metrics.json or evaluation"):
        write_report(runs, ReportFiles.in_folder(tmp_path / "final", tmp_path / "c"))
    table = write_partial_report(runs, ReportFiles.in_folder(tmp_path / "figures", tmp_path / "c"))
    cell = table.set_index(["model", "feature_set"])
    assert cell.loc[("shallow", "low")].verdict == "missing"
    assert cell.loc[("deep", "low")].n_seeds == 2 and cell.loc[("deep", "low")].n_seeds_expected == 3
    markdown = (tmp_path / "figures" / "auc_table.md").read_text()
    assert markdown.startswith("Partial report: 6 of 10 runs finished, 1 in training")
    nn_row = next(line for line in markdown.splitlines() if line.startswith("| NN |"))
    assert nn_row.count("missing (") == 0 and nn_row.count("missing / ") == 3
    assert "2 of 3 seeds finished" in markdown
    cells = html_cells((tmp_path / "figures" / "auc_table.html").read_text())
    assert cells[("shallow", "complete")][0] == "missing"
    logs = load_logs(runs)
    assert set(logs[logs.in_progress].model) == {"shallow"}
    assert sorted(set(logs[logs.model == "shallow"].epoch)) == [1, 2]
    for name in ("learning_curves.png", "roc_curves.png", "schedules.png"):
        assert (tmp_path / "figures" / name).read_bytes().startswith(b"\x89PNG")
    # nothing finished at all: still a report, every cell missing
    empty = write_partial_report(waiting, ReportFiles.in_folder(tmp_path / "empty", tmp_path / "c"))
    assert set(empty.verdict) == {"missing"}


def test_partial_report_of_a_finished_workflow_is_the_final_report(grid):
    root = grid[0]
    for name in ("auc_table.md", "auc_table.csv", "auc_table.html", "summary.md"):
        assert (root / "figures" / name).read_text() == (root / "partial" / name).read_text()


def test_supplementary_table3_beside_the_paper(tmp_path):
    runs = [make_run(tmp_path, "deep_h5", f, 1, 0.9) for f in FEATURES]
    runs += [make_run(tmp_path, "shallow", f, 1, 0.7) for f in FEATURES]
    table = write_supp_table3([r.evaluation for r in runs], tmp_path / "s3.md",
                              tmp_path / "s3.csv")
    row = table[(table.model == "deep_h5") & (table.feature_set == "low")].iloc[0]
    assert row.paper_auc == 0.888 and row.label == "DN 6 layers"
    own = json.loads((tmp_path / "HIGGS" / "evaluation" / "deep_h5-low-seed1.json").read_text())
    assert row.auc == own["auc"]
    assert "| NN 300 |" in (tmp_path / "s3.md").read_text()


def test_description_lists_settings_that_differ_with_their_models(tmp_path):
    runs = [make_run(tmp_path, "deep", "complete", 1, 0.7),
            make_run(tmp_path, "deep_dropout", "complete", 1, 0.7,
                     settings=NEW_SETTINGS | {"decay_factor": 1.0000003, "dropout": True})]
    described = dict(describe_runs(load_runs(runs))["HIGGS"])
    assert described["learning rate"] == (
        "0.05, divided by 1.0225 per batch (applied per batch), floor 1e-06 (DN); "
        "0.05, divided by 1.0000003 per batch (applied per batch), floor 1e-06 (DNdropOut)")
    assert described["dropout"] == "False (DN); True (DNdropOut)"
    assert described["momentum"] == "0.9 -> 0.99 linearly over 2 epochs"
    assert described["seeds"] == "1"
    assert described["inputs"] == (
        "standardize: none (the UCI values as they are, as the authors' code fed them)")
    zscored = make_run(tmp_path / "z", "deep", "complete", 1, 0.7,
                       settings=NEW_SETTINGS | {"standardize": "zscore"})
    assert dict(describe_runs(load_runs([zscored]))["HIGGS"])["inputs"] == (
        "standardize: zscore (every feature to mean 0 / std 1 on the training split, "
        "not the paper's)")
    assert described["data"].startswith("HIGGS; training rows 0-8,984 (8,984 events); "
                                        "validation rows 8,984-9,984 (1,000 events)")
