"""Faults met by the workflow as a whole (real ``snakemake`` processes on a copy of the
workflow): no network, two runs at once, a run killed with SIGKILL."""

import sys
import time
from pathlib import Path

from conftest import run_snakemake
from reproduce.datasets import HIGGS

LOCKED = "Directory cannot be locked"


def test_offline_download_rule_fails_fast_with_instructions(workflow_copy, no_proxy):
    """Issue 15, point 1: no mirror's host resolves. The rule fails within 30 s; the
    terminal (above Snakemake's own "Error in rule download" block, whose "message: None"
    line Snakemake 9 prints for every failed local job) and the log hold the reasons and
    the instructions, and the log no tracebacks."""
    (workflow_copy / "offline.yaml").write_text(
        "dataset_overrides:\n  HIGGS:\n    urls:\n"
        "      - https://archive.ics.uci.edu.invalid/ml/HIGGS.csv.gz\n"
        "      - https://mirror-two.invalid/static/public/280/higgs.zip\n")
    start = time.monotonic()
    proc = run_snakemake(workflow_copy, "resources/HIGGS/HIGGS.csv.gz",
                                       "--cores", "1", "--configfile", "offline.yaml",
                                       check=False)
    assert time.monotonic() - start < 30
    assert proc.returncode != 0
    log = (workflow_copy / "logs" / "download" / "HIGGS" / "HIGGS.csv.gz.log").read_text()
    for text in (proc.stderr, log):
        assert "host name 'archive.ics.uci.edu.invalid' does not resolve" in text
        assert f"size 2,816,407,858 bytes, sha256 {HIGGS.sha256}" in text
        assert "put it at resources/HIGGS/HIGGS.csv.gz" in text
        assert "dataset_overrides.HIGGS.urls" in text
    assert "Traceback" not in log
    assert not list((workflow_copy / "resources" / "HIGGS").glob("HIGGS.csv.gz*"))


def test_two_runs_at_once_and_a_sigkilled_run(workflow_copy, http_server,
                                              sample, spawn, sigkill_when):
    """A second ``snakemake`` on the same folder is refused while the first runs; the first,
    killed with SIGKILL mid-download, leaves a lock that ``--unlock`` clears (as docs/faults.md
    says); the rerun resumes the download where it stopped."""
    http_server.files["/higgs-sample.csv.gz"] = sample.data
    http_server.behaviour["/higgs-sample.csv.gz"] = ["stall:30"]  # holds the first run
    (workflow_copy / "served.yaml").write_text(
        f"preset: smoke\ndataset_overrides:\n  HIGGS:\n"
        f"    urls: [{http_server.url}/higgs-sample.csv.gz]\n")
    target = ["resources/HIGGS/higgs-sample.csv.gz", "--cores", "1",
              "--configfile", "served.yaml"]
    part = workflow_copy / "resources" / "HIGGS" / "higgs-sample.csv.gz.part"
    first = spawn([sys.executable, "-m", "snakemake", *target], cwd=workflow_copy)
    while not (part.exists() and part.stat().st_size >= 65536 * 3):
        assert first.poll() is None, first.stdout.read().decode()[-3000:]
        time.sleep(0.05)
    second = run_snakemake(workflow_copy, *target, check=False)
    assert second.returncode != 0 and LOCKED in second.stderr

    sigkill_when(first, lambda: True)
    kept = part.stat().st_size
    after_kill = run_snakemake(workflow_copy, *target, check=False)
    assert after_kill.returncode != 0 and "--unlock" in after_kill.stderr
    run_snakemake(workflow_copy, *target, "--unlock")
    run_snakemake(workflow_copy, *target)

    assert http_server.requests[-1] == ("/higgs-sample.csv.gz", f"bytes={kept}-")
    resources = workflow_copy / "resources" / "HIGGS"
    assert (resources / "higgs-sample.csv.gz").read_bytes() == sample.data
    assert not part.exists()


def test_a_failed_job_says_why_on_the_terminal(workflow_copy):
    """Snakemake's quiet terminal (profiles/default: no rule blocks) would show a failed job
    only as "CalledProcessError". A training whose saved state is corrupt writes, on the
    terminal, its error (naming the state folder and what to delete) and the log that holds
    the traceback."""
    run = Path("results/smoke/HIGGS/runs/shallow-low-seed1")  # as the workflow names it
    (workflow_copy / run / "state").mkdir(parents=True)
    (workflow_copy / run / "state" / "state.json").write_text("{")
    proc = run_snakemake(workflow_copy, str(run / "metrics.json"), "--cores", "1",
                         "--config", "preset=smoke", check=False)
    assert proc.returncode != 0
    log = Path("results/smoke/logs/train/HIGGS/shallow-low-seed1.log")
    assert (f"error: CorruptStateError: {run / 'state'}: the saved training state cannot be "
            "resumed: state.json is not valid JSON") in proc.stderr
    assert f"Delete the folder {run / 'state'}" in proc.stderr
    assert f"(the job's log, with the traceback: {log})" in proc.stderr
    assert "Traceback (most recent call last)" in (workflow_copy / log).read_text()
    assert "Traceback" not in proc.stderr
