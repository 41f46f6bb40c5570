"""Robust download of the data files: resume, retries, mirrors, zip wrappers, checksums.

``fetch_dataset_file`` is what the workflow's ``download`` rule calls. It tries each URL of
the data set in turn (an http(s) URL, a ``file://`` URL or a plain local path), streams to
``<dest>.part`` (the bytes as the server stores them, never decoded, whatever
``Content-Encoding`` it claims), resumes an interrupted transfer with an HTTP Range request,
and renames to the final name only after the size and sha256 match. A ``.zip`` (the UCI
"static/public" form) is unpacked to the ``.csv.gz`` it wraps. Nothing is ever left under the
final name unless it is verified.

Only ``http://``, ``https://``, ``file://`` URLs and plain local paths are accepted. A mirror
whose host name does not resolve is skipped at once (no network is not a transient error
worth minutes of backoff); when every mirror fails, the error ends with what to do: the
file's name, size and sha256, and where to put a copy fetched by hand. What makes a file the
expected one (size, sha256, a complete gzip stream, the lock file) is ``reproduce.data.verify``.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import threading
import time
import urllib.parse
import zipfile
from pathlib import Path

import requests

from reproduce.atomic_files import write_json_atomic
from reproduce.data.verify import (
    CHUNK,
    CorruptDownloadError,
    DownloadError,
    gzip_stream_problem,
    read_lock_file,
    verify_data_file,
)

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
STREAM_CHUNK = 1 << 16  # a dropped connection loses at most this much of what arrived
SUPPORTED_SCHEMES = ("http", "https", "file")  # and plain local paths (no scheme)
NETWORK_SCHEMES = ("http", "https")


class HostNotFoundError(DownloadError):
    """A mirror's host name does not resolve (no network or no DNS): not retried."""


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


def url_scheme(url: str) -> str:
    """The scheme of ``url`` in lower case; "" for a plain local path."""
    return urllib.parse.urlparse(url).scheme.lower()


def check_url(url: str) -> None:
    """Raise DownloadError unless ``url`` is http(s), ``file://`` or a plain local path."""
    scheme = url_scheme(url)
    if scheme and scheme not in SUPPORTED_SCHEMES:
        raise DownloadError(f"{url}: unsupported URL scheme {scheme!r}: expected http://, "
                            f"https://, file:// or a local path")


def _is_local(url: str) -> bool:
    return url_scheme(url) in ("", "file")


def _local_path(url: str) -> Path:
    parsed = urllib.parse.urlparse(url)
    return Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else url)


def _name_resolution_failure(exc: BaseException) -> BaseException | None:
    """The failed host-name lookup behind ``exc``, or None if there is none.

    requests wraps urllib3's error, which wraps the socket's, through causes, contexts,
    arguments and ``reason`` attributes; all are followed. urllib3's NameResolutionError
    (which names the host: the mirror's or the proxy's) is preferred to the bare
    ``socket.gaierror``.
    """
    seen, stack, lookup_error = set(), [exc], None
    while stack:
        error = stack.pop()
        if not isinstance(error, BaseException) or id(error) in seen:
            continue
        seen.add(id(error))
        if type(error).__name__ == "NameResolutionError":
            return error
        if isinstance(error, socket.gaierror):
            lookup_error = error
        stack += [error.__cause__, error.__context__, getattr(error, "reason", None),
                  *error.args]
    return lookup_error


def _hosts_that_do_not_resolve(urls, timeout: float) -> set[str]:
    """Host names of the http(s) ``urls`` that do not resolve within ``timeout`` seconds.

    All names are looked up at once (one thread each), so an offline machine learns in one
    resolver timeout, not one per mirror, that no mirror is reachable. URLs reached through
    a proxy (``HTTPS_PROXY`` and co.) are left to the proxy.
    """
    hosts = {urllib.parse.urlparse(url).hostname for url in urls
             if url_scheme(url) in NETWORK_SCHEMES
             and not requests.utils.get_environ_proxies(url)}
    hosts.discard(None)
    resolved: dict[str, bool] = {}

    def look_up(host: str) -> None:
        try:
            socket.getaddrinfo(host, None)
            resolved[host] = True
        except (OSError, UnicodeError):
            resolved[host] = False

    threads = [threading.Thread(target=look_up, args=(host,), daemon=True) for host in hosts]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {host for host in hosts if not resolved.get(host, False)}


