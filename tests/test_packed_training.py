"""train_pack: the runs of one (data set, network) as one pack, against their unpacked runs.

References: each run trained alone by ``train_run`` (the unpacked code path), a pack never
interrupted, the schema, and the unpacked smoke run of the workflow. Run as a script, this
file trains one pack in a fresh process (the kill/resume test).
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

HERE = Path(__file__).parent
REPO = HERE.parent
FEATURE_SETS = ["low", "high", "complete"]
# A short version of the paper's schedule (as tests/test_training.py's), small networks.
SETTINGS = {"width": 16, "max_epochs": 4, "momentum_saturation_epochs": 2,
            "learning_rate_decay_factor": 1.01, "steps_per_execution": 30,
            "train_monitor_rows": 1000, "threads": 2}


def run_folders(out: Path, seeds=(1,)) -> list[Path]:
    """The runs of a pack, in the workflow's order (feature sets, then seeds)."""
    return [Path(out) / f"shallow-{f}-seed{s}" for f in FEATURE_SETS for s in seeds]


def train_pack_here(shards, out, settings: dict, deadline=None, seeds=(1,), notify=None):
    from reproduce.datasets import get_dataset
    from reproduce.train.packed_training import train_pack
    from reproduce.train.settings import TrainingSettings

    return train_pack(shards, run_folders(out, seeds),
                      spec=get_dataset("HIGGS", {"source": "sample"}), model="shallow",
                      feature_sets=[f for f in FEATURE_SETS for _ in seeds],
                      seeds=[s for _ in FEATURE_SETS for s in seeds],
                      settings=TrainingSettings.from_dict(settings),
                      pack_state=Path(out) / "pack_state", verbose=0, deadline=deadline,
                      notify=notify)


def train_alone(shards, folder, feature_set, seed, settings: dict) -> dict:
    """The reference: the run trained by ``train_run``, the unpacked code path."""
    from reproduce.datasets import get_dataset
    from reproduce.train.settings import TrainingSettings
    from reproduce.train.training import train_run

    return train_run(shards, folder, spec=get_dataset("HIGGS", {"source": "sample"}),
                     model="shallow", feature_set=feature_set, seed=seed,
                     settings=TrainingSettings.from_dict(settings), verbose=0)


def assert_same_run(ours: Path, theirs: Path, ours_metrics: dict, theirs_metrics: dict):
    """Two trainings of one run agree to float rounding: steps, log, weights, test AUC."""
    assert ours_metrics["steps"] == theirs_metrics["steps"]
    assert abs(ours_metrics["test_auc"] - theirs_metrics["test_auc"]) < 1e-4
    for a, b in zip(log_rows(ours), log_rows(theirs), strict=True):
        assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-4)
    for a, b in zip(weights(ours / "model.keras"), weights(theirs / "model.keras"), strict=True):
        assert np.allclose(a, b, rtol=1e-4, atol=1e-6)


def train_pack_process(shards, out, **overrides):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, __file__, str(shards), str(out), json.dumps(SETTINGS | overrides)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def weights(path):
    import keras

    import reproduce.train.keras_objects  # noqa: F401  (registers the package's objects)

    return keras.models.load_model(path).get_weights()


def log_rows(run_dir, name="log.csv"):
    with open(Path(run_dir) / name) as f:
        return list(csv.DictReader(f))


def test_schema_pack_values_are_the_packing_meanings():
    from reproduce.train.settings import PACKING

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    pack = schema["properties"]["compute"]["properties"]["pack"]
    assert pack["enum"] == list(PACKING) and pack["default"] == "auto"


def test_packing_plans_one_pack_per_packable_network():
    from reproduce.runs_plan import planned_packs

    config = {"datasets": ["HIGGS"], "models": {"HIGGS": ["shallow", "deep", "deep_dropout"]},
              "feature_sets": FEATURE_SETS, "seeds": [1, 2], "compute": {"pack": "auto"},
              "training": {"batch_order": "shared"}}
    assert planned_packs(config, n_gpus=0) == []  # auto: never on the CPU
    packs = planned_packs(config, n_gpus=1)
    assert [(p.model, len(p.runs)) for p in packs] == [("shallow", 6), ("deep", 6)]
    config["training"]["batch_order"] = "per_seed"
    assert planned_packs(config | {"compute": {"pack": "by_network"}}, 0) == []


