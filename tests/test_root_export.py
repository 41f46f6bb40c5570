"""The ROOT export of the test scores, read back with uproot."""

import numpy as np
import pytest

from reproduce.report.root_export import write_root_scores
from reproduce.report.runs import ReportedRun

uproot = pytest.importorskip("uproot")


def _run(root, model, features, seed, arrays) -> ReportedRun:
    folder = root / "HIGGS" / "runs" / f"{model}-{features}-seed{seed}"
    folder.mkdir(parents=True)
    np.savez(folder / "test_scores.npz", **arrays)
    return ReportedRun("HIGGS", model, features, seed, metrics=folder / "metrics.json",
                       evaluation=root / "HIGGS" / "evaluation" / f"{folder.name}.json")


def test_root_file_holds_one_tree_per_run_with_labels_scores_and_event_rows(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 7).astype(np.int8)
    final, best = rng.random(7).astype(np.float32), rng.random(7).astype(np.float32)
    bdt = rng.random(7)
    runs = [_run(tmp_path, "deep", "low", 1, {"labels": labels, "scores": final,
                                              "scores_final": final,
                                              "scores_best_validation": best}),
            _run(tmp_path, "bdt", "high", 1, {"labels": labels, "scores": bdt})]
    path = tmp_path / "out" / "test_scores.root"
    names = write_root_scores(runs, path, {"HIGGS": 9_984})
    assert names == ["HIGGS_deep_low_seed1", "HIGGS_bdt_high_seed1"]
    assert not list(path.parent.glob(".*tmp"))  # written under a temporary name, renamed

    with uproot.open(path) as root_file:
        assert sorted(k.split(";")[0] for k in root_file.keys()) == sorted(names)
        deep = root_file["HIGGS_deep_low_seed1"].arrays(library="np")
        assert set(deep) == {"event_index", "label", "score", "score_final",
                             "score_best_validation"}
        assert deep["event_index"].tolist() == list(range(9_984, 9_991))
        assert deep["label"].tolist() == labels.tolist()
        np.testing.assert_array_equal(deep["score_final"], final.astype(np.float64))
        np.testing.assert_array_equal(deep["score_best_validation"], best.astype(np.float64))
        np.testing.assert_array_equal(deep["score"], final.astype(np.float64))
        tree = root_file["HIGGS_bdt_high_seed1"]
        assert tree.num_entries == 7
        assert set(tree.keys()) == {"event_index", "label", "score"}
        np.testing.assert_array_equal(tree["score"].array(library="np"), bdt)


def test_scores_and_labels_of_different_lengths_are_an_error(tmp_path):
    run = _run(tmp_path, "deep", "low", 1, {"labels": np.zeros(3, np.int8),
                                            "scores": np.zeros(3), "scores_final": np.zeros(2)})
    with pytest.raises(ValueError, match="scores_final has 2 entries, labels 3"):
        write_root_scores([run], tmp_path / "x.root", {"HIGGS": 0})
