"""The TFRecord shards read without TensorFlow: framing, both CRCs, the manifest's sha256.

``reproduce.data.tfrecords`` writes every record as one raw little-endian float32 block of
``rows x columns`` values (no ``tf.train.Example``), so reading a shard needs only the
TFRecord framing. Each record is::

    uint64 length | uint32 masked crc32c(length) | length bytes of data | uint32 masked crc32c(data)

all little-endian, where ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8`` (mod 2**32) and
crc32c is the Castagnoli CRC (reflected polynomial 0x82F63B78). Both CRCs of every record
are checked, then the shard's sha256 against the manifest; a mismatch raises
``CorruptShardError`` naming the shard, the record and its byte offset.

The CRCs are computed in numpy, vectorized over every record of a shard at once: CRC is
linear over GF(2), so each 16-byte group's CRC comes from 16-bit lookup tables, and the
groups are combined pairwise (``crc(A + B) = shift_len(B)(crc(A)) ^ crc(B)``) in a tree of
log2(groups) levels. The training backends that do not carry TensorFlow (JAX) train from
``read_split``'s arrays; they equal ``reproduce.data.tfrecords.read_split``'s.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from reproduce.data.tfrecords import load_manifest, manifest_path

_POLY = 0x82F63B78  # crc32c, reflected
_MASK_DELTA = 0xA282EAD8
_GROUP = 16  # bytes per leaf of the CRC tree: 8 lookups into 16-bit tables
_HEADER = 12  # uint64 length + uint32 masked crc of it
_FOOTER = 4


class CorruptShardError(ValueError):
    """A shard whose framing, CRC or sha256 is not what was written; the message names
    the shard, the record and the byte offset."""


# ---------------------------------------------------------------- crc32c in numpy


@functools.cache
def _byte_table() -> np.ndarray:
    """``T[b]``: the register after one step of byte ``b`` from a zero register."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1)
    return table.astype(np.uint32)


def _zero_byte_operator() -> list[int]:
    """The linear map "one zero byte" on the 32-bit register, as the images of its bits."""
    table = _byte_table()
    return [int(table[(1 << i) & 0xFF]) ^ ((1 << i) >> 8) for i in range(32)]


def _apply(operator: list[int], value: int) -> int:
    out, i = 0, 0
    while value:
        if value & 1:
            out ^= operator[i]
        value >>= 1
        i += 1
    return out


@functools.cache
def _shift_operator(n_bytes: int) -> tuple[int, ...]:
    """The map "``n_bytes`` zero bytes" (by squaring), as the images of the 32 bits."""
    result = [1 << i for i in range(32)]  # identity
    power = _zero_byte_operator()
    while n_bytes:
        if n_bytes & 1:
            result = [_apply(power, r) for r in result]
        power = [_apply(power, p) for p in power]
        n_bytes >>= 1
    return tuple(result)


def _span_table(images) -> np.ndarray:
    """The 65,536 XOR-combinations of 16 bit images: ``table[v]`` is the map of ``v``."""
    table = np.zeros(1 << 16, dtype=np.uint32)
    for bit, image in enumerate(images):
        table[1 << bit:2 << bit] = table[:1 << bit] ^ np.uint32(image)
    return table


@functools.cache
def _shift_tables(n_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Two tables applying "``n_bytes`` zero bytes" to a register's low and high halves."""
    operator = _shift_operator(n_bytes)
    return _span_table(operator[:16]), _span_table(operator[16:])


def _shift(values: np.ndarray, n_bytes: int) -> np.ndarray:
    low, high = _shift_tables(n_bytes)
    return low[values & 0xFFFF] ^ high[values >> 16]


@functools.cache
def _leaf_tables() -> np.ndarray:
    """``[8, 65536]``: the CRC (zero start) of a 16-bit word at word position k of 8."""
    table = _byte_table()
    pairs = np.arange(1 << 16, dtype=np.uint32)
    crc = table[pairs & 0xFF]  # the first byte from a zero register, then the second
    crc = table[(crc ^ (pairs >> 8)) & 0xFF] ^ (crc >> 8)
    words = _GROUP // 2
    return np.stack([_shift(crc, 2 * (words - 1 - k)) for k in range(words)])


def _raw_crcs(rows: np.ndarray) -> np.ndarray:
    """The linear CRC part (zero start, no final xor) of each row of a uint8 [R, L] array."""
    n_rows, length = rows.shape
    pad = (-length) % _GROUP  # leading zero bytes leave a zero register unchanged
    if pad:
        rows = np.concatenate([np.zeros((n_rows, pad), np.uint8), rows], axis=1)
    words = np.ascontiguousarray(rows).view("<u2").reshape(n_rows, -1, _GROUP // 2)
    tables = _leaf_tables()
    crcs = tables[0][words[:, :, 0]]
    for k in range(1, _GROUP // 2):
        crcs ^= tables[k][words[:, :, k]]
    span = _GROUP  # bytes covered by each element of ``crcs``
    while crcs.shape[1] > 1:
        if crcs.shape[1] % 2:  # a leading zero group
            crcs = np.concatenate([np.zeros((n_rows, 1), np.uint32), crcs], axis=1)
        crcs = _shift(crcs[:, 0::2], span) ^ crcs[:, 1::2]
        span *= 2
    return crcs[:, 0] if length else np.zeros(n_rows, np.uint32)


def crc32c_rows(rows: np.ndarray) -> np.ndarray:
    """crc32c (Castagnoli, as iSCSI and TFRecord use it) of each row of a uint8 [R, L] array.

    Example:

    >>> import numpy as np
    >>> hex(int(crc32c_rows(np.frombuffer(b"123456789", np.uint8)[None])[0]))
    '0xe3069283'
    """
    rows = np.asarray(rows, dtype=np.uint8)
    start = np.uint32(_apply(_shift_operator(rows.shape[1]), 0xFFFFFFFF))
    return (_raw_crcs(rows) ^ start) ^ np.uint32(0xFFFFFFFF)


def masked_crc32c(rows: np.ndarray) -> np.ndarray:
    """TFRecord's masked crc32c of each row: ``((c >> 15) | (c << 17)) + 0xa282ead8``."""
    crc = crc32c_rows(rows).astype(np.uint64)
    return ((((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF).astype(np.uint32)


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
    equal to ``reproduce.data.tfrecords.read_split``'s, without TensorFlow.

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
