"""CSV.gz to TFRecord shards, per-feature statistics, and the shards' manifest.

Format (``FORMAT_VERSION`` 1): each split is a set of shards
``<split>-<i>-of-<n>.tfrecord``; every TFRecord record is one raw little-endian float32 block
of ``rows x n_columns`` values (label first, then the features in file order), not one
``tf.train.Example`` per row. ``manifest.json`` (written last, so its presence means the
conversion finished) lists the columns, the rows of every shard and its sha256, and per
split the ``rows_sha256``: the sha256 of the split's rows as float32 little-endian, in order,
whatever the sharding (what a training's fingerprint holds of the data);
``statistics.json`` holds the training split's per-feature mean, std, min and max.

Nothing here needs TensorFlow: the records are framed as ``tf.io.TFRecordWriter`` frames them
(``frame_records``). The shards are read by ``reproduce.data.records`` (numpy, every CRC and
sha256 checked) and by ``reproduce.data.tf_reader`` (tf.data, for training on TensorFlow).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import time
import zlib
from pathlib import Path

import numpy as np

from reproduce.atomic_files import sha256_of, write_json_atomic
from reproduce.data.crc32c import FOOTER_BYTES, HEADER_BYTES, masked_crc32c
from reproduce.datasets import DatasetSpec
from reproduce.layout import TFRecordFiles

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SPLITS = ("train", "valid", "test")


class InputFormatError(ValueError):
    """The CSV file does not have the data set's layout; the message names file and line."""


# The data sets' files have none; skipped, they would shift every later error's line number.
BLANK_LINES = ("blank lines are not accepted: every line of the file is one event; "
               "delete the blank lines or fetch the file again")


# ---------------------------------------------------------------- locating bad input


def _first_bad_line(path: Path, n_columns: int) -> str:
    """Scan the file line by line (slow; only on the error path) for the first bad line."""
    lineno = 0
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    return f"{path}, line {lineno:,}: blank line ({BLANK_LINES})"
                fields = line.rstrip("\n").split(",")
                if len(fields) != n_columns:
                    return (f"{path}, line {lineno:,}: expected {n_columns} columns, "
                            f"found {len(fields)}")
                for col, field in enumerate(fields):
                    try:
                        value = float(field)
                    except ValueError:
                        return (f"{path}, line {lineno:,}, column {col + 1}: expected a "
                                f"number, found {field.strip()[:40]!r}")
                    if not math.isfinite(value):
                        return (f"{path}, line {lineno:,}, column {col + 1}: expected a "
                                f"finite number, found {field.strip()!r}")
                if fields[0].strip() and float(fields[0]) not in (0.0, 1.0):
                    return (f"{path}, line {lineno:,}: expected label 0 or 1, found "
                            f"{fields[0].strip()!r}")
    except (EOFError, OSError, zlib.error) as exc:
        return f"{path}: truncated or corrupt gzip data after line {lineno:,} ({exc})"
    if lineno == 0:
        return f"{path}: empty file"
    return f"{path}: unreadable CSV"


def _check_block(block: np.ndarray, first_line: int, path: Path) -> None:
    bad = ~np.isfinite(block)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputFormatError(f"{path}, line {first_line + row:,}, column {col + 1}: "
                               f"expected a finite number, found {block[row, col]}")
    labels = block[:, 0]
    bad_label = (labels != 0) & (labels != 1)
    if bad_label.any():
        row = int(np.argmax(bad_label))
        raise InputFormatError(f"{path}, line {first_line + row:,}: expected label 0 or 1, "
                               f"found {labels[row]}")


