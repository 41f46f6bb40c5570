"""Faults of the download (``reproduce.data.download``), each injected for real: a local HTTP
server on 127.0.0.1 that cuts, lies or serves the wrong thing, unresolvable host names,
a download process killed with SIGKILL, hostile zip archives and file names."""

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import pytest

from reproduce.datasets import HIGGS, get_dataset
from reproduce.data.download import DownloadError, check_url, fetch_dataset_file

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def test_cut_without_content_length_keeps_the_part_and_resumes(http_server, tmp_path,
                                                               sample):
    """Issue 12, defect 3 (HIGGS: size and sha256 published)."""
    http_server.files["/HIGGS.csv.gz"] = sample.data
    http_server.behaviour["/HIGGS.csv.gz"] = ["nolength:1000000"]
    dest = tmp_path / "HIGGS.csv.gz"
    fetch_dataset_file([http_server.url + "/HIGGS.csv.gz"], dest, size=len(sample.data),
                       sha256=sample.sha256, backoff=0.01)
    assert dest.read_bytes() == sample.data
    assert [r for _, r in http_server.requests] == [None, "bytes=1000000-"]


def test_cut_without_content_length_is_never_pinned(http_server, tmp_path, sample):
    """Issue 12, defect 3 (SUSY: nothing published). The truncated bytes are recognised by
    their gzip stream, which stops before its end marker: the transfer resumes, and only
    the whole file's size and sha256 go into the lock file."""
    http_server.files["/SUSY.csv.gz"] = sample.data
    http_server.behaviour["/SUSY.csv.gz"] = ["nolength:1000000"]
    dest, lock = tmp_path / "SUSY.csv.gz", tmp_path / "SUSY.csv.gz.lock.json"
    fetch_dataset_file([http_server.url + "/SUSY.csv.gz"], dest, lock_file=lock,
                       backoff=0.01)
    assert dest.read_bytes() == sample.data
    recorded = json.loads(lock.read_text())
    assert recorded["sha256"] == sample.sha256 and recorded["size"] == len(sample.data)


def test_truncated_file_on_the_server_is_refused_not_pinned(http_server, tmp_path, sample):
    """Issue 12, defect 3: a server that holds (and announces) a truncated file."""
    http_server.files["/SUSY.csv.gz"] = sample.data[:1_500_000]
    dest, lock = tmp_path / "SUSY.csv.gz", tmp_path / "SUSY.csv.gz.lock.json"
    with pytest.raises(DownloadError, match="expected a complete gzip file, got truncated"):
        fetch_dataset_file([http_server.url + "/SUSY.csv.gz"], dest, lock_file=lock)
    assert not dest.exists() and not lock.exists()
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("bad_url", ["ftp://127.0.0.1/HIGGS.csv.gz",
                                     "gopher://127.0.0.1/HIGGS.csv.gz",
                                     "http://127.0.0.1:99999/HIGGS.csv.gz"])
def test_unsupported_or_invalid_url_fails_over_to_the_next_mirror(http_server, tmp_path,
                                                                  sample, bad_url):
    """Issue 12, defect 4: ``requests`` raises InvalidSchema / InvalidURL here; the package
    turns it into its own error and goes on to the next mirror."""
    http_server.files["/HIGGS.csv.gz"] = sample.data
    dest = tmp_path / "HIGGS.csv.gz"
    fetch_dataset_file([bad_url, http_server.url + "/HIGGS.csv.gz"], dest,
                       sha256=sample.sha256)
    assert dest.read_bytes() == sample.data
    with pytest.raises(DownloadError, match="could not fetch") as info:
        fetch_dataset_file([bad_url], tmp_path / "other.csv.gz")
    assert bad_url in str(info.value)


@pytest.mark.parametrize("url, accepted", [
    ("https://archive.ics.uci.edu/x.csv.gz", True), ("http://example.org/x.zip", True),
    ("file:///data/x.csv.gz", True), ("data/higgs-sample.csv.gz", True),
    ("/abs/path/x.csv.gz", True), ("ftp://example.org/x.csv.gz", False),
    ("gopher://example.org/x", False), ("s3://bucket/x.csv.gz", False),
])
def test_url_schemes_schema_and_code_agree(url, accepted):
    """Issue 12, defect 4: the config schema refuses the schemes the code refuses."""
    from reproduce.config import ConfigError, validate_config

    def schema_accepts():
        try:
            validate_config({"dataset_overrides": {"HIGGS": {"urls": [url]}}}, SCHEMA)
            return True
        except ConfigError as exc:
            assert "config key dataset_overrides.HIGGS.urls.0" in str(exc)
            return False

    def code_accepts():
        try:
            check_url(url)
            return True
        except DownloadError as exc:
            assert "unsupported URL scheme" in str(exc)
            return False

    assert schema_accepts() is accepted and code_accepts() is accepted


