"""Robust download of the data files: resume, retries, mirrors, zip wrappers, checksums.

``fetch_dataset_file`` is what the workflow's ``download`` rule calls. It tries each URL of
the data set in turn (an http(s) URL, a ``file://`` URL or a plain local path), streams to
``<dest>.part``, resumes an interrupted transfer with an HTTP Range request, and renames to
the final name only after the size and sha256 match. A ``.zip`` (the UCI "static/public"
form) is unpacked to the ``.csv.gz`` it wraps. Nothing is ever left under the final name
unless it is verified.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import urllib.parse
import zipfile
from pathlib import Path

import requests

from .atomic_files import sha256_of

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
CHUNK = 1 << 20
STREAM_CHUNK = 1 << 16  # a dropped connection loses at most this much of what arrived


class DownloadError(RuntimeError):
    """A download that cannot give the expected file (after retries and mirrors)."""


class _Progress:
    """Bytes, rate and ETA: a tqdm bar on a terminal, a log line every ``every`` seconds."""

    def __init__(self, total: int | None, done: int, label: str, every: float = 30.0):
        self.total, self.done, self.label, self.every = total, done, label, every
        self.start = self.last = time.monotonic()
        self.start_done = done
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="B", unit_scale=True,
                            unit_divisor=1024, desc=label)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            rate = (self.done - self.start_done) / max(now - self.start, 1e-9)
            eta = (f", ETA {(self.total - self.done) / rate:,.0f} s"
                   if self.total and rate > 0 else "")
            total = f" of {self.total:,}" if self.total else ""
            log.info("%s: %s%s bytes, %.1f MB/s%s", self.label, f"{self.done:,}", total,
                     rate / 1e6, eta)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _is_local(url: str) -> bool:
    return urllib.parse.urlparse(url).scheme in ("", "file")


def _local_path(url: str) -> Path:
    parsed = urllib.parse.urlparse(url)
    return Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else url)


def _check_magic(path: Path, url: str, expect: bytes, what: str) -> None:
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(expect):
        return
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        found = "an HTML page"
    elif not head:
        found = "an empty file"
    else:
        found = f"bytes {head[:8]!r}"
    raise DownloadError(f"{url}: expected {what}, got {found}")


def _stream_http(url: str, part: Path, *, timeout: float, retries: int, backoff: float,
                 session: requests.Session, label: str) -> None:
    """Stream ``url`` into ``part``, resuming from its length; retry timeouts and 5xx."""
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with session.get(url, headers=headers, stream=True, timeout=timeout) as resp:
                if resp.status_code == 416 and have:
                    return  # the part file already holds everything the server has
                if resp.status_code >= 500:
                    raise requests.HTTPError(f"HTTP {resp.status_code}", response=resp)
                if resp.status_code >= 400:
                    raise DownloadError(f"{url}: HTTP {resp.status_code} {resp.reason}")
                if have and resp.status_code == 200:
                    have = 0  # the server ignored Range: start again
                mode = "ab" if have else "wb"
                length = resp.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                ctype = resp.headers.get("Content-Type", "")
                if "text/html" in ctype:
                    raise DownloadError(f"{url}: expected the data file, got an HTML page "
                                        f"(Content-Type {ctype})")
                progress = _Progress(total, have, label)
                received = 0
                try:
                    with open(part, mode) as out:
                        for block in resp.iter_content(STREAM_CHUNK):
                            out.write(block)
                            received += len(block)
                            progress.update(len(block))
                finally:
                    progress.close()
                if length is not None and received < int(length):
                    raise requests.ConnectionError(
                        f"connection closed after {received:,} of {int(length):,} bytes")
                return
        except (requests.ConnectionError, requests.Timeout, requests.HTTPError,
                requests.exceptions.ChunkedEncodingError) as exc:
            attempt += 1
            if attempt > retries:
                raise DownloadError(f"{url}: giving up after {retries} retries: {exc}") from exc
            wait = backoff * 2 ** (attempt - 1)
            log.warning("%s: %s; retry %d/%d in %.1f s (resuming at byte %s)", url, exc,
                        attempt, retries, wait,
                        f"{part.stat().st_size if part.exists() else 0:,}")
            time.sleep(wait)


def _fetch_one(url: str, part: Path, **kwargs) -> None:
    if _is_local(url):
        source = _local_path(url)
        if not source.is_file():
            raise DownloadError(f"{url}: no such file")
        shutil.copyfile(source, part)
    else:
        _stream_http(url, part, **kwargs)


def _unzip_csv_gz(zip_path: Path, dest_part: Path, url: str) -> None:
    """Extract the single ``.csv.gz`` inside a UCI ``static/public`` zip."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [m for m in archive.namelist() if m.endswith(".csv.gz")]
            if len(members) != 1:
                raise DownloadError(f"{url}: expected one .csv.gz inside the zip, found "
                                    f"{archive.namelist()}")
            with archive.open(members[0]) as src, open(dest_part, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{url}: not a valid zip archive ({exc})") from exc


def _verify(path: Path, url: str, size: int | None, sha256: str | None) -> str:
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise DownloadError(f"{url}: expected {size:,} bytes, got {actual_size:,}")
    digest = sha256_of(path)
    if sha256 is not None and digest != sha256.lower():
        raise DownloadError(f"{url}: expected sha256 {sha256}, got {digest}")
    return digest


def fetch_dataset_file(urls, dest, *, size: int | None = None, sha256: str | None = None,
                       lock_file=None, timeout: float = 60.0, retries: int = 5,
                       backoff: float = 2.0) -> Path:
    """Download a data file, verified, to ``dest``.

    Args:
        urls: locations tried in order; http(s) URLs, ``file://`` URLs or local paths. A URL
            ending in ``.zip`` is unpacked to the ``.csv.gz`` it holds.
        dest: final path of the ``.csv.gz``.
        size: expected byte size of the ``.csv.gz`` (None: not checked).
        sha256: expected hex digest of the ``.csv.gz`` (None: taken from ``lock_file`` if it
            exists, else recorded there on success).
        lock_file: JSON file recording the size and sha256 seen on the first download, for
            files whose checksum is not published (SUSY).
        timeout: seconds without data before a retry.
        retries: retries per URL on timeouts, dropped connections and 5xx answers.
        backoff: first retry delay in seconds, doubled on each retry.

    Returns:
        ``dest``. Raises DownloadError naming each URL tried and why it failed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(urls, str):
        urls = [urls]
    lock = Path(lock_file) if lock_file else None
    if sha256 is None and lock is not None and lock.exists():
        recorded = json.loads(lock.read_text())
        sha256, size = recorded["sha256"], size or recorded.get("size")
        log.info("verifying against %s: sha256 %s", lock, sha256)
    failures = []
    session = requests.Session()
    for url in urls:
        is_zip = urllib.parse.urlparse(url).path.endswith(".zip")
        part = dest.with_name(dest.name + (".zip.part" if is_zip else ".part"))
        log.info("fetching %s -> %s", url, dest)
        try:
            _fetch_one(url, part, timeout=timeout, retries=retries, backoff=backoff,
                       session=session, label=dest.name)
            if is_zip:
                _check_magic(part, url, ZIP_MAGIC, "a zip archive")
                csv_part = dest.with_name(dest.name + ".part")
                _unzip_csv_gz(part, csv_part, url)
                part.unlink()
                part = csv_part
            _check_magic(part, url, GZIP_MAGIC, "gzip data")
            digest = _verify(part, url, size, sha256)
        except DownloadError as exc:
            log.warning("%s", exc)
            failures.append(str(exc))
            # A part file that is complete but wrong must not be resumed from.
            if part.exists() and ("expected" in str(exc) or "not a valid" in str(exc)):
                part.unlink()
            continue
        os.replace(part, dest)
        if lock is not None and not lock.exists():
            lock.parent.mkdir(parents=True, exist_ok=True)
            lock.write_text(json.dumps({"file": dest.name, "size": dest.stat().st_size,
                                        "sha256": digest, "url": url}, indent=2) + "\n")
            log.info("recorded sha256 %s in %s", digest, lock)
        log.info("%s: %s bytes, sha256 %s", dest, f"{dest.stat().st_size:,}", digest)
        return dest
    raise DownloadError(f"could not fetch {dest.name}:\n  " + "\n  ".join(failures))