def _transfer_complete(part: Path, *, is_zip: bool, size: int | None) -> bool:
    """Whether a transfer that came without a Content-Length got the whole file.

    A zip is whole when its central directory (at its end) is there; a ``.csv.gz`` when it
    has the expected size or, with no size known, when its gzip stream reaches its end
    marker. Bytes that are not gzip at all count as complete: the checks that follow reject
    them with a clearer message than a retry would.
    """
    if is_zip:
        return zipfile.is_zipfile(part)
    if size is not None:
        return part.stat().st_size >= size
    problem = gzip_stream_problem(part)
    return problem is None or not problem.startswith("truncated")


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
    raise CorruptDownloadError(f"{url}: expected {what}, got {found}")


TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.HTTPError,
                    requests.exceptions.ChunkedEncodingError)


def _stream_http(url: str, part: Path, *, timeout: float, retries: int, backoff: float,
                 session: requests.Session, label: str, is_complete) -> None:
    """Stream ``url`` into ``part``, resuming from its length; retry timeouts and 5xx.

    ``is_complete(part)`` decides whether a response without a Content-Length brought the
    whole file; if not, the connection was cut and the transfer resumes with a Range
    request. A host name that does not resolve raises HostNotFoundError at once; any other
    ``requests`` error that is not transient raises DownloadError.
    """
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        # the bytes as stored: a server that labels the .csv.gz Content-Encoding: gzip
        # must not have it decoded (the checksums and the Range offsets are of the file)
        headers = {"Accept-Encoding": "identity"} | ({"Range": f"bytes={have}-"} if have else {})
        try:
            with session.get(url, headers=headers, stream=True, timeout=timeout) as resp:
                _receive(resp, url, part, have, label=label, is_complete=is_complete)
            return
        except TRANSIENT_ERRORS as exc:
            if (lookup := _name_resolution_failure(exc)) is not None:
                raise HostNotFoundError(f"{url}: {lookup} (no network or no DNS on this "
                                        f"machine?)") from exc
            attempt += 1
            if attempt > retries:
                raise DownloadError(f"{url}: giving up after {retries} retries: {exc}") from exc
            wait = backoff * 2 ** (attempt - 1)
            log.warning("%s: %s; retry %d/%d in %.1f s (resuming at byte %s)", url, exc,
                        attempt, retries, wait,
                        f"{part.stat().st_size if part.exists() else 0:,}")
            time.sleep(wait)
        except requests.RequestException as exc:  # invalid URL, redirect loop, ...
            raise DownloadError(f"{url}: {type(exc).__name__}: {exc}") from exc


def _receive(resp: requests.Response, url: str, part: Path, have: int, *, label: str,
             is_complete) -> None:
    """Write one response's body to ``part`` (appended after its ``have`` bytes when the
    server honoured the Range request). A 5xx or a body cut short raises a transient
    ``requests`` error (the caller retries); a 4xx or an HTML page raises DownloadError."""
    if resp.status_code == 416 and have:
        return  # the part file already holds everything the server has
    if resp.status_code >= 500:
        raise requests.HTTPError(f"HTTP {resp.status_code}", response=resp)
    if resp.status_code >= 400:
        raise DownloadError(f"{url}: HTTP {resp.status_code} {resp.reason}")
    if have and resp.status_code == 200:
        have = 0  # the server ignored Range: start again
    length = resp.headers.get("Content-Length")
    ctype = resp.headers.get("Content-Type", "")
    if "text/html" in ctype:
        raise CorruptDownloadError(f"{url}: expected the data file, got an HTML "
                                   f"page (Content-Type {ctype})")
    progress = _Progress(have + int(length) if length is not None else None, have, label)
    received = 0
    try:
        with open(part, "ab" if have else "wb") as out:
            for block in raw_blocks(resp, STREAM_CHUNK):
                out.write(block)
                received += len(block)
                progress.update(len(block))
    finally:
        progress.close()
    if length is not None and received < int(length):
        raise requests.ConnectionError(
            f"connection closed after {received:,} of {int(length):,} bytes")
    if length is None and not is_complete(part):
        raise requests.ConnectionError(
            f"connection closed after {have + received:,} bytes with no "
            f"Content-Length, before the end of the file")