def iter_csv_blocks(path, n_columns: int, block_bytes: int = 1 << 24):
    """Yield ``(first_line, float32 array [rows, n_columns])`` blocks of a CSV(.gz) file.

    One streaming pass with bounded memory, parsed by pyarrow's multithreaded reader.
    Any malformed line raises InputFormatError naming the file, the line (1-based, of the
    file) and the problem; a blank line is malformed (``BLANK_LINES``).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    compression = "gzip" if path.suffix == ".gz" else None
    names = [f"c{i}" for i in range(n_columns)]
    try:
        stream = pa.input_stream(str(path), compression=compression)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, block_size=block_bytes),
            parse_options=pacsv.ParseOptions(delimiter=",", ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.float32() for n in names}),
        )
        line = 1
        for batch in reader:
            if batch.num_rows == 0:
                continue
            block = np.empty((batch.num_rows, n_columns), dtype=np.float32)
            for i in range(n_columns):
                column = batch.column(i)
                if column.null_count:
                    raise pa.ArrowInvalid("empty field")
                block[:, i] = column.to_numpy(zero_copy_only=False)
            _check_block(block, line, path)
            yield line, block
            line += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError, EOFError) as exc:
        if isinstance(exc, InputFormatError):
            raise
        raise InputFormatError(_first_bad_line(path, n_columns)) from exc


# ---------------------------------------------------------------- writing shards


class _RunningStats:
    """Per-column count, sum, sum of squares, min and max in float64, one block at a time."""

    def __init__(self, n: int):
        self.count = 0
        self.sum = np.zeros(n)
        self.sumsq = np.zeros(n)
        self.min = np.full(n, np.inf)
        self.max = np.full(n, -np.inf)

    def add(self, block: np.ndarray) -> None:
        b = block.astype(np.float64)
        self.count += len(b)
        self.sum += b.sum(axis=0)
        self.sumsq += np.square(b).sum(axis=0)
        self.min = np.minimum(self.min, b.min(axis=0))
        self.max = np.maximum(self.max, b.max(axis=0))

    def as_dict(self, names) -> dict:
        mean = self.sum / self.count
        var = np.maximum(self.sumsq / self.count - mean**2, 0.0)
        return {
            "rows": int(self.count),
            "features": list(names),
            "mean": mean.tolist(),
            "std": np.sqrt(var).tolist(),
            "min": self.min.tolist(),
            "max": self.max.tolist(),
        }


def open_shard(path: Path):
    """A new shard's file, open for writing bytes."""
    return open(path, "wb")  # noqa: SIM115 (the writer closes it)


def frame_records(records: np.ndarray) -> np.ndarray:
    """TFRecord framing of each row of a uint8 ``[n, length]`` array: ``[n, 16 + length]``
    bytes, each row one record (``reproduce.data.crc32c`` describes the layout), byte for
    byte as ``tf.io.TFRecordWriter`` writes it:

    >>> frame_records(np.frombuffer(b"abc", np.uint8)[None]).tobytes().hex()
    '0300000000000000b099490e6162636e57f121'
    """
    n, length = records.shape
    size = np.frombuffer(np.uint64(length).astype("<u8").tobytes(), np.uint8)
    end = HEADER_BYTES + length
    framed = np.empty((n, end + FOOTER_BYTES), np.uint8)
    framed[:, :8] = size
    framed[:, 8:HEADER_BYTES] = masked_crc32c(size[None]).astype("<u4").view(np.uint8)
    framed[:, HEADER_BYTES:end] = records
    framed[:, end:] = masked_crc32c(records).astype("<u4").view(np.uint8).reshape(n, 4)
    return framed


