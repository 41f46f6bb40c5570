"""reproduce.runs_plan: the runs of a config, against lists written out by hand."""

from reproduce.runs_plan import PlannedRun, bdt_runs, network_runs, planned_runs

CONFIG = {"datasets": ["HIGGS", "SUSY"], "models": {"HIGGS": ["deep", "shallow"], "SUSY": ["deep"]},
          "feature_sets": ["low", "high"], "seeds": [3, 1], "bdt": {"enabled": True}}


def test_networks_per_dataset_model_features_seed():
    assert [(r.dataset, r.name) for r in network_runs(CONFIG)] == [
        ("HIGGS", "deep-low-seed3"), ("HIGGS", "deep-low-seed1"),
        ("HIGGS", "deep-high-seed3"), ("HIGGS", "deep-high-seed1"),
        ("HIGGS", "shallow-low-seed3"), ("HIGGS", "shallow-low-seed1"),
        ("HIGGS", "shallow-high-seed3"), ("HIGGS", "shallow-high-seed1"),
        ("SUSY", "deep-low-seed3"), ("SUSY", "deep-low-seed1"),
        ("SUSY", "deep-high-seed3"), ("SUSY", "deep-high-seed1")]


def test_bdt_once_per_feature_set_with_the_first_seed():
    assert bdt_runs(CONFIG) == [PlannedRun("HIGGS", "bdt", "low", 3),
                                PlannedRun("HIGGS", "bdt", "high", 3),
                                PlannedRun("SUSY", "bdt", "low", 3),
                                PlannedRun("SUSY", "bdt", "high", 3)]
    assert bdt_runs(dict(CONFIG, bdt={"enabled": False})) == []


def test_planned_is_networks_then_bdts():
    runs = planned_runs(CONFIG)
    assert len(runs) == 12 + 4
    assert [r.is_network for r in runs] == [True] * 12 + [False] * 4
    assert planned_runs(dict(CONFIG, models={})) == bdt_runs(CONFIG)