@pytest.fixture(scope="module")
def packed_runs(sample_shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("pack")
    return out, train_pack_here(sample_shards, out, SETTINGS)


def test_every_replica_equals_its_unpacked_run(sample_shards, packed_runs, tmp_path):
    """Replica 'high' of the pack against the same run trained alone by train_run: the
    same epochs, validation losses and test AUC up to float rounding; its files are an
    unpacked run's (a model of its own 7 inputs, the pack named in metrics.json)."""
    from reproduce.datasets import get_dataset
    from reproduce.train.settings import TrainingSettings
    from reproduce.train.training import train_run

    out, metrics = packed_runs
    alone = train_run(sample_shards, tmp_path / "alone", spec=get_dataset(
        "HIGGS", {"source": "sample"}), model="shallow", feature_set="high", seed=1,
        settings=TrainingSettings.from_dict(SETTINGS), verbose=0)
    packed, folder = metrics[1], run_folders(out)[1]
    assert packed["pack"]["runs"] == [p.name for p in run_folders(out)]
    assert packed["fingerprint_sha256"] == alone["fingerprint_sha256"]
    assert (packed["steps"], packed["epochs_trained"]) == (alone["steps"], alone["epochs_trained"])
    assert abs(packed["test_auc"] - alone["test_auc"]) < 1e-4
    ours, theirs = log_rows(folder), log_rows(tmp_path / "alone")
    assert list(ours[0]) == list(theirs[0])  # the same columns
    for a, b in zip(ours, theirs, strict=True):
        for key in ("val_loss", "loss", "val_auc", "train_monitor_loss"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4), key
    for a, b in zip(weights(folder / "model.keras"), weights(tmp_path / "alone/model.keras")):
        assert a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-6)
    for folder in run_folders(out):
        assert (folder / "best.weights.h5").exists() and (folder / "test_scores.npz").exists()
        assert json.loads((folder / "state/state.json").read_text())["finished"]


def test_a_packed_run_continues_unpacked(sample_shards, packed_runs, tmp_path):
    """A run trained packed for 4 epochs, continued by train_run to 5, equals (to float
    rounding) the run trained unpacked for 5 epochs: its state is an unpacked run's."""
    import shutil

    from reproduce.datasets import get_dataset
    from reproduce.train.settings import TrainingSettings
    from reproduce.train.training import train_run

    spec = get_dataset("HIGGS", {"source": "sample"})
    settings = TrainingSettings.from_dict(SETTINGS | {"max_epochs": 5})
    continued = tmp_path / "continued"
    shutil.copytree(run_folders(packed_runs[0])[0], continued)
    resumed = train_run(sample_shards, continued, spec=spec, model="shallow",
                        feature_set="low", seed=1, settings=settings, verbose=0)
    alone = train_run(sample_shards, tmp_path / "alone", spec=spec, model="shallow",
                      feature_set="low", seed=1, settings=settings, verbose=0)
    assert [int(r["epoch"]) for r in log_rows(continued)] == list(range(5))
    # the first 4 epochs were the pack's: their wall times were kept, not retrained
    assert log_rows(continued)[:4] == log_rows(run_folders(packed_runs[0])[0])
    assert resumed["steps"] == alone["steps"]
    assert abs(resumed["test_auc"] - alone["test_auc"]) < 1e-4
    for a, b in zip(weights(continued / "model.keras"), weights(tmp_path / "alone/model.keras")):
        assert np.allclose(a, b, rtol=1e-4, atol=1e-6)


def test_unpacked_runs_continue_as_a_pack(sample_shards, packed_runs, tmp_path):
    """Three runs trained unpacked for 2 epochs, continued as a pack to 4, equal (to float
    rounding) the pack trained from the start; their first 2 epochs are kept."""
    from reproduce.datasets import get_dataset
    from reproduce.train.settings import TrainingSettings
    from reproduce.train.training import train_run

    spec = get_dataset("HIGGS", {"source": "sample"})
    settings = TrainingSettings.from_dict(SETTINGS | {"max_epochs": 2})
    for folder, features in zip(run_folders(tmp_path), FEATURE_SETS):
        train_run(sample_shards, folder, spec=spec, model="shallow", feature_set=features,
                  seed=1, settings=settings, verbose=0)
    first = [log_rows(folder) for folder in run_folders(tmp_path)]
    metrics = train_pack_here(sample_shards, tmp_path, SETTINGS)
    for r, (ours, theirs) in enumerate(zip(metrics, packed_runs[1])):
        rows = log_rows(run_folders(tmp_path)[r])
        assert rows[:2] == first[r] and len(rows) == SETTINGS["max_epochs"]
        reference = log_rows(run_folders(packed_runs[0])[r])
        for a, b in zip(rows, reference, strict=True):
            assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-4)
        assert ours["steps"] == theirs["steps"]
        assert abs(ours["test_auc"] - theirs["test_auc"]) < 1e-4


