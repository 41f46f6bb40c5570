"""crc32c (Castagnoli, as iSCSI and TFRecord use it) in numpy, vectorized over many records.

TFRecord frames every record as::

    uint64 length | uint32 masked crc32c(length) | length bytes of data | uint32 masked crc32c(data)

where ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8`` (mod 2**32) and crc32c is the
Castagnoli CRC (reflected polynomial 0x82F63B78). ``reproduce.data.tfrecords`` writes that
framing and ``reproduce.data.records`` checks it, neither with TensorFlow.

CRC is linear over GF(2), so each 16-byte group's CRC comes from 16-bit lookup tables, and the
groups are combined pairwise (``crc(A + B) = shift_len(B)(crc(A)) ^ crc(B)``) in a tree of
log2(groups) levels: every record of a batch at once, about 300 MB/s on one core for
batches of 64 records of 119 kB.
"""

from __future__ import annotations

import functools

import numpy as np

HEADER_BYTES = 12  # a TFRecord's uint64 length + uint32 masked crc of it
FOOTER_BYTES = 4  # its uint32 masked crc of the data
_POLY = 0x82F63B78  # crc32c, reflected
_MASK_DELTA = 0xA282EAD8
_GROUP = 16  # bytes per leaf of the CRC tree: 8 lookups into 16-bit tables


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
