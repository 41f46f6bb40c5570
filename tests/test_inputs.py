"""Inputs the package reads, refused with the file, line or config key named (issue 23,
items 2, 5, 6, 7, 8, 9, 10 and 12): each test injects the real fault (a real file-size limit,
a real misconfigured HTTP server, a real corrupt file) and checks what the package does."""

import csv
import gzip
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from conftest import REPO, SAMPLE, SAMPLE_SHA256, run_snakemake
from reproduce.config import ConfigError, load_config

WORKFLOW = REPO / "workflow"


def base():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def load(**top):
    """``config.yaml`` with the top-level keys of ``top`` replaced (as a --configfile would)."""
    return load_config(workflow_dir=WORKFLOW, config=base() | top, base=base())


def training(**keys):
    return load(training=base().get("training", {}) | keys)


# ------------------------------------------------------------------ item 2: disk full


def test_disk_full_during_the_conversion_leaves_no_shard(tmp_path):
    """A real write failure: the converting process may write files of at most 200 kB
    (RLIMIT_FSIZE, SIGXFSZ ignored, so write() fails with EFBIG as on a full disk); its one
    training shard (about 1 MB) cannot be written. Nothing may remain."""
    out = tmp_path / "out"
    code = (
        "import resource, signal\n"
        "from reproduce.datasets import get_dataset\n"
        "from reproduce.data.tfrecords import write_tfrecord_shards\n"
        "spec = get_dataset('HIGGS', {'source': 'sample'})\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))\n"
        "try:\n"
        f"    write_tfrecord_shards({str(SAMPLE)!r}, {str(out)!r}, spec,"
        " rows_per_shard=100_000, rows_per_record=256)\n"
        "except Exception as exc:\n"
        "    print('FAILED:', type(exc).__name__, exc)\n"
        "else:\n"
        "    print('CONVERTED')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3",
                               "PATH": "/usr/bin:/bin"}, timeout=300)
    assert "FAILED:" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    assert not list(out.glob("*.tfrecord")), sorted(p.name for p in out.iterdir())
    assert not (out / "manifest.json").exists()


class FullDiskWriter:
    """A shard's file on a disk that fills after ``free`` bytes (over all its files): a
    real file, whose ``write`` then raises ENOSPC, and whose ``close`` raises it again (the
    data it holds cannot be flushed), as a buffered writer on a full disk does."""

    free = 0

    def __init__(self, path):
        self._file, self._pending = open(path, "wb"), False

    def write(self, record: bytes):
        import errno

        if len(record) > FullDiskWriter.free:
            self._pending = True
            raise OSError(errno.ENOSPC, "No space left on device")
        FullDiskWriter.free -= len(record)
        self._file.write(record)

    def close(self):
        import errno

        if self._pending:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._file.close()


def test_disk_full_with_a_writer_whose_close_fails_again(tmp_path, monkeypatch):
    """The cleanup's own close() raises: the shards written so far still go."""
    from reproduce.data import tfrecords
    from reproduce.data.tfrecords import write_tfrecord_shards
    from reproduce.datasets import get_dataset

    monkeypatch.setattr(tfrecords, "open_shard", FullDiskWriter)
    monkeypatch.setattr(FullDiskWriter, "free", 400_000)  # the 4th of 11 shards fills it
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        write_tfrecord_shards(SAMPLE, out, get_dataset("HIGGS", {"source": "sample"}),
                              rows_per_shard=1000, rows_per_record=256)
    assert not list(out.glob("*.tfrecord")), sorted(p.name for p in out.iterdir())
    assert not (out / "manifest.json").exists()


# ------------------------------------------------------------------ item 5: NaN scores


@pytest.mark.parametrize("scores", [[np.nan] * 4, [0.9, np.nan, 0.3, 0.1],
                                    [np.inf, 0.4, 0.6, 0.1]])
def test_non_finite_scores_are_refused(scores):
    from reproduce.metrics import roc_auc

    with pytest.raises(ValueError, match="not finite"):
        roc_auc([1, 1, 0, 0], scores)