def test_killed_pack_resumes_bit_identically(sample_shards, tmp_path):
    """A pack SIGKILLed after an epoch and started again ends with every run's weights,
    log and test AUC of a pack never interrupted."""
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    proc = train_pack_process(sample_shards, reference)
    assert proc.wait(timeout=900) == 0, proc.stderr.read().decode()[-3000:]
    proc = train_pack_process(sample_shards, killed)
    state = killed / "pack_state" / "state.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text() or "{}").get(
                "epochs_completed", 0) >= 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epochs_completed"]
    assert 2 <= done < SETTINGS["max_epochs"]
    assert not any((folder / "metrics.json").exists() for folder in run_folders(killed))
    proc = train_pack_process(sample_shards, killed)
    assert proc.wait(timeout=900) == 0, proc.stderr.read().decode()[-3000:]
    for ref, run in zip(run_folders(reference), run_folders(killed)):
        assert [int(r["epoch"]) for r in log_rows(run)] == list(range(SETTINGS["max_epochs"]))
        for a, b in zip(weights(ref / "model.keras"), weights(run / "model.keras")):
            assert np.array_equal(a, b)
        assert [r["val_loss"] for r in log_rows(ref)] == [r["val_loss"] for r in log_rows(run)]
        assert json.loads((ref / "metrics.json").read_text())["test_auc"] == \
            json.loads((run / "metrics.json").read_text())["test_auc"]


def test_a_standardized_pack_equals_its_runs(sample_shards, tmp_path):
    """training.standardize: zscore (the demo's) packs: every replica reads the pack's
    standardized columns as its run alone reads its own, to float rounding."""
    from reproduce.datasets import get_dataset
    from reproduce.train.settings import TrainingSettings
    from reproduce.train.training import train_run

    settings = SETTINGS | {"standardize": "zscore", "max_epochs": 2}
    packed = train_pack_here(sample_shards, tmp_path / "pack", settings)
    for folder, feature_set, ours in zip(run_folders(tmp_path / "pack"), FEATURE_SETS, packed,
                                         strict=True):
        alone = train_run(sample_shards, tmp_path / "alone" / folder.name,
                          spec=get_dataset("HIGGS", {"source": "sample"}), model="shallow",
                          feature_set=feature_set, seed=1,
                          settings=TrainingSettings.from_dict(settings), verbose=0)
        assert abs(ours["test_auc"] - alone["test_auc"]) < 1e-4
        for a, b in zip(log_rows(folder), log_rows(tmp_path / "alone" / folder.name),
                        strict=True):
            assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-4)


def test_a_pack_past_its_deadline_continues_in_the_next_job(sample_shards, packed_runs,
                                                            tmp_path):
    """A deadline already passed (compute.max_job_minutes): each job trains one epoch of
    the pack, saves it and stops with "continuing in the next job", writing no run's
    metrics.json; the fourth job ends the 4-epoch pack with the weights of the pack never
    stopped, bit for bit."""
    from reproduce.train.job_budget import JobTimeLimitReached

    for epochs in (1, 2, 3):
        with pytest.raises(JobTimeLimitReached, match=f"stopped after epoch {epochs}"):
            train_pack_here(sample_shards, tmp_path, SETTINGS, deadline=time.monotonic())
        assert not any((f / "metrics.json").exists() for f in run_folders(tmp_path))
        saved = json.loads((tmp_path / "pack_state" / "state.json").read_text())
        assert saved["epochs_completed"] == epochs
    metrics = train_pack_here(sample_shards, tmp_path, SETTINGS, deadline=time.monotonic())
    for ours, theirs in zip(run_folders(tmp_path), run_folders(packed_runs[0]), strict=True):
        assert [int(r["epoch"]) for r in log_rows(ours)] == list(range(4))
        for a, b in zip(weights(ours / "model.keras"), weights(theirs / "model.keras")):
            assert np.array_equal(a, b)
    assert [m["test_auc"] for m in metrics] == [m["test_auc"] for m in packed_runs[1]]