@pytest.mark.parametrize("filename", ["../../../escaped.csv.gz", "/tmp/escaped.csv.gz",
                                      "sub/dir.csv.gz", "..csv.gz", ".hidden.csv.gz"])
def test_file_name_with_folders_is_refused(filename):
    """Issue 12, defect 2: the download writes ``resources/<name>/<filename>``; a file name
    with folders would write outside. Refused by the schema and by ``get_dataset``."""
    from reproduce.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match="config key dataset_overrides.HIGGS.filename"):
        validate_config({"dataset_overrides": {"HIGGS": {"filename": filename}}}, SCHEMA)
    with pytest.raises(ValueError, match="filename: expected a file name without folders"):
        get_dataset("HIGGS", {"filename": filename})


def test_file_name_rule_is_the_same_in_schema_and_code():
    import yaml

    from reproduce.datasets import FILENAME_PATTERN

    schema = yaml.safe_load(SCHEMA.read_text())
    override = schema["$defs"]["dataset_override"]
    assert override["properties"]["filename"]["pattern"] == FILENAME_PATTERN
    for name in ("HIGGS.csv.gz", "higgs-sample.csv.gz", "SUSY.v2.csv.gz"):
        assert get_dataset("HIGGS", {"filename": name}).filename == name


def test_unresolvable_hosts_fail_fast_with_instructions(tmp_path, no_proxy):
    """Issue 15, point 1: offline, no mirror's host resolves. No retries with backoff (the
    old code spent minutes); the error says what to do."""
    urls = ["https://archive.ics.uci.edu.invalid/ml/HIGGS.csv.gz",
            "https://mirror-two.invalid/static/public/280/higgs.zip",
            "http://mirror-three.invalid/data/higgs/HIGGS.csv.gz"]
    dest = tmp_path / "resources" / "HIGGS" / "HIGGS.csv.gz"
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch_dataset_file(urls, dest, size=HIGGS.size, sha256=HIGGS.sha256, dataset="HIGGS")
    assert time.monotonic() - start < 30
    message = str(info.value)
    for url in urls:
        assert url in message and "does not resolve" in message
    assert "fetch HIGGS.csv.gz (size 2,816,407,858 bytes, sha256 " + HIGGS.sha256 in message
    assert f"put it at {dest}" in message and "verified by size and sha256" in message
    assert "dataset_overrides.HIGGS.urls" in message and "login node" in message
    assert not dest.exists() and not list(dest.parent.glob("*.part"))


def test_sigkilled_download_process_resumes_on_rerun(http_server, tmp_path, sample,
                                                     python_child, sigkill_when):
    """A real download process killed with SIGKILL mid-transfer (the server stalls after
    200,000 bytes); the rerun asks only for the missing bytes."""
    http_server.files["/HIGGS.csv.gz"] = sample.data
    http_server.behaviour["/HIGGS.csv.gz"] = ["stall:5"]
    url, dest = http_server.url + "/HIGGS.csv.gz", tmp_path / "HIGGS.csv.gz"
    part = tmp_path / "HIGGS.csv.gz.part"
    child = python_child("from reproduce.data.download import fetch_dataset_file\n"
                         f"fetch_dataset_file([{url!r}], {str(dest)!r}, "
                         f"sha256={sample.sha256!r})")
    sigkill_when(child, lambda: part.exists() and part.stat().st_size >= 65536 * 3)
    assert not dest.exists()
    kept = part.stat().st_size
    fetch_dataset_file([url], dest, sha256=sample.sha256)
    assert dest.read_bytes() == sample.data and not part.exists()
    assert http_server.requests[-1] == ("/HIGGS.csv.gz", f"bytes={kept}-")


def test_html_served_as_octet_stream_is_refused(http_server, tmp_path, sample):
    """An error page with the data's Content-Type: caught by the gzip magic bytes."""
    http_server.files["/HIGGS.csv.gz"] = b"<!DOCTYPE html><html><body>Moved</body></html>"
    dest = tmp_path / "HIGGS.csv.gz"
    with pytest.raises(DownloadError, match="expected gzip data, got an HTML page"):
        fetch_dataset_file([http_server.url + "/HIGGS.csv.gz"], dest, sha256=sample.sha256)
    assert not list(tmp_path.iterdir())