def test_finite_scores_keep_scikit_learns_auc():
    from reproduce.metrics import roc_auc

    labels, scores = [1, 0, 1, 0, 1], [0.8, 0.3, 0.3, 0.9, 0.5]
    assert roc_auc(labels, scores) == roc_auc_score(labels, scores)


def test_evaluation_of_nan_scores_stops_naming_the_run(tmp_path):
    from reproduce.evaluate.evaluation import evaluate_scores

    scores = tmp_path / "test_scores.npz"
    np.savez(scores, labels=np.array([1, 0, 1, 0]), scores=np.full(4, np.nan, np.float32))
    run = {"dataset": "HIGGS", "model": "deep", "feature_set": "low", "seed": 3}
    with pytest.raises(ValueError, match=r"HIGGS deep-low-seed3.*test_scores.npz.*4 of 4 "
                                         r"test scores are not finite"):
        evaluate_scores(scores, tmp_path / "out.json", run)
    assert not (tmp_path / "out.json").exists()


# ------------------------------------------------------------------ items 6, 7, 8: config


@pytest.mark.parametrize("key", ["results", "figures"])
@pytest.mark.parametrize("value", ["", "   ", "/"])
def test_empty_or_root_output_folders_are_refused(key, value):
    with pytest.raises(ConfigError, match=f"config key {key}:.*folder"):
        load(**{key: value})


def test_output_folders_may_be_relative_or_absolute(tmp_path):
    config = load(results="out/results", figures=str(tmp_path / "figures"))
    assert config["results"] == "out/results"
    assert config["figures"] == str(tmp_path / "figures")


def test_empty_output_folder_in_a_config_file_fails_the_dry_run(workflow_copy):
    (workflow_copy / "empty.yaml").write_text('results: ""\n')
    proc = run_snakemake(workflow_copy, "-n", "--configfile", "empty.yaml", check=False)
    assert proc.returncode != 0
    assert "config key results" in proc.stdout + proc.stderr


def test_learning_rate_floor_above_the_rate_is_refused():
    with pytest.raises(ConfigError, match=r"training.learning_rate_floor: 0.5 is above "
                                          r"training.learning_rate \(0.05\)"):
        training(learning_rate=0.05, learning_rate_floor=0.5)
    assert training(learning_rate=0.05, learning_rate_floor=0.05)["training"][
        "learning_rate_floor"] == 0.05


def test_typo_in_the_monitored_name_is_refused():
    with pytest.raises(ConfigError, match=r"training.stop_on_threshold.monitor: 'val_acu' is "
                                          r"not logged.*val_auc"):
        training(stop_on_threshold={"monitor": "val_acu", "threshold": 0.8})


def test_train_monitor_names_only_with_a_train_monitor():
    stop = {"monitor": "train_monitor_auc", "threshold": 0.8}
    assert training(stop_on_threshold=stop)["training"]["stop_on_threshold"] == stop
    with pytest.raises(ConfigError, match="train_monitor_rows is 0"):
        training(stop_on_threshold=stop, train_monitor_rows=0)


def test_monitorable_names_are_the_columns_of_a_real_log(tmp_path, sample_shards):
    """The names the config accepts are those a real run logs (one epoch, its log.csv)."""
    from reproduce.config import monitorable_names

    settings = {"max_epochs": 1, "model": "shallow", "train_monitor_rows": 200,
                "steps_per_execution": 30, "threads": 2}
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "train_once.py"),
                           str(sample_shards), str(tmp_path), json.dumps(settings)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "log.csv") as f:
        header = next(csv.reader(f))
    assert set(monitorable_names(200)) == set(header) - {"epoch"}
    assert set(monitorable_names(0)) == set(header) - {"epoch", "train_monitor_loss",
                                                       "train_monitor_auc"}


# ------------------------------------------------------------------ item 9: Content-Encoding


