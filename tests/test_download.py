import hashlib
import io
import json
import zipfile

import pytest

from reproduce.data.download import DownloadError, fetch_dataset_file

from conftest import SAMPLE, SAMPLE_SHA256

DATA = SAMPLE.read_bytes()


def test_streams_and_verifies(http_server, tmp_path):
    http_server.files["/HIGGS.csv.gz"] = DATA
    dest = tmp_path / "HIGGS.csv.gz"
    fetch_dataset_file([http_server.url + "/HIGGS.csv.gz"], dest, size=len(DATA),
                       sha256=SAMPLE_SHA256)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == SAMPLE_SHA256
    assert not (tmp_path / "HIGGS.csv.gz.part").exists()


def test_resumes_with_range_after_cut_connection(http_server, tmp_path):
    http_server.files["/f.csv.gz"] = DATA
    http_server.behaviour["/f.csv.gz"] = ["cut:1000000"]
    dest = tmp_path / "f.csv.gz"
    fetch_dataset_file([http_server.url + "/f.csv.gz"], dest, sha256=SAMPLE_SHA256,
                       backoff=0.01)
    assert dest.read_bytes() == DATA
    ranges = [r for p, r in http_server.requests]
    assert ranges[0] is None
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 900_000 < resumed_at <= 1_000_000  # resumed where the data stopped, not from 0


def test_resumes_part_file_left_by_killed_process(http_server, tmp_path):
    http_server.files["/f.csv.gz"] = DATA
    dest = tmp_path / "f.csv.gz"
    (tmp_path / "f.csv.gz.part").write_bytes(DATA[:12345])
    fetch_dataset_file([http_server.url + "/f.csv.gz"], dest, sha256=SAMPLE_SHA256)
    assert dest.read_bytes() == DATA
    assert http_server.requests == [("/f.csv.gz", "bytes=12345-")]


def test_stalled_transfer_times_out_and_resumes(http_server, tmp_path):
    http_server.files["/f.csv.gz"] = DATA
    http_server.behaviour["/f.csv.gz"] = ["stall:3"]
    dest = tmp_path / "f.csv.gz"
    fetch_dataset_file([http_server.url + "/f.csv.gz"], dest, sha256=SAMPLE_SHA256,
                       timeout=0.5, backoff=0.01)
    assert dest.read_bytes() == DATA
    assert http_server.requests[1][1].startswith("bytes=1")  # resumed past 100 kB


def test_server_ignoring_range_restarts_cleanly(http_server, tmp_path):
    http_server.files["/f.csv.gz"] = DATA
    http_server.behaviour["/f.csv.gz"] = ["norange"]
    (tmp_path / "f.csv.gz.part").write_bytes(b"garbage")
    fetch_dataset_file([http_server.url + "/f.csv.gz"], tmp_path / "f.csv.gz",
                       sha256=SAMPLE_SHA256)
    assert (tmp_path / "f.csv.gz").read_bytes() == DATA


def test_retries_5xx_then_succeeds(http_server, tmp_path):
    http_server.files["/f.csv.gz"] = DATA
    http_server.behaviour["/f.csv.gz"] = ["500", "500"]
    fetch_dataset_file([http_server.url + "/f.csv.gz"], tmp_path / "f.csv.gz",
                       sha256=SAMPLE_SHA256, backoff=0.01)
    assert len(http_server.requests) == 3


def test_html_page_fails_clearly_and_leaves_nothing(http_server, tmp_path):
    http_server.behaviour["/f.csv.gz"] = ["html"]
    dest = tmp_path / "f.csv.gz"
    with pytest.raises(DownloadError, match="HTML page"):
        fetch_dataset_file([http_server.url + "/f.csv.gz"], dest, sha256=SAMPLE_SHA256)
    assert not dest.exists()


def test_wrong_bytes_fail_checksum_and_leave_nothing(http_server, tmp_path):
    corrupt = bytearray(DATA)
    corrupt[5000] ^= 0xFF
    http_server.files["/f.csv.gz"] = bytes(corrupt)
    dest = tmp_path / "f.csv.gz"
    with pytest.raises(DownloadError, match=f"expected sha256 {SAMPLE_SHA256}, got"):
        fetch_dataset_file([http_server.url + "/f.csv.gz"], dest, sha256=SAMPLE_SHA256)
    assert not dest.exists()
    assert not (tmp_path / "f.csv.gz.part").exists()


def test_wrong_length_fails(http_server, tmp_path):
    http_server.files["/f.csv.gz"] = DATA[:-10]
    with pytest.raises(DownloadError, match=f"expected {len(DATA):,} bytes, got"):
        fetch_dataset_file([http_server.url + "/f.csv.gz"], tmp_path / "f.csv.gz",
                           size=len(DATA))


def test_falls_back_through_mirrors(http_server, tmp_path):
    http_server.files["/mirror2/f.csv.gz"] = DATA
    http_server.behaviour["/mirror1/f.csv.gz"] = ["html"]
    urls = [http_server.url + "/missing/f.csv.gz", http_server.url + "/mirror1/f.csv.gz",
            http_server.url + "/mirror2/f.csv.gz"]
    fetch_dataset_file(urls, tmp_path / "f.csv.gz", sha256=SAMPLE_SHA256)
    assert (tmp_path / "f.csv.gz").read_bytes() == DATA


def test_unpacks_uci_zip(http_server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("HIGGS.csv.gz", DATA)
    http_server.files["/static/public/280/higgs.zip"] = buffer.getvalue()
    dest = tmp_path / "HIGGS.csv.gz"
    fetch_dataset_file([http_server.url + "/static/public/280/higgs.zip"], dest,
                       sha256=SAMPLE_SHA256)
    assert dest.read_bytes() == DATA
    assert not list(tmp_path.glob("*.part"))


def test_records_then_verifies_unpublished_checksum(http_server, tmp_path):
    http_server.files["/SUSY.csv.gz"] = DATA
    lock = tmp_path / "SUSY.csv.gz.lock.json"
    dest = tmp_path / "SUSY.csv.gz"
    fetch_dataset_file([http_server.url + "/SUSY.csv.gz"], dest, lock_file=lock)
    assert json.loads(lock.read_text())["sha256"] == SAMPLE_SHA256
    dest.unlink()
    changed = bytearray(DATA)
    changed[len(DATA) // 2] ^= 0x01  # the file changed upstream
    http_server.files["/SUSY.csv.gz"] = bytes(changed)
    with pytest.raises(DownloadError, match="expected sha256"):
        fetch_dataset_file([http_server.url + "/SUSY.csv.gz"], dest, lock_file=lock)
    assert not dest.exists()


def test_local_path_and_file_url(tmp_path):
    fetch_dataset_file([str(SAMPLE)], tmp_path / "a.csv.gz", sha256=SAMPLE_SHA256)
    fetch_dataset_file([SAMPLE.as_uri()], tmp_path / "b.csv.gz", sha256=SAMPLE_SHA256)
    assert (tmp_path / "b.csv.gz").read_bytes() == DATA
    with pytest.raises(DownloadError, match="no such file"):
        fetch_dataset_file([str(tmp_path / "nope.csv.gz")], tmp_path / "c.csv.gz")
