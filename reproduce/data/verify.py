"""Is this file the data file? Its size, its sha256, a gzip stream complete to its end
marker, and the lock file that records the checksum first seen for a file whose checksum is
not published (SUSY). The download checks what it fetched with these, and the conversion
checks the file in place (downloaded earlier or put there by hand) before reading it.
"""

from __future__ import annotations

import json
import logging
import zlib
from pathlib import Path

from reproduce.atomic_files import sha256_of

log = logging.getLogger(__name__)

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that cannot give the expected file (after retries and mirrors)."""


class CorruptDownloadError(DownloadError):
    """The bytes arrived in full but are not the expected file: never resumed from."""


def gzip_stream_problem(path) -> str | None:
    """What keeps ``path`` from being a complete gzip file, or None if nothing does.

    The file is decompressed to its end (every member of a multi-member file; zero padding
    after the last member is allowed) without keeping the output. A transfer cut short ends
    before the end-of-stream marker of its last member: the answer then starts with
    "truncated".
    """
    decompressor = None
    offset = 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            data = block
            while data:
                if decompressor is None or decompressor.eof:
                    if decompressor is not None and not data.strip(b"\0"):
                        break  # zero padding after the last member
                    decompressor = zlib.decompressobj(wbits=31)
                try:
                    decompressor.decompress(data)
                except zlib.error as exc:
                    return f"not valid gzip data near byte {offset:,} ({exc})"
                data = decompressor.unused_data if decompressor.eof else b""
            offset += len(block)
    if decompressor is None:
        return "an empty file"
    if not decompressor.eof:
        return (f"truncated: the gzip stream stops after {offset:,} bytes, before its "
                f"end-of-stream marker")
    return None


def verify_data_file(path, *, size: int | None, sha256: str | None, source: str | None = None,
                     check_gzip: bool = False) -> str:
    """Check a data file against its expected size and sha256; return its sha256.

    Args:
        path: the file.
        size: expected byte size (None: not checked).
        sha256: expected hex digest (None: not checked).
        source: where the bytes came from, for the message (default: ``path``).
        check_gzip: also decompress it to its end (what stands in for a checksum when none
            is published).

    Raises:
        CorruptDownloadError naming the source and what differs.
    """
    path = Path(path)
    source = source or str(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise CorruptDownloadError(f"{source}: expected {size:,} bytes, got {actual_size:,}")
    if check_gzip and (problem := gzip_stream_problem(path)):
        raise CorruptDownloadError(f"{source}: expected a complete gzip file, got {problem}")
    digest = sha256_of(path)
    if sha256 is not None and digest != sha256.lower():
        raise CorruptDownloadError(f"{source}: expected sha256 {sha256}, got {digest}")
    return digest


def read_lock_file(lock_file) -> dict | None:
    """``{"size", "sha256", ...}`` recorded by the first download, or None if there is none.

    A lock file that is not such a record (not JSON, not an object, no sha256 of 64 hex
    digits, a size that is not a positive integer) raises DownloadError naming it and what
    to do.
    """
    lock = Path(lock_file) if lock_file else None
    if lock is None or not lock.exists():
        return None
    try:
        recorded = json.loads(lock.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"not valid JSON ({exc})"
    else:
        problem = _lock_record_problem(recorded)
    if problem:
        raise DownloadError(
            f"{lock}: corrupt lock file, {problem}; it records the checksum of the first "
            f"download of {lock.name.removesuffix('.lock.json')}: delete it (the next "
            f"download records the checksum afresh) or restore it from a copy")
    return recorded


def _lock_record_problem(recorded) -> str | None:
    """What keeps a lock file's content from being ``{"sha256": hex, "size": int, ...}``."""
    if not isinstance(recorded, dict):
        return f"expected a JSON object, found {type(recorded).__name__}"
    digest = recorded.get("sha256")
    if not (isinstance(digest, str) and len(digest) == 64
            and all(c in "0123456789abcdefABCDEF" for c in digest)):
        return f"expected a sha256 of 64 hex digits, found {digest!r}"
    size = recorded.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        return f"expected a size in bytes, found {size!r}"
    return None


def lock_file_path(dest) -> Path:
    """Where the size and sha256 of a file with no published checksum are recorded."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".lock.json")


def verify_file_in_place(path, *, size: int | None, sha256: str | None) -> str:
    """Verify a data file at its final place (downloaded earlier or put there by hand).

    Args:
        path: the ``.csv.gz`` under ``resources/``.
        size, sha256: the published values; where there are none, those recorded in its lock
            file (``lock_file_path``) are used, and with no lock file only the size and
            sha256 are reported.

    Returns:
        The file's sha256. Raises DownloadError naming the file, what differs and what to do.
    """
    path = Path(path)
    recorded = read_lock_file(lock_file_path(path)) if sha256 is None else None
    if recorded is not None:
        size, sha256 = size or recorded.get("size"), recorded["sha256"]
    try:
        digest = verify_data_file(path, size=size, sha256=sha256)
    except CorruptDownloadError as exc:
        raise DownloadError(f"{exc}: this is not the expected file; delete it (the download "
                            f"rule then fetches it again) or replace it with the right one"
                            ) from exc
    log.info("%s: %s bytes, sha256 %s (%s)", path, f"{path.stat().st_size:,}", digest,
             "verified" if sha256 else "no checksum to compare with")
    return digest
