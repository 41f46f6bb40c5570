"""The TFRecord shards read without TensorFlow: framing, both CRCs, the manifest's sha256.

``reproduce.data.tfrecords`` writes every record as one raw little-endian float32 block of
``rows x columns`` values (no ``tf.train.Example``), so reading a shard needs only the
TFRecord framing. Each record is::

    uint64 length | uint32 masked crc32c(length) | length bytes of data | uint32 masked crc32c(data)

all little-endian, where ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8`` (mod 2**32) and
crc32c is the Castagnoli CRC (reflected polynomial 0x82F63B78). Both CRCs of every record
are checked, then the shard's sha256 against the manifest; a mismatch raises
``CorruptShardError`` naming the shard, the record and its byte offset.

The CRCs are computed in numpy (``reproduce.data.crc32c``), vectorized over every record
of a shard at once. The training backends that do not carry TensorFlow (JAX) train from
``read_split``'s arrays; they equal ``reproduce.data.tf_reader.read_split``'s.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from reproduce.data.crc32c import FOOTER_BYTES as _FOOTER
from reproduce.data.crc32c import HEADER_BYTES as _HEADER
from reproduce.data.crc32c import masked_crc32c
from reproduce.data.tfrecords import load_manifest, manifest_path


class CorruptShardError(ValueError):
    """A shard whose framing, CRC or sha256 is not what was written; the message names
    the shard, the record and the byte offset."""


# ---------------------------------------------------------------- shards


def _frame(buffer: bytes, shard: Path) -> list[tuple[int, int]]:
    """``(offset of the record, data length)`` of every record; CorruptShardError on a
    header that does not fit in the file."""
    frames, offset, size = [], 0, len(buffer)
    while offset < size:
        if offset + _HEADER > size:
            raise CorruptShardError(f"{shard}: truncated record header at byte {offset:,} "
                                    f"(record {len(frames)}; the file has {size:,} bytes)")
        length = int.from_bytes(buffer[offset:offset + 8], "little")
        end = offset + _HEADER + length + _FOOTER
        if end > size:
            _check_length_crcs(buffer, [(offset, length)], shard, first_record=len(frames))
            raise CorruptShardError(f"{shard}: record {len(frames)} at byte {offset:,} "
                                    f"claims {length:,} bytes of data, past the end of the "
                                    f"file ({size:,} bytes): truncated shard")
        frames.append((offset, length))
        offset = end
    return frames


def _check_length_crcs(buffer: bytes, frames, shard: Path, first_record: int = 0) -> None:
    array = np.frombuffer(buffer, np.uint8)
    starts = np.array([offset for offset, _ in frames], dtype=np.int64)
    lengths = array[starts[:, None] + np.arange(8)]
    stored = array[starts[:, None] + np.arange(8, 12)].copy().view("<u4")[:, 0]
    bad = np.flatnonzero(masked_crc32c(lengths) != stored)
    if len(bad):
        i = int(bad[0])
        raise CorruptShardError(f"{shard}: record {first_record + i} at byte {starts[i]:,}: "
                                f"the crc of its length field does not match (corrupt "
                                f"header)")


def _runs(frames):
    """``(first record, count, data length)`` of each run of consecutive records of one
    length: their data lie at a fixed stride, so one strided view holds a run."""
    runs = []
    for i, (_, length) in enumerate(frames):
        if runs and runs[-1][2] == length:
            runs[-1][1] += 1
        else:
            runs.append([i, 1, length])
    return runs


def _check_data_crcs(buffer: bytes, frames, shard: Path) -> None:
    array = np.frombuffer(buffer, np.uint8)
    for first, count, length in _runs(frames):
        start = frames[first][0] + _HEADER
        stride = _HEADER + length + _FOOTER
        data = np.lib.stride_tricks.as_strided(array[start:], (count, length), (stride, 1),
                                               writeable=False)
        stored = np.lib.stride_tricks.as_strided(array[start + length:], (count, 4),
                                                 (stride, 1), writeable=False)
        stored = np.ascontiguousarray(stored).view("<u4")[:, 0]
        bad = np.flatnonzero(masked_crc32c(data) != stored)
        if len(bad):
            i = first + int(bad[0])
            offset = frames[i][0]
            raise CorruptShardError(
                f"{shard}: record {i} at byte {offset:,} (data bytes {offset + _HEADER:,}.."
                f"{offset + _HEADER + length - 1:,}): the crc of its data does not match "
                f"(corrupt data)")


def read_shard(path, n_columns: int, *, sha256: str | None = None,
               rows: int | None = None) -> np.ndarray:
    """All rows of one shard, float32 ``[rows, n_columns]``, after checking it.

    Args:
        path: the ``.tfrecord`` file.
        n_columns: values per row (the manifest's ``columns``: label first).
        sha256: the manifest's digest of the shard; None skips that check.
        rows: the manifest's row count of the shard; None skips that check.

    Raises:
        CorruptShardError: naming the shard, the record and its byte offset, for a
            truncated file, a length or data CRC that does not match, a record that is not
            whole rows, a sha256 or a row count other than the manifest's.
    """
    path = Path(path)
    buffer = path.read_bytes()
    frames = _frame(buffer, path)
    if frames:
        _check_length_crcs(buffer, frames, path)
        _check_data_crcs(buffer, frames, path)
    row_bytes = 4 * n_columns
    for i, (offset, length) in enumerate(frames):
        if length % row_bytes:
            raise CorruptShardError(f"{path}: record {i} at byte {offset:,} holds {length:,} "
                                    f"bytes, not whole rows of {n_columns} float32 values")
    if sha256 is not None:
        digest = hashlib.sha256(buffer).hexdigest()
        if digest != sha256:
            raise CorruptShardError(f"{path}: sha256 {digest}, the manifest lists {sha256} "
                                    f"(the file changed after the conversion)")
    blocks = [np.frombuffer(buffer, "<f4", length // 4, offset + _HEADER)
              for offset, length in frames]
    data = np.concatenate(blocks) if blocks else np.empty(0, "<f4")
    data = data.reshape(-1, n_columns).astype(np.float32)
    if rows is not None and len(data) != rows:
        raise CorruptShardError(f"{path}: {len(data):,} rows, the manifest lists {rows:,}")
    return data


def read_split(manifest, split: str, *, verify_sha256: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """All rows of a split in file order: ``(features float32 [n, F], labels float32 [n])``,
    equal to ``reproduce.data.tf_reader.read_split``'s, without TensorFlow.

    ``manifest``: the manifest's path (or folder); its shards lie beside it. Every shard's
    CRCs are checked, and its sha256 against the manifest unless ``verify_sha256`` is False.
    """
    folder = manifest_path(manifest).parent
    manifest = load_manifest(manifest)
    if split not in manifest["splits"]:
        raise KeyError(f"{folder}: the manifest has no split {split!r} "
                       f"(it has {', '.join(manifest['splits'])})")
    n_columns = len(manifest["columns"])
    blocks = [read_shard(folder / shard["file"], n_columns, rows=shard["rows"],
                         sha256=shard["sha256"] if verify_sha256 else None)
              for shard in manifest["splits"][split]["shards"]]
    data = np.concatenate(blocks) if blocks else np.empty((0, n_columns), np.float32)
    return np.ascontiguousarray(data[:, 1:]), np.ascontiguousarray(data[:, 0])
