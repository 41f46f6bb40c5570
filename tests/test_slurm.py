"""The SLURM profile on a real single-node SLURM (slurmctld + slurmd + munge on this machine).

Needs Debian's slurm-wlm and munge and root (CI installs them: .ci/run). Skipped, with the
reason, where they are missing.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import REPO, make_workflow_copy, run_snakemake

PROFILE = REPO / "tests" / "slurm" / "profile"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm():
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        pytest.skip("SLURM is not installed (apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        pytest.skip("starting slurmctld/slurmd needs root")
    proc = subprocess.run(["bash", str(REPO / "tests" / "slurm" / "start_slurm.sh")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def slurm_jobs():
    """{job id: (comment, state)} of the jobs the controller remembers."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True,
                         text=True).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = (fields.get("Comment", ""), fields.get("JobState", ""))
    return jobs


def test_scancelled_training_resumes_from_last_epoch(slurm, tmp_path):
    folder = make_workflow_copy(tmp_path)
    (folder / "long.yaml").write_text(
        "preset: smoke\nmodels: {HIGGS: [deep]}\nfeature_sets: [complete]\n"
        "bdt: {enabled: false}\n"
        "training: {max_epochs: 60, momentum_saturation_epochs: 2, patience: 1000}\n")
    cmd = [sys.executable, "-m", "snakemake", "--profile", str(PROFILE),
           "--configfile", "long.yaml"]
    runner = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    run = folder / "results" / "smoke" / "HIGGS" / "runs" / "deep-complete-seed1"
    log = run / "progress" / "log.csv"  # the live log (log.csv is written at the end)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) > 5:
            break
        time.sleep(0.05)
    train_jobs = [job for job, (comment, state) in slurm_jobs().items()
                  if comment == "rule_train_wildcards_HIGGS_deep_complete_1"
                  and state == "RUNNING"]
    assert len(train_jobs) == 1
    subprocess.run(["scancel", train_jobs[0]], check=True)
    runner.communicate(timeout=300)
    assert runner.returncode != 0
    epochs_before = len(log.read_text().splitlines()) - 1
    assert 4 <= epochs_before < 60
    run_snakemake(folder, "--profile", str(PROFILE), "--configfile", "long.yaml")
    rule_log = (folder / "results" / "smoke" / "logs" / "train" / "HIGGS" /
                "deep-complete-seed1.log").read_text()
    assert re.search(r"resuming after epoch (\d+)", rule_log)
    resumed_at = int(re.search(r"resuming after epoch (\d+)", rule_log).group(1))
    assert resumed_at >= 4
    epochs = pd.read_csv(run / "log.csv")["epoch"].tolist()
    assert epochs == list(range(60))  # every epoch exactly once


CPU_PROFILE = REPO / "profiles" / "slurm-cpu"
# the real CPU profile, with what this single node lacks: accounting, sacct, and patience
SINGLE_NODE = ["--slurm-no-account", "--slurm-status-command", "squeue",
               "--slurm-init-seconds-before-status-checks", "1",
               "--seconds-between-status-checks", "2", "--latency-wait", "5"]
SPANNING = ("preset: smoke\nmodels: {HIGGS: [shallow]}\nfeature_sets: [high]\n"
            "bdt: {enabled: false}\n"
            "training: {max_epochs: 4, momentum_saturation_epochs: 2, patience: 1000}\n")
SPANNING_RUN = "results/smoke/HIGGS/runs/shallow-high-seed1"


def model_weights(path):
    import keras

    import reproduce.train.keras_objects  # noqa: F401  (registers the package's objects)

    return keras.models.load_model(path).get_weights()


def test_training_spans_jobs_under_the_cpu_profile(slurm, tmp_path):
    """profiles/slurm-cpu submits trainings without a GPU gres; a training longer than
    compute.max_job_minutes stops after the last epoch that fits, is resubmitted, resumes,
    and ends with the weights of an uninterrupted local run, bit for bit."""
    import numpy as np

    (tmp_path / "local").mkdir()
    local = make_workflow_copy(tmp_path / "local")
    (local / "long.yaml").write_text(SPANNING)
    run_snakemake(local, "-c2", f"{SPANNING_RUN}/metrics.json", "--configfile", "long.yaml")

    (tmp_path / "slurm").mkdir()
    folder = make_workflow_copy(tmp_path / "slurm")
    # 3 s per job, less than a training's start-up: every job trains its one epoch (a job
    # always trains one) and stops, so the 4 epochs take 4 jobs on any machine
    (folder / "long.yaml").write_text(SPANNING + "compute: {max_job_minutes: 0.05}\n")
    proc = run_snakemake(folder, f"{SPANNING_RUN}/metrics.json", "--profile",
                         str(CPU_PROFILE), *SINGLE_NODE, "--configfile", "long.yaml")
    output = proc.stdout + proc.stderr
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*rule_(\w+?)/", output)
    train_ids = [job for job, rule in submitted if rule == "train"]
    assert len(train_ids) == 4, output[-3000:]
    details = subprocess.run(["scontrol", "show", "job", "-o", *[",".join(train_ids)]],
                             capture_output=True, text=True).stdout
    assert "gres/gpu" not in details and "gpu:" not in details.lower()
    states = [slurm_jobs()[job][1] for job in train_ids]
    assert states[-1] == "COMPLETED" and "FAILED" in states[:-1], states
    # each job's terminal line is in its SLURM log; the rule log is the last job's
    job_logs = "".join(p.read_text()
                       for p in (folder / ".snakemake").rglob("slurm_logs/**/*.log"))
    assert job_logs.count("continuing in the next job") == 3, job_logs[-3000:]
    rule_log = (folder / "results/smoke/logs/train/HIGGS/shallow-high-seed1.log").read_text()
    assert "resuming after epoch 3" in rule_log, rule_log[-3000:]
    epochs = pd.read_csv(folder / SPANNING_RUN / "log.csv")["epoch"].tolist()
    assert epochs == list(range(4))  # every epoch exactly once
    ours = model_weights(folder / SPANNING_RUN / "model.keras")
    theirs = model_weights(local / SPANNING_RUN / "model.keras")
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


# last in the file: the local smoke run it compares with is made meanwhile by another
# worker (tests/conftest.py, local_smoke_run)
def test_smoke_through_slurm_equals_local_run(slurm, tmp_path, local_smoke_run):
    folder = make_workflow_copy(tmp_path)
    proc = run_snakemake(folder, "--profile", str(PROFILE), "--config", "preset=smoke")
    output = proc.stdout + proc.stderr
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*rule_(\w+?)/", output)
    train_ids = [job for job, rule in submitted if rule == "train"]
    assert len(train_ids) == 6, output[-3000:]
    jobs = slurm_jobs()
    for job in train_ids:
        comment, state = jobs[job]
        assert comment.startswith("rule_train_wildcards_HIGGS") and state == "COMPLETED"
    # download and report are localrules: never submitted
    assert not {rule for _, rule in submitted} & {"download", "report"}
    ours = pd.read_csv(folder / "results" / "smoke" / "paper_figures" / "auc_table.csv")
    local = pd.read_csv(local_smoke_run / "results" / "smoke" / "paper_figures" /
                        "auc_table.csv")
    pd.testing.assert_frame_equal(ours, local)