class _ShardWriter:
    """Writes one split's rows into fixed-size shards of fixed-size raw float32 records."""

    def __init__(self, out_dir: Path, split: str, total_rows: int, rows_per_shard: int,
                 rows_per_record: int, n_columns: int):
        self.out_dir, self.split = out_dir, split
        self.rows_per_shard, self.rows_per_record = rows_per_shard, rows_per_record
        self.n_shards = max(1, math.ceil(total_rows / rows_per_shard))
        self.n_columns = n_columns
        self.shards = []  # [{"file", "rows", "sha256"}]
        self.rows = 0  # rows added so far
        self.signal_rows = 0  # of which label 1
        self.rows_sha256 = hashlib.sha256()  # the rows' float32 bytes, in order
        self._writer = None
        self._rows_in_shard = 0
        self._pending = []
        self._pending_rows = 0

    def _open_next(self):
        name = f"{self.split}-{len(self.shards):05d}-of-{self.n_shards:05d}.tfrecord"
        self.shards.append({"file": name, "rows": 0})
        self._writer = open_shard(self.out_dir / name)
        self._rows_in_shard = 0

    def _write_records(self, rows: np.ndarray, rows_per_record: int):
        """``rows`` as records of ``rows_per_record`` rows each (its length a multiple), their
        CRCs computed together; a shard is closed once it holds ``rows_per_shard`` rows."""
        framed = frame_records(np.ascontiguousarray(rows, dtype="<f4").reshape(
            -1, rows_per_record * self.n_columns).view(np.uint8))
        for record in framed:
            if self._writer is None:
                self._open_next()
            self._writer.write(record.data)
            self._rows_in_shard += rows_per_record
            self.shards[-1]["rows"] += rows_per_record
            if self._rows_in_shard >= self.rows_per_shard:
                self._writer.close()
                self._writer = None

    def add(self, block: np.ndarray):
        self.rows += len(block)
        self.signal_rows += int(np.count_nonzero(block[:, 0]))
        self.rows_sha256.update(np.ascontiguousarray(block, dtype="<f4").tobytes())
        self._pending.append(block)
        self._pending_rows += len(block)
        if self._pending_rows >= self.rows_per_record:
            rows = np.concatenate(self._pending)
            full = len(rows) - len(rows) % self.rows_per_record
            self._write_records(rows[:full], self.rows_per_record)
            rest = rows[full:]
            self._pending = [rest] if len(rest) else []
            self._pending_rows = len(rest)

    def close(self):
        if self._pending_rows:
            self._write_records(np.concatenate(self._pending), self._pending_rows)
            self._pending, self._pending_rows = [], 0
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for shard in self.shards:
            shard["sha256"] = sha256_of(self.out_dir / shard["file"])

    def discard(self):
        """Close the open shard, if any, and delete every shard written (after an error); a
        close that fails again (a full disk) is logged, so the caller sees the first error."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception as exc:  # noqa: BLE001 (the cleanup must reach the unlinks)
                log.warning("closing %s after an error failed too: %s",
                            self.shards[-1]["file"] if self.shards else self.split, exc)
        for shard in self.shards:
            (self.out_dir / shard["file"]).unlink(missing_ok=True)


def check_both_classes(writers: dict, spec: DatasetSpec, csv_path: Path) -> None:
    """Raise InputFormatError naming the split if a split holds only one class.

    Training, the validation AUC and the test ROC all need signal and background events;
    finding out after a day of training is too late.
    """
    for split, writer in writers.items():
        rows, signal = writer.rows, writer.signal_rows
        if signal == 0 or signal == rows:
            start, end = spec.splits[split]
            raise InputFormatError(
                f"{csv_path}: split {split!r} (rows {start:,}..{end:,}) has only one class: "
                f"{signal:,} signal (label 1) and {rows - signal:,} background (label 0) "
                f"events; every split needs both (change dataset_overrides.{spec.name}"
                f".splits, or check the file)")


def remove_shards_not_in_manifest(out_dir: Path, manifest: dict) -> list[Path]:
    """Delete the ``.tfrecord`` files of ``out_dir`` that ``manifest`` does not list.

    A conversion with another ``rows_per_shard`` (or a killed one) leaves shards under
    other names; nothing but the manifest's shards may stand beside it.

    Returns:
        The paths removed.
    """
    listed = {shard["file"] for split in manifest["splits"].values()
              for shard in split["shards"]}
    orphans = [path for path in sorted(Path(out_dir).glob("*.tfrecord"))
               if path.name not in listed]
    for path in orphans:
        path.unlink()
        log.info("removed %s: not in the new manifest", path.name)
    return orphans


def write_tfrecord_shards(csv_path, files, spec: DatasetSpec, *, rows_per_shard: int = 1_000_000,
                          rows_per_record: int = 1024, progress_every: float = 30.0) -> dict:
    """Convert a data set's CSV.gz into TFRecord shards per split, plus statistics.

    Args:
        csv_path: the ``.csv.gz`` (or ``.csv``) in the data set's layout.
        files: a ``reproduce.layout.TFRecordFiles`` (the manifest and statistics paths;
            the shards go beside the manifest), or a folder for its standard layout.
        spec: the DatasetSpec giving columns, row count and splits.
        rows_per_shard: rows per ``.tfrecord`` file.
        rows_per_record: rows per TFRecord record (one raw float32 block).
        progress_every: seconds between progress lines in the log.

    Returns:
        The manifest dict (with each split's rows and signal rows). On any error the shards
        written so far are removed, no manifest is written, and InputFormatError names the
        file and line, or the split that holds only one class. Shards of an earlier
        conversion that the new manifest does not list are removed.
    """
    if not isinstance(files, TFRecordFiles):
        files = TFRecordFiles.in_folder(files)
    csv_path, out_dir = Path(csv_path), Path(files.manifest).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    Path(files.statistics).parent.mkdir(parents=True, exist_ok=True)
    for stale in (files.manifest, files.statistics):
        Path(stale).unlink(missing_ok=True)
    writers = {
        split: _ShardWriter(out_dir, split, end - start, rows_per_shard, rows_per_record,
                            len(spec.columns))
        for split, (start, end) in spec.splits.items()
    }
    stats = _RunningStats(len(spec.features))
    t0 = time.monotonic()
    try:
        rows_seen = _convert_rows(csv_path, spec, writers, stats, progress_every)
        check_both_classes(writers, spec, csv_path)
        for writer in writers.values():
            writer.close()
    except BaseException:
        for writer in writers.values():
            writer.discard()
        raise
    statistics = stats.as_dict(spec.features)
    statistics["strictly_positive"] = [m > 0 for m in statistics["min"]]
    manifest = _manifest(csv_path, spec, writers, rows_per_record)
    write_json_atomic(files.statistics, statistics)
    write_json_atomic(files.manifest, manifest)
    remove_shards_not_in_manifest(out_dir, manifest)
    log.info("%s: %s rows in %.1f s", csv_path.name, f"{rows_seen:,}", time.monotonic() - t0)
    return manifest


def _convert_rows(csv_path: Path, spec: DatasetSpec, writers: dict, stats: _RunningStats,
                  progress_every: float) -> int:
    """Every row of ``csv_path`` to the writer of its split (the training rows also into
    ``stats``), with a progress line every ``progress_every`` seconds; returns the rows read.

    Raises InputFormatError if the file holds no row, or not ``spec.rows``.
    """
    t0 = last = time.monotonic()
    rows_seen = 0
    for first_line, block in iter_csv_blocks(csv_path, len(spec.columns)):
        start_row = first_line - 1
        end_row = start_row + len(block)
        for split, (s0, s1) in spec.splits.items():
            lo, hi = max(s0, start_row), min(s1, end_row)
            if lo < hi:
                part = block[lo - start_row:hi - start_row]
                writers[split].add(part)
                if split == "train":
                    stats.add(part[:, 1:])
        rows_seen = end_row
        now = time.monotonic()
        if now - last >= progress_every:
            last = now
            log.info("%s: %s rows converted, %.0f rows/s", csv_path.name,
                     f"{rows_seen:,}", rows_seen / (now - t0))
    if rows_seen == 0:
        raise InputFormatError(f"{csv_path}: empty file, expected {spec.rows:,} rows")
    if rows_seen != spec.rows:
        raise InputFormatError(f"{csv_path}: expected {spec.rows:,} rows, found "
                               f"{rows_seen:,} (truncated file, or the wrong file?)")
    return rows_seen


def _manifest(csv_path: Path, spec: DatasetSpec, writers: dict, rows_per_record: int) -> dict:
    """The manifest of a finished conversion: the format, the columns, each split's shards."""
    return {
        "format_version": FORMAT_VERSION,
        "dataset": spec.name,
        "source": csv_path.name,
        "columns": list(spec.columns),
        "dtype": "float32 little-endian, rows x columns per record",
        "rows_per_record": rows_per_record,
        "splits": {
            split: {"range": list(spec.splits[split]),
                    "rows": sum(s["rows"] for s in writers[split].shards),
                    "signal_rows": writers[split].signal_rows,
                    "rows_sha256": writers[split].rows_sha256.hexdigest(),
                    "shards": writers[split].shards}
            for split in SPLITS
        },
    }


# ---------------------------------------------------------------- reading


def manifest_path(manifest) -> Path:
    """The path of a manifest given as its file or as its folder (the standard layout)."""
    path = Path(manifest)
    return TFRecordFiles.in_folder(path).manifest if path.is_dir() else path


def load_manifest(manifest) -> dict:
    """A manifest (its path, or its folder); ValueError if absent or of another format
    version."""
    path = manifest_path(manifest)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no manifest (conversion not finished?)")
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {manifest.get('format_version')}, "
                         f"this code reads {FORMAT_VERSION}")
    return manifest


