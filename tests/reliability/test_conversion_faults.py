"""Faults of the CSV.gz -> TFRecord conversion (``reproduce.data.tfrecords``), each in a real
gzip file or a real killed process; every result is checked against numpy's own parse."""

import json

import numpy as np
import pytest

from reproduce.data.records import read_split
from reproduce.data.tfrecords import InputFormatError, load_manifest, write_tfrecord_shards


def numpy_reference(lines):
    """The rows as numpy parses them: the independent reference for the converter."""
    return np.array([[float(v) for v in line.split(",")] for line in lines], np.float32)


def assert_shards_hold(out, spec, reference):
    for split, (start, end) in spec.splits.items():
        x, y = read_split(out, split)
        np.testing.assert_array_equal(y, reference[start:end, 0])
        np.testing.assert_array_equal(x, reference[start:end, 1:])
    listed = {s["file"] for split in load_manifest(out)["splits"].values()
              for s in split["shards"]}
    assert {p.name for p in out.glob("*.tfrecord")} == listed


def assert_nothing_left(out):
    assert not (out / "manifest.json").exists() and not list(out.glob("*.tfrecord"))


def with_label(line, label):
    return label + line[line.index(","):]


@pytest.mark.parametrize("fault, message", [
    ("header", r"line 1, column 1: expected a number, found 'label'"),
    ("inf", r"line 4, column 3: expected a finite number, found inf"),
    ("label 0.5", r"line 7: expected label 0 or 1, found 0.5"),
    ("more rows", r"expected 20 rows, found 25"),
])
def test_bad_rows_name_file_and_line_and_leave_nothing(tmp_path, sample, write_csv_gz,
                                                       higgs_spec, fault, message):
    lines = list(sample.lines[:20])
    if fault == "header":
        lines.insert(0, ",".join(higgs_spec().columns))
        lines.pop()
    elif fault == "inf":
        fields = lines[3].split(",")
        fields[2] = "inf"
        lines[3] = ",".join(fields)
    elif fault == "label 0.5":
        lines[6] = with_label(lines[6], "0.5")
    elif fault == "more rows":
        lines += sample.lines[20:25]
    source = write_csv_gz(tmp_path / "HIGGS.csv.gz", lines)
    out = tmp_path / "out"
    with pytest.raises(InputFormatError, match=f"HIGGS.csv.gz.*{message}"):
        write_tfrecord_shards(source, out, higgs_spec())
    assert_nothing_left(out)


def test_not_gzip_although_named_csv_gz(tmp_path, sample, higgs_spec):
    source = tmp_path / "HIGGS.csv.gz"
    source.write_text("\n".join(sample.lines[:20]) + "\n")
    out = tmp_path / "out"
    with pytest.raises(InputFormatError, match="HIGGS.csv.gz: truncated or corrupt gzip"):
        write_tfrecord_shards(source, out, higgs_spec())
    assert_nothing_left(out)


@pytest.mark.parametrize("newline, members", [("\r\n", 1), ("\n", 3)], ids=["CRLF",
                                                                          "3 gzip members"])
def test_crlf_and_concatenated_gzip_members_convert_exactly(tmp_path, sample, write_csv_gz,
                                                             higgs_spec, newline, members):
    """Windows line ends and a file of several gzip members (as ``cat a.gz b.gz`` makes)."""
    lines = sample.lines[:20]
    source = write_csv_gz(tmp_path / "HIGGS.csv.gz", lines, newline=newline, members=members)
    out = tmp_path / "out"
    write_tfrecord_shards(source, out, higgs_spec(), rows_per_shard=4, rows_per_record=2)
    assert_shards_hold(out, higgs_spec(), numpy_reference(lines))


def test_split_with_one_class_stops_the_conversion(tmp_path, sample, write_csv_gz,
                                                   higgs_spec):
    """Issue 12, defect 6: rows 10..15 (the validation split) are all signal."""
    lines = list(sample.lines[:20])
    lines[10:15] = [with_label(line, "1.000000000000000000e+00") for line in lines[10:15]]
    source = write_csv_gz(tmp_path / "HIGGS.csv.gz", lines)
    out = tmp_path / "out"
    with pytest.raises(InputFormatError, match=r"HIGGS.csv.gz: split 'valid' \(rows 10..15\) "
                       r"has only one class: 5 signal \(label 1\) and 0 background \(label 0\)"
                       r".*dataset_overrides.HIGGS.splits"):
        write_tfrecord_shards(source, out, higgs_spec())
    assert_nothing_left(out)


def test_changed_rows_per_shard_leaves_no_orphan_shards(tmp_path, sample, higgs_spec):
    """Issue 12, defect 8: 3 train shards, then 2; the first conversion's names go."""
    spec = higgs_spec(rows=len(sample.lines),
                      splits={"train": [0, 8984], "valid": [8984, 9984],
                              "test": [9984, len(sample.lines)]})
    out = tmp_path / "out"
    write_tfrecord_shards(sample.path, out, spec, rows_per_shard=4000, rows_per_record=256)
    first = {p.name for p in out.glob("*.tfrecord")}
    write_tfrecord_shards(sample.path, out, spec, rows_per_shard=6000, rows_per_record=256)
    assert "train-00002-of-00003.tfrecord" in first
    assert not {p.name for p in out.glob("train-*-of-00003.tfrecord")}
    assert_shards_hold(out, spec, numpy_reference(sample.lines))
    manifest = json.loads((out / "manifest.json").read_text())
    labels = numpy_reference(sample.lines)[:, 0]
    for split, (start, end) in spec.splits.items():
        assert manifest["splits"][split]["signal_rows"] == int(labels[start:end].sum())


def test_sigkilled_conversion_leaves_no_manifest_and_reruns_cleanly(
        tmp_path, sample, higgs_spec, python_child, sigkill_when):
    """A real conversion process killed with SIGKILL once its first shards are written;
    the rerun gives the exact rows, and only the new manifest's shards remain."""
    source = tmp_path / "HIGGS.csv.gz"
    source.write_bytes(sample.data * 10)  # 10 gzip members, 109,840 rows: killed midway
    n = len(sample.lines) * 10
    splits = {"train": [0, n - 20000], "valid": [n - 20000, n - 10000], "test": [n - 10000, n]}
    out = tmp_path / "out"
    child = python_child(
        "from reproduce.datasets import get_dataset\n"
        "from reproduce.data.tfrecords import write_tfrecord_shards\n"
        f"spec = get_dataset('HIGGS', {{'rows': {n}, 'splits': {splits!r}}})\n"
        f"write_tfrecord_shards({str(source)!r}, {str(out)!r}, spec, rows_per_shard=2000,"
        " rows_per_record=500)")
    sigkill_when(child, lambda: len(list(out.glob("train-*.tfrecord"))) >= 2)
    assert not (out / "manifest.json").exists()  # nothing that looks complete
    spec = higgs_spec(rows=n, splits=splits)
    write_tfrecord_shards(source, out, spec, rows_per_shard=2000, rows_per_record=500)
    assert_shards_hold(out, spec, np.tile(numpy_reference(sample.lines), (10, 1)))