def test_plain_csv_named_csv_gz_is_refused(tmp_path, sample):
    plain = tmp_path / "source" / "HIGGS.csv.gz"
    plain.parent.mkdir()
    plain.write_text("\n".join(sample.lines[:50]) + "\n")
    dest = tmp_path / "resources" / "HIGGS.csv.gz"
    with pytest.raises(DownloadError, match=r"expected gzip data, got bytes b'1\.0"):
        fetch_dataset_file([str(plain)], dest)
    assert not list(dest.parent.iterdir())


@pytest.mark.parametrize("member", ["../../escaped.csv.gz", "/tmp/escaped-abs.csv.gz"])
def test_zip_member_names_cannot_write_outside(http_server, tmp_path, sample, member):
    """A zip whose member is named ``../..`` or absolutely: the member's name is never used
    as a path; its bytes land in the destination only."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(member), sample.data)
    http_server.files["/higgs.zip"] = buffer.getvalue()
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    escaped = work / member if member.startswith(".") else Path(member)
    existed = escaped.exists()
    dest = work / "HIGGS.csv.gz"
    fetch_dataset_file([http_server.url + "/higgs.zip"], dest, sha256=sample.sha256)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sample.sha256
    assert sorted(p.name for p in work.iterdir()) == ["HIGGS.csv.gz"]
    assert escaped.exists() == existed


def test_file_put_in_place_by_hand_is_verified(tmp_path, sample):
    """Issue 15's instructions say a copy put under resources/ by hand is verified on the
    next run (the conversion step calls ``verify_file_in_place`` first)."""
    from reproduce.data.verify import verify_file_in_place

    by_hand = tmp_path / "resources" / "HIGGS" / "HIGGS.csv.gz"
    by_hand.parent.mkdir(parents=True)
    by_hand.write_bytes(sample.data)
    assert verify_file_in_place(by_hand, size=len(sample.data),
                                sha256=sample.sha256) == sample.sha256
    wrong = bytearray(sample.data)
    wrong[1000] ^= 0xFF
    by_hand.write_bytes(wrong)
    with pytest.raises(DownloadError, match=f"{by_hand}: expected sha256 {sample.sha256}, "
                       "got .*: this is not the expected file; delete it"):
        verify_file_in_place(by_hand, size=len(sample.data), sha256=sample.sha256)
    susy = tmp_path / "resources" / "SUSY" / "SUSY.csv.gz"  # no published checksum
    susy.parent.mkdir()
    susy.write_bytes(wrong)
    (susy.parent / "SUSY.csv.gz.lock.json").write_text(json.dumps(
        {"file": "SUSY.csv.gz", "size": len(sample.data), "sha256": sample.sha256}))
    with pytest.raises(DownloadError, match=f"{susy}: expected sha256 {sample.sha256}"):
        verify_file_in_place(susy, size=None, sha256=None)


def test_unresolvable_proxy_fails_fast(tmp_path, sample, no_proxy, monkeypatch):
    """Behind a proxy the mirrors' names are the proxy's business; a proxy whose own name
    does not resolve is found in the ``requests`` error and not retried either."""
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "")
    dest = tmp_path / "HIGGS.csv.gz"
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"proxy\.invalid.*no network or no DNS"):
        fetch_dataset_file(["http://archive.ics.uci.edu.invalid/HIGGS.csv.gz"], dest,
                           size=len(sample.data), sha256=sample.sha256, backoff=5.0)
    assert time.monotonic() - start < 5  # one retry would already wait 5 s


@pytest.mark.parametrize("make", [
    lambda d: d, lambda d: d[:len(d) // 2], lambda d: d[:-1], lambda d: d + d,
    lambda d: d + d[:len(d) // 3], lambda d: d + b"\0" * 100, lambda d: d + b"garbage",
    lambda d: d[:5000] + bytes([d[5000] ^ 0xFF]) + d[5001:],
], ids=["whole", "half", "last byte missing", "two members", "second member cut",
        "zero padding", "trailing garbage", "flipped byte"])
def test_gzip_end_check_agrees_with_python_gzip(tmp_path, sample, make):
    """The check that stands in for a checksum where none is published (SUSY), against
    Python's gzip module as the reference: complete exactly when it decompresses."""
    import gzip
    import zlib

    from reproduce.data.verify import gzip_stream_problem

    data = make(sample.data)
    path = tmp_path / "f.csv.gz"
    path.write_bytes(data)
    try:
        gzip.decompress(data)
        reference_ok = True
    except (EOFError, OSError, zlib.error):
        reference_ok = False
    assert (gzip_stream_problem(path) is None) == reference_ok