def raw_blocks(resp: requests.Response, size: int):
    """The body of ``resp`` as sent, never decoded (whatever its Content-Encoding), in
    blocks of up to ``size`` bytes; urllib3's read errors become the ``requests`` errors
    that ``iter_content`` raises (ChunkedEncodingError, ConnectionError), so the caller's
    retries apply."""
    import urllib3.exceptions as u3

    try:
        yield from resp.raw.stream(size, decode_content=False)
    except u3.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except u3.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc
    except u3.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc


def _fetch_one(url: str, part: Path, **kwargs) -> None:
    if _is_local(url):
        source = _local_path(url)
        if not source.is_file():
            raise DownloadError(f"{url}: no such file")
        shutil.copyfile(source, part)
    else:
        _stream_http(url, part, **kwargs)


def _unzip_csv_gz(zip_path: Path, dest_part: Path, url: str) -> None:
    """Extract the single ``.csv.gz`` inside a UCI ``static/public`` zip to ``dest_part``.

    The member's own name is never used as a path, so names such as ``../x.csv.gz`` or
    ``/etc/x.csv.gz`` cannot write anywhere but ``dest_part``.
    """
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [m for m in archive.namelist() if m.endswith(".csv.gz")]
            if len(members) != 1:
                raise CorruptDownloadError(f"{url}: expected one .csv.gz inside the zip, "
                                           f"found {archive.namelist()}")
            with archive.open(members[0]) as src, open(dest_part, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
    except zipfile.BadZipFile as exc:
        raise CorruptDownloadError(f"{url}: not a valid zip archive ({exc})") from exc


def manual_download_instructions(dest, urls, *, size: int | None, sha256: str | None,
                                 dataset: str | None = None) -> str:
    """What to do when no mirror can be reached: the file, its checksum, where it goes."""
    dest = Path(dest)
    key = f"dataset_overrides.{dataset}.urls" if dataset else "dataset_overrides.<NAME>.urls"
    web = [url for url in urls if url_scheme(url) in NETWORK_SCHEMES] or list(urls)
    facts = (f"size {size:,} bytes, sha256 {sha256}" if size is not None and sha256
             else "no published size or sha256: the first download records them in "
                  f"{dest.name}.lock.json")
    lines = [
        f"What to do: fetch {dest.name} ({facts}) on a machine with internet access, "
        f"from one of:",
        *(f"    {url}" for url in web),
        "then either",
        f"  - put it at {dest} (it is verified by size and sha256 on the next run), or",
        f"  - keep it anywhere and point {key} at it in a config file passed with "
        f"--configfile:",
        "        dataset_overrides:",
        f"          {dataset or '<NAME>'}:",
        f"            urls: [/path/to/{dest.name}]",
        "On a cluster whose compute nodes are offline, run the download on the login node "
        f"first: snakemake --cores 1 {dest}",
    ]
    return "\n".join(lines)


def fetch_dataset_file(urls, dest, *, size: int | None = None, sha256: str | None = None,
                       lock_file=None, timeout: float = 60.0, retries: int = 5,
                       backoff: float = 2.0, resolve_timeout: float = 20.0,
                       dataset: str | None = None) -> Path:
    """Download a data file, verified, to ``dest``.

    Args:
        urls: locations tried in order; http(s) URLs, ``file://`` URLs or local paths (any
            other scheme fails that location, and the next one is tried). A URL ending in
            ``.zip`` is unpacked to the ``.csv.gz`` it holds.
        dest: final path of the ``.csv.gz``.
        size: expected byte size of the ``.csv.gz`` (None: not checked).
        sha256: expected hex digest of the ``.csv.gz`` (None: taken from ``lock_file`` if it
            exists, else recorded there on success, once the gzip stream has been read to
            its end marker).
        lock_file: JSON file recording the size and sha256 seen on the first download, for
            files whose checksum is not published (SUSY).
        timeout: seconds without data before a retry.
        retries: retries per URL on timeouts, dropped connections and 5xx answers (a host
            name that does not resolve is not retried).
        backoff: first retry delay in seconds, doubled on each retry.
        resolve_timeout: seconds allowed for looking up all mirrors' host names at once; a
            host not resolved by then is skipped.
        dataset: the data set's name, for the config key named in the instructions given
            when every location fails.

    Returns:
        ``dest``. Raises DownloadError naming each URL tried and why it failed, followed by
        instructions for supplying the file by hand.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(urls, str):
        urls = [urls]
    lock = Path(lock_file) if lock_file else None
    recorded = read_lock_file(lock) if sha256 is None else None
    if recorded is not None:
        sha256, size = recorded["sha256"], size or recorded.get("size")
        log.info("verifying against %s: sha256 %s", lock, sha256)
    unresolved = _hosts_that_do_not_resolve(urls, resolve_timeout)
    failures = []
    session = requests.Session()
    for url in urls:
        try:
            part, digest = _fetch_from(url, dest, size=size, sha256=sha256,
                                       unresolved=unresolved, session=session,
                                       timeout=timeout, retries=retries, backoff=backoff)
        except DownloadError as exc:
            log.warning("%s", exc)
            failures.append(str(exc))
            continue
        os.replace(part, dest)
        if lock is not None and recorded is None:
            lock.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(lock, {"file": dest.name, "size": dest.stat().st_size,
                                     "sha256": digest, "url": url}, indent=2)
            log.info("recorded sha256 %s in %s", digest, lock)
        log.info("%s: %s bytes, sha256 %s", dest, f"{dest.stat().st_size:,}", digest)
        return dest
    raise DownloadError(f"could not fetch {dest.name}:\n  " + "\n  ".join(failures) + "\n"
                        + manual_download_instructions(dest, urls, size=size, sha256=sha256,
                                                       dataset=dataset))


def _fetch_from(url: str, dest: Path, *, size: int | None, sha256: str | None,
                unresolved: set[str], **stream) -> tuple[Path, str]:
    """Fetch one location of ``dest`` into a ``.part`` file beside it (unpacked if a zip)
    and verify it: ``(the verified part file, its sha256)``.

    ``stream``: ``session``, ``timeout``, ``retries``, ``backoff`` for :func:`_stream_http`.
    Raises DownloadError; a complete but wrong file (CorruptDownloadError) is deleted first,
    so that no later try resumes from it.
    """
    is_zip = urllib.parse.urlparse(url).path.endswith(".zip")
    part = dest.with_name(dest.name + (".zip.part" if is_zip else ".part"))
    try:
        check_url(url)
        host = urllib.parse.urlparse(url).hostname
        if url_scheme(url) in NETWORK_SCHEMES and host in unresolved:
            raise HostNotFoundError(f"{url}: host name {host!r} does not resolve (no "
                                    f"network or no DNS on this machine?)")
        log.info("fetching %s -> %s", url, dest)
        _fetch_one(url, part, label=dest.name,
                   is_complete=lambda p: _transfer_complete(p, is_zip=is_zip, size=size),
                   **stream)
        if is_zip:
            _check_magic(part, url, ZIP_MAGIC, "a zip archive")
            csv_part = dest.with_name(dest.name + ".part")
            _unzip_csv_gz(part, csv_part, url)
            part.unlink()
            part = csv_part
        _check_magic(part, url, GZIP_MAGIC, "gzip data")
        return part, verify_data_file(part, size=size, sha256=sha256, source=url,
                                      check_gzip=sha256 is None)
    except CorruptDownloadError:
        part.unlink(missing_ok=True)  # complete but wrong: never resume from it
        raise