# ---------------------------------------------------------------- standardization

# each training.standardize value and what it feeds the networks (the report's words)
STANDARDIZATIONS = {
    "none": "the UCI values as they are, as the authors' code fed them",
    "paper": "the Methods text: mean 0 / std 1, strictly positive features mean 1",
    "zscore": "every feature to mean 0 / std 1 on the training split, not the paper's"}


def standardization_constants(statistics: dict, feature_indices, method: str):
    """``(offset, scale)`` arrays such that ``(x - offset) / scale`` is the model input.

    ``none``: the UCI values as they are (what the authors' released code fed the nets).
    ``paper``: the Methods text: mean 0 / std 1, except strictly positive features (minimum
    of the training split > 0), which are divided by their mean to have mean 1.
    ``zscore``: mean 0 / std 1 for every feature, positive ones included (scikit-learn's
    ``StandardScaler`` on the training split; neither the text nor the code: the demo's,
    whose few thousand SGD steps converge slowly on inputs of mean ~1, see docs/demo.md).
    """
    n = len(feature_indices)
    if method == "none":
        return np.zeros(n, np.float32), np.ones(n, np.float32)
    if method not in STANDARDIZATIONS:
        raise ValueError(f"training.standardize: expected one of {tuple(STANDARDIZATIONS)}, "
                         f"got {method!r}")
    mean = np.asarray(statistics["mean"])[feature_indices]
    std = np.asarray(statistics["std"])[feature_indices]
    safe_std = np.where(std > 0, std, 1.0)
    if method == "zscore":
        return mean.astype(np.float32), safe_std.astype(np.float32)
    positive = np.asarray(statistics["strictly_positive"])[feature_indices]
    offset = np.where(positive, 0.0, mean)
    scale = np.where(positive, mean, safe_std)
    return offset.astype(np.float32), scale.astype(np.float32)