def test_gzip_content_encoding_is_stored_as_sent(http_server, tmp_path):
    """A server that labels the .csv.gz itself ``Content-Encoding: gzip`` (as misconfigured
    servers do): the file on disk is the server's bytes, not the decoded CSV."""
    from reproduce.data.download import fetch_dataset_file

    data = SAMPLE.read_bytes()
    http_server.files["/HIGGS.csv.gz"] = data
    http_server.behaviour["/HIGGS.csv.gz"] = ["gzip-encoding"]
    dest = tmp_path / "HIGGS.csv.gz"
    fetch_dataset_file([http_server.url + "/HIGGS.csv.gz"], dest, size=len(data),
                       sha256=SAMPLE_SHA256, retries=0)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == SAMPLE_SHA256
    assert http_server.accept_encodings == ["identity"]


def test_gzip_content_encoding_cut_resumes_on_the_raw_bytes(http_server, tmp_path):
    from reproduce.data.download import fetch_dataset_file

    data = SAMPLE.read_bytes()
    http_server.files["/SUSY.csv.gz"] = data
    http_server.behaviour["/SUSY.csv.gz"] = ["gzip-encoding cut:500000", "gzip-encoding"]
    dest = tmp_path / "SUSY.csv.gz"
    fetch_dataset_file([http_server.url + "/SUSY.csv.gz"], dest,
                       lock_file=tmp_path / "SUSY.csv.gz.lock.json", backoff=0.01)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == SAMPLE_SHA256
    assert [r for _, r in http_server.requests] == [None, "bytes=500000-"]


# ------------------------------------------------------------------ item 10: corrupt files


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"size": 5}',
                                  '{"sha256": 42}'])
def test_corrupt_lock_file_names_the_file_in_download_and_conversion(tmp_path, text):
    from reproduce.data.download import fetch_dataset_file
    from reproduce.data.verify import DownloadError, verify_file_in_place

    dest = tmp_path / "SUSY.csv.gz"
    lock = tmp_path / "SUSY.csv.gz.lock.json"
    lock.write_text(text)
    with pytest.raises(DownloadError, match=r"SUSY.csv.gz.lock.json.*delete it"):
        fetch_dataset_file([str(SAMPLE)], dest, lock_file=lock)
    dest.write_bytes(SAMPLE.read_bytes())
    with pytest.raises(DownloadError, match=r"SUSY.csv.gz.lock.json.*delete it"):
        verify_file_in_place(dest, size=None, sha256=None)


def reported_run(tmp_path, metrics_text):
    from reproduce.report.runs import ReportedRun

    metrics, evaluation = tmp_path / "metrics.json", tmp_path / "deep-low-seed1.json"
    metrics.write_text(metrics_text)
    evaluation.write_text(json.dumps({"dataset": "HIGGS", "model": "deep",
                                      "feature_set": "low", "seed": 1, "auc": 0.7}))
    return ReportedRun.from_dict({"dataset": "HIGGS", "model": "deep", "seed": 1,
                                  "feature_set": "low", "metrics": str(metrics),
                                  "evaluation": str(evaluation), "log": ""})


@pytest.mark.parametrize("text", ["{\"test_auc\": 0.7", "[]"])
def test_malformed_metrics_json_names_the_file_in_the_report(tmp_path, text):
    from reproduce.report.runs import load_runs

    run = reported_run(tmp_path, text)
    with pytest.raises(ValueError, match=rf"{tmp_path}/metrics.json: .*delete it"):
        load_runs([run])


def test_malformed_evaluation_names_the_file_in_the_report(tmp_path):
    from reproduce.report.runs import load_evaluations

    bad = tmp_path / "deep-low-seed1.json"
    bad.write_text('{"auc": ')
    with pytest.raises(ValueError, match=rf"{bad}: .*delete it"):
        load_evaluations([bad])


