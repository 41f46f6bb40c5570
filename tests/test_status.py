"""`python -m reproduce status`: rows and ETAs from run files, checked against hand-computed
values, bad and half-written files, and a live training polled while it runs."""

import contextlib
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO
from reproduce.status import NoResults, status_command

HEADER = "epoch,auc,loss,val_auc,val_loss,learning_rate,momentum,wall_time\n"


def write_run(results: Path, name: str, val_losses, seconds_per_epoch: float, *,
              state=None, metrics=None, tail: str = "") -> Path:
    """A run folder with a CSV log of ``len(val_losses)`` epochs, ``seconds_per_epoch``
    apart, and optionally state.json and metrics.json."""
    run = results / "HIGGS" / "runs" / name
    (run / "progress").mkdir(parents=True)
    lines = [HEADER] + [
        f"{e},0.7,0.6,0.71,{v},0.04{e},0.9{e},{seconds_per_epoch * (e + 1)}\n"
        for e, v in enumerate(val_losses)]
    (run / "progress" / "log.csv").write_text("".join(lines) + tail)
    if state is not None:
        (run / "state").mkdir()
        (run / "state" / "state.json").write_text(
            state if isinstance(state, str) else json.dumps(state))
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def row_of(text: str, run: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"HIGGS/{run} "))