def test_a_seed_added_to_a_finished_pack_trains_as_a_pack_of_its_own(sample_shards,
                                                                     packed_runs, tmp_path):
    """Seeds [1] trained as a pack, then seeds [1, 2] (the workflow's pack of the network
    grows): the seed-1 runs are not trained again (their logs, weights and AUCs as they
    were), the seed-2 runs train as a pack of their own, each equal to its run trained
    alone. (Before, the job stopped: "not all ... at one epoch".)"""
    import shutil

    shutil.copytree(packed_runs[0], tmp_path / "grown")
    before = {f.name: log_rows(f) for f in run_folders(tmp_path / "grown")}
    metrics = train_pack_here(sample_shards, tmp_path / "grown", SETTINGS, seeds=(1, 2))
    folders = run_folders(tmp_path / "grown", (1, 2))
    first = [m for m, f in zip(metrics, folders) if f.name.endswith("seed1")]
    assert [m["test_auc"] for m in first] == [m["test_auc"] for m in packed_runs[1]]
    for folder in run_folders(tmp_path / "grown"):
        assert log_rows(folder) == before[folder.name]
        for a, b in zip(weights(folder / "model.keras"),
                        weights(packed_runs[0] / folder.name / "model.keras")):
            assert np.array_equal(a, b)
    seed2 = [f.name for f in folders if f.name.endswith("seed2")]
    for folder, ours, feature_set in zip(folders, metrics, [f for f in FEATURE_SETS
                                                            for _ in (1, 2)]):
        if folder.name.endswith("seed2"):
            assert ours["pack"]["runs"] == seed2
            alone = train_alone(sample_shards, tmp_path / "alone" / folder.name, feature_set,
                                2, SETTINGS)
            assert_same_run(folder, tmp_path / "alone" / folder.name, ours, alone)


def test_runs_at_different_epochs_continue_as_packs(sample_shards, packed_runs, tmp_path):
    """Runs saved at different epochs (low trained alone for 2 epochs, high and complete
    for all 4): the job continues low alone to 4 epochs, equal to the pack's low run, and
    evaluates high and complete again without training them (their logs and weights kept
    bit for bit)."""
    runs = run_folders(tmp_path)
    train_alone(sample_shards, runs[0], "low", 1, SETTINGS | {"max_epochs": 2})
    for folder, feature_set in zip(runs[1:], FEATURE_SETS[1:]):
        train_alone(sample_shards, folder, feature_set, 1, SETTINGS)
    saved = {f.name: (log_rows(f), weights(f / "model.keras")) for f in runs[1:]}
    metrics = train_pack_here(sample_shards, tmp_path, SETTINGS)
    reference = run_folders(packed_runs[0])
    assert_same_run(runs[0], reference[0], metrics[0], packed_runs[1][0])
    assert metrics[0]["pack"]["runs"] == [runs[0].name]
    for folder in runs[1:]:
        rows, trained = saved[folder.name]
        assert log_rows(folder) == rows
        for a, b in zip(weights(folder / "model.keras"), trained, strict=True):
            assert np.array_equal(a, b)


def test_a_pack_that_starts_afresh_sets_the_old_states_aside(sample_shards, packed_runs,
                                                            tmp_path):
    """Another learning rate: every run of the pack starts afresh, and each run's trained
    state is moved to state.superseded-<time>-learning_rate/ (never deleted), the terminal
    told so, as an unpacked run does."""
    import shutil

    shutil.copytree(packed_runs[0], tmp_path / "runs")
    lines = []
    train_pack_here(sample_shards, tmp_path / "runs", SETTINGS | {"learning_rate": 0.01},
                    notify=lines.append)
    for folder in run_folders(tmp_path / "runs"):
        kept = list(folder.glob("state.superseded-*-learning_rate"))
        assert len(kept) == 1, list(folder.iterdir())
        for a, b in zip(weights(kept[0] / "model.keras"),
                        weights(packed_runs[0] / folder.name / "state" / "model.keras")):
            assert np.array_equal(a, b)
        assert any(line.startswith(f"{folder.name}: starting this run afresh") and
                   str(kept[0]) in line for line in lines), lines


@pytest.mark.slow
def test_smoke_preset_packed_matches_unpacked(local_smoke_run, tmp_path):
    """The smoke preset with compute.pack: by_network (packs of low/high/complete for seed
    1) gives the unpacked smoke run's AUC table within 1e-3 per cell."""
    import pandas as pd
    from conftest import make_workflow_copy, run_snakemake

    site = local_smoke_run.parent / "install" / "site"
    make_workflow_copy(tmp_path)
    run_snakemake(tmp_path, "--cores", "2", "--config", "preset=smoke",
                  'compute={"pack": "by_network"}', pythonpath=site)
    runs = tmp_path / "results/smoke/HIGGS/runs"
    names = {json.dumps(json.loads((d / "metrics.json").read_text()).get("pack", {}).get("runs"))
             for d in runs.iterdir() if not d.name.startswith("bdt")}
    assert len(names) == 2  # one pack per network, of its 3 runs
    packed = pd.read_csv(tmp_path / "results/smoke/paper_figures/auc_table.csv")
    unpacked = pd.read_csv(local_smoke_run / "results/smoke/paper_figures/auc_table.csv")
    assert list(packed.columns) == list(unpacked.columns) and len(packed) == len(unpacked)
    numeric = packed.select_dtypes("number").columns
    assert (packed[numeric] - unpacked[numeric]).abs().max().max() < 1e-3


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    train_pack_here(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