@pytest.mark.parametrize("name, content", [
    ("metrics", {"epochs_trained": "five", "stopping": "authors", "test_auc": "0.7",
                 "settings": [1]}),
    ("metrics", {"epochs_trained": None, "stopping": {"stopped_by": 3}}),
    ("state", {"epochs_completed": "3", "callbacks": ["stopping"]}),
    ("state", {"epochs_completed": 2, "callbacks": {"stopping": {"summary": 7,
                                                                 "rule": []}}}),
])
def test_wrongly_typed_json_gives_a_row_that_names_the_file(tmp_path, name, content):
    from reproduce.status import status_command

    run = tmp_path / "HIGGS" / "runs" / "deep-low-seed1"
    (run / "progress").mkdir(parents=True)
    (run / "progress" / "log.csv").write_text(
        "epoch,loss,val_loss,wall_time\n0,0.7,0.69,10\n1,0.6,0.65,20\n")
    path = run / ("metrics.json" if name == "metrics" else "state/state.json")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(content))
    text = status_command(tmp_path)
    row = next(line for line in text.splitlines() if line.startswith("HIGGS/deep-low-seed1"))
    assert f"{path.parent.name}/{path.name}" in row and "ignored" in row


def test_report_pdfs_are_declared_outputs(workflow_copy):
    """Declared, so a failed report job has them removed with the PNGs."""
    # --quiet host: the jobs' blocks, which the local profile's quiet default hides
    proc = run_snakemake(workflow_copy, "-n", "--forceall", "--quiet", "host",
                         "--config", "preset=smoke")
    out = proc.stdout + proc.stderr
    for name in ("learning_curves", "schedules", "roc_curves", "roc_by_feature_set"):
        assert f"paper_figures/{name}.pdf" in out, name


# ------------------------------------------------------------------ item 12: blank lines


@pytest.mark.parametrize("where", [4, 20])
def test_blank_line_is_refused_by_its_own_line_number(tmp_path, where):
    """Blank lines are not accepted: the error names the blank line (1-based, of the file),
    also when a bad value follows it."""
    from reproduce.data.tfrecords import InputFormatError, write_tfrecord_shards
    from reproduce.datasets import get_dataset

    with gzip.open(SAMPLE, "rt") as f:
        lines = [next(f).rstrip("\n") for _ in range(20)]
    fields = lines[9].split(",")
    fields[3] = "abc"
    lines[9] = ",".join(fields)  # line 10 is bad (after the blank one when where == 4)
    lines.insert(where, "")  # line where + 1 is blank
    path = tmp_path / "HIGGS.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    spec = get_dataset("HIGGS", {"rows": 20, "splits": {"train": [0, 10], "valid": [10, 15],
                                                        "test": [15, 20]}})
    expected = (rf"line {where + 1}: blank line \(blank lines are not accepted"
                if where == 4 else r"line 10, column 4: expected a number, found 'abc'")
    with pytest.raises(InputFormatError, match=expected):
        write_tfrecord_shards(path, tmp_path / "out", spec)
    assert not list((tmp_path / "out").glob("*.tfrecord"))


def test_blank_line_without_other_fault_is_refused(tmp_path):
    from reproduce.data.tfrecords import InputFormatError, write_tfrecord_shards
    from reproduce.datasets import get_dataset

    with gzip.open(SAMPLE, "rt") as f:
        lines = [next(f).rstrip("\n") for _ in range(20)]
    lines.insert(12, "")
    path = tmp_path / "HIGGS.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    spec = get_dataset("HIGGS", {"rows": 20, "splits": {"train": [0, 10], "valid": [10, 15],
                                                        "test": [15, 20]}})
    with pytest.raises(InputFormatError, match=r"HIGGS.csv.gz, line 13: blank line"):
        write_tfrecord_shards(path, tmp_path / "out", spec)


def test_non_finite_test_scores_stop_the_run_naming_its_folder(tmp_path):
    """A diverged network's NaN scores stop the evaluation with the run's folder named."""
    import numpy as np

    from reproduce.train.training import _check_finite

    run = tmp_path / "HIGGS" / "runs" / "deep-complete-seed1"
    finite = {"final": np.array([0.1, 0.9])}
    _check_finite(finite, run)  # no error
    with pytest.raises(ValueError, match=r"deep-complete-seed1.*1 NaN.*final weights"):
        _check_finite({"final": np.array([0.1, np.nan])}, run)