def status(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "reproduce", "status", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def small_config(tmp_path, seeds="[1, 2]", extra=""):
    from reproduce.__main__ import active_config

    path = tmp_path / "plan.yaml"
    path.write_text(f"models: {{HIGGS: [deep, shallow]}}\nfeature_sets: [low]\nseeds: {seeds}\n"
                    f"bdt: {{enabled: false}}\ntraining: {{max_epochs: 20}}\n{extra}")
    with contextlib.chdir(REPO):  # the workflow folder: config.yaml, schema, presets
        return active_config([str(path)], [])


def test_running_row_and_eta_by_hand(tmp_path):
    # 5 epochs, 100 s apart: 36 epochs/hour; 1000 - 5 epochs left: 99,500 s = 27.6 h.
    # The lowest validation loss is the 3rd epoch's. A line being written is not an epoch.
    write_run(tmp_path, "deep-low-seed1", [0.60, 0.55, 0.50, 0.52, 0.51], 100.0,
              state={"epochs_completed": 5, "wall_time": 500.0, "callbacks": {}},
              tail="5,0.72,0.5")
    text = status_command(tmp_path, {"training": {"max_epochs": 1000}, "datasets": [],
                                     "models": {}, "feature_sets": [], "seeds": [1],
                                     "bdt": {"enabled": False}, "dataset_overrides": {}})
    cells = row_of(text, "deep-low-seed1").split()
    assert cells[1:8] == ["5/1000", "0.044", "0.9400", "0.51000", "0.7100", "3", "max_epochs"]
    assert cells[8] == "1000"  # "what will stop it": max_epochs 1000
    assert cells[9] == "36.0" and " ".join(cells[10:12]) == "<= 27.6"


def test_new_state_keys_stopping_summary_and_finished(tmp_path):
    # callbacks.stopping from the newer package: its summary is shown; under "authors" the
    # run ends exactly at the cap: 20 - 4 epochs at 30 s = 8.0 min, no "<=".
    write_run(tmp_path, "deep-low-seed1", [0.6, 0.5, 0.4, 0.3], 30.0, state={
        "epochs_completed": 4, "wall_time": 120.0, "finished": False, "fingerprint": "ab",
        "callbacks": {"stopping": {"rule": "authors", "summary": "the cap: 20 epochs"}}})
    write_run(tmp_path, "shallow-low-seed1", [0.7, 0.6], 5.0,
              state={"epochs_completed": 2, "wall_time": 10.0, "finished": True, "callbacks": {}},
              metrics={"epochs_trained": 2, "test_auc": 0.8123, "settings": {"max_epochs": 20},
                       "stopping": {"rule": "paper_text", "stopped_by": "paper_text",
                                    "epochs": 2}})
    # training over (state.training_ended), test scoring under way: no metrics.json yet
    write_run(tmp_path, "deep-high-seed1", [0.6, 0.5], 30.0, state={
        "epochs_completed": 2, "wall_time": 60.0, "training_ended": {"by": "max_epochs",
                                                                    "epochs": 2},
        "callbacks": {"stopping": {"rule": "authors", "summary": "authors: epoch 2 of 2"}}})
    (tmp_path / "HIGGS" / "evaluation").mkdir()
    (tmp_path / "HIGGS" / "evaluation" / "shallow-low-seed1.json").write_text("{}")
    text = status_command(tmp_path)
    assert "training done; scoring the test split" in row_of(text, "deep-high-seed1")
    deep = row_of(text, "deep-low-seed1")
    assert "the cap: 20 epochs" in deep and deep.rstrip().endswith("8.0 min")
    assert "4/20" in deep  # the cap from the finished run's metrics.json
    shallow = row_of(text, "shallow-low-seed1")
    assert "done: paper_text, test AUC 0.8123" in shallow and "2/20" in shallow
    assert "Runs not started yet: unknown" in text


def test_workflow_eta_counts_runs_not_started(tmp_path):
    # Config: deep and shallow on low, seeds 1 and 2, 20 epochs. deep seed 1 runs at 100 s
    # per epoch with 5 done (1,500 s left); shallow seed 1 finished at 10 s per epoch. Not
    # started: deep seed 2 (20 x 100 s) and shallow seed 2 (20 x 10 s). One run at a time,
    # as now: 1,500 + 2,000 + 200 = 3,700 s = 61.7 min.
    config = small_config(tmp_path)
    results = tmp_path / "results"
    write_run(results, "deep-low-seed1", [0.6, 0.5, 0.4, 0.3, 0.2], 100.0)
    write_run(results, "shallow-low-seed1", [0.7, 0.6, 0.5], 10.0,
              metrics={"epochs_trained": 3, "test_auc": 0.7, "settings": {"max_epochs": 20}})
    text = status_command(results, config)
    assert "Runs not started yet: 2 of 4 planned." in text
    assert "Workflow ETA: at most 61.7 min with 1 run(s) at a time" in text
    # A model with no run yet: the ETA says it is unknown, and why.
    config = small_config(tmp_path, extra="")
    config["models"]["HIGGS"] = ["deep", "shallow", "deep_dropout"]
    text = status_command(results, config)
    assert "Workflow ETA: unknown until a run of deep_dropout has logged an epoch" in text


def test_half_written_and_missing_files(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    assert "No run has started yet." in status_command(results)
    # a job just started: the folder Snakemake made, nothing in it
    (results / "HIGGS" / "runs" / "deep-high-seed1").mkdir(parents=True)
    # a log with half a header, and one with a half-written state.json
    write_run(results, "shallow-high-seed1", [], 1.0)
    (results / "HIGGS" / "runs" / "shallow-high-seed1" / "progress" / "log.csv").write_text(
        "epoch,auc,lo")
    write_run(results, "deep-low-seed1", [0.6, 0.5], 50.0, state='{"epochs_completed": 2, "wa')
    # the state caught between its renames: only state.old holds it
    old = write_run(results, "deep-complete-seed1", [0.6, 0.5, 0.4], 50.0)
    (old / "state.old").mkdir()
    (old / "state.old" / "state.json").write_text(json.dumps(
        {"epochs_completed": 3, "wall_time": 150.0, "callbacks": {}}))
    text = status_command(results)
    assert "starting (no epoch logged yet)" in row_of(text, "deep-high-seed1")
    assert "starting (no epoch logged yet)" in row_of(text, "shallow-high-seed1")
    half = row_of(text, "deep-low-seed1")
    assert half.split()[1] == "2" and "state/state.json unreadable" in half
    assert row_of(text, "deep-complete-seed1").split()[1] == "3"


def test_malformed_log_lines_are_skipped_and_counted(tmp_path):
    # 4 epochs logged, of which the 2nd and the 4th lost a field: 2 complete epochs are
    # counted, the last complete one (the 3rd line, val_loss 0.45) is shown, and the note
    # counts the 2 lines left out; an empty field is no value ("-"), not a skipped line.
    run = write_run(tmp_path, "deep-low-seed1", [], 10.0)
    (run / "progress" / "log.csv").write_text(
        HEADER
        + "0,0.7,0.6,0.71,0.5,0.04,0.9,10\n"
        + "1,0.7,0.6,0.71,0.48,0.04,20\n"
        + "2,0.7,0.6,,0.45,0.04,0.9,30\n"
        + "3,0.7,0.6,0.71,0.44,0.04\n")
    row = row_of(status_command(tmp_path), "deep-low-seed1")
    cells = row.split()
    assert cells[1] == "2" and cells[4] == "0.45000" and cells[5] == "-"
    assert row.endswith("[2 malformed log line(s) skipped]")
    # a log that is a folder cannot be read: a note, not an error
    other = write_run(tmp_path, "shallow-low-seed1", [], 10.0)
    (other / "progress" / "log.csv").unlink()
    (other / "progress" / "log.csv").mkdir()
    assert "log unreadable" in row_of(status_command(tmp_path), "shallow-low-seed1")


def test_command_line_bad_input(tmp_path):
    proc = status("--results", str(tmp_path / "nowhere"))
    assert proc.returncode == 1 and "no results folder" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = status("--config", "preset=nope")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "config key preset: no preset 'nope'" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  max_epoch: 5\n")
    proc = status("--configfile", str(bad))
    assert proc.returncode == 2 and "config key training: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_against_a_live_training(tmp_path, sample_shards):
    """A real training in a subprocess; status is polled while it writes its files."""
    run_dir = tmp_path / "results" / "HIGGS" / "runs" / "shallow-complete-seed1"
    settings = {"model": "shallow", "max_epochs": 15, "momentum_saturation_epochs": 2,
                "learning_rate_decay_factor": 1.0225, "patience": 100, "threads": 1}
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "train_once.py"),
                             str(sample_shards), str(run_dir), json.dumps(settings)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen_running = []
    deadline = time.monotonic() + 240
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                text = status_command(tmp_path / "results")
            except NoResults:  # train_run has not made its folder yet
                text = ""
            if "shallow-complete-seed1" in text:
                row = row_of(text, "shallow-complete-seed1").split()
                # Against the log read independently just after: the status never runs ahead.
                log = run_dir / "progress" / "log.csv"
                logged = list(csv.DictReader(open(log))) if log.exists() else []
                epochs = int(row[1]) if row[1].isdigit() else None
                if epochs and 0 < epochs < 15 and "done" not in row:
                    assert epochs <= len(logged)
                    assert row[4] == f"{float(logged[epochs - 1]['val_loss']):.5f}"
                    seen_running.append(epochs)
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.communicate()[0].decode()[-3000:]
    assert proc.returncode == 0, output
    assert seen_running, "status never caught the training between epochs 1 and 14"
    final = row_of(status_command(tmp_path / "results"), "shallow-complete-seed1")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"{metrics['epochs_trained']}/15" in final and "done" in final
    assert f"test AUC {metrics['test_auc']:.4f}" in final


def test_trained_not_evaluated_and_the_device(tmp_path):
    """A run with its metrics.json but no evaluation yet is trained, not in training; its
    row names the device it trained on."""
    device = {"kind": "cpu", "cpu_model": "Example CPU", "threads": 2, "backend": "tensorflow"}
    write_run(tmp_path, "shallow-low-seed1", [0.7, 0.6], 5.0,
              metrics={"epochs_trained": 2, "test_auc": 0.75, "device": device,
                       "stopping": {"stopped_by": "max_epochs"}})
    row = row_of(status_command(tmp_path), "shallow-low-seed1")
    assert "trained, not evaluated yet: max_epochs, test AUC 0.7500" in row
    assert "CPU Example CPU, 2 threads (tensorflow)" in row


def test_no_arguments_finds_the_presets_results(tmp_path):
    """``status`` with no argument, beside a finished results/demo/ and a started
    results/smoke/: a table for each, never "No run has started yet"."""
    write_run(tmp_path / "results" / "demo", "deep-low-seed1", [0.6, 0.5], 30.0,
              metrics={"epochs_trained": 2, "test_auc": 0.7, "stopping": {}})
    write_run(tmp_path / "results" / "smoke", "shallow-high-seed1", [0.6], 3.0)
    proc = status(cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "No run has started yet" not in proc.stdout
    assert "# results/demo/: 1 run folder(s), 1 finished" in proc.stdout
    assert "# results/smoke/: 1 run folder(s), 0 finished" in proc.stdout
    assert "HIGGS/deep-low-seed1" in proc.stdout and "HIGGS/shallow-high-seed1" in proc.stdout


def test_help_names_the_program(tmp_path):
    """``higgs-repro --help`` names itself; ``python -m reproduce --help`` names that."""
    proc = subprocess.run([sys.executable, "-m", "reproduce", "--help"], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.stdout.startswith("usage: python -m reproduce ")
    script = tmp_path / "higgs-repro"
    script.write_text("import sys\nfrom reproduce.__main__ import main\nsys.exit(main())\n")
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.stdout.startswith("usage: higgs-repro "), proc.stdout
