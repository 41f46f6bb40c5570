import gzip
import json

import numpy as np
import pytest

from reproduce.datasets import get_dataset
from reproduce.data.tf_reader import read_split, shuffled_batches
from reproduce.data.tfrecords import (InputFormatError, frame_records, load_manifest,
                                      standardization_constants, write_tfrecord_shards)

from conftest import SAMPLE


def test_shards_round_trip_every_split(sample_shards, sample_array, sample_spec):
    for split, (start, end) in sample_spec.splits.items():
        x, y = read_split(sample_shards, split)
        np.testing.assert_array_equal(y, sample_array[start:end, 0])
        np.testing.assert_array_equal(x, sample_array[start:end, 1:])


def test_manifest_lists_shards_rows_and_checksums(sample_shards):
    import hashlib

    manifest = load_manifest(sample_shards)
    assert manifest["columns"][0] == "label" and len(manifest["columns"]) == 29
    train = manifest["splits"]["train"]
    assert train["rows"] == 8984 and len(train["shards"]) == 3
    assert [s["rows"] for s in train["shards"]] == [4096, 4096, 792]  # 256-row records
    for shard in train["shards"]:
        digest = hashlib.sha256((sample_shards / shard["file"]).read_bytes()).hexdigest()
        assert digest == shard["sha256"]


def test_training_statistics_match_numpy(sample_shards, sample_array):
    stats = json.loads((sample_shards / "statistics.json").read_text())
    train = sample_array[:8984, 1:].astype(np.float64)
    np.testing.assert_allclose(stats["mean"], train.mean(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stats["std"], train.std(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(stats["strictly_positive"], train.min(axis=0) > 0)


def test_paper_standardization(sample_shards, sample_array):
    stats = json.loads((sample_shards / "statistics.json").read_text())
    train = sample_array[:8984, 1:].astype(np.float64)
    offset, scale = standardization_constants(stats, list(range(28)), "paper")
    z = (train - offset) / scale
    positive = train.min(axis=0) > 0
    assert positive.any() and (~positive).any()
    np.testing.assert_allclose(z[:, positive].mean(axis=0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(z[:, ~positive].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z[:, ~positive].std(axis=0), 1.0, rtol=1e-5)
    # zscore (the demo's): every feature, positive ones too, to mean 0 / std 1
    offset, scale = standardization_constants(stats, list(range(28)), "zscore")
    z = (train - offset) / scale
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-5)
    offset, scale = standardization_constants(stats, [0, 1], "none")
    assert not offset.any() and (scale == 1).all()
    with pytest.raises(ValueError, match="training.standardize"):
        standardization_constants(stats, [0], "minmax")


def test_shuffled_batches_cover_the_split_once(sample_shards):
    labels = np.concatenate([y.numpy() for _, y in shuffled_batches(sample_shards, "valid", 100)])
    x_ref, y_ref = read_split(sample_shards, "valid")
    assert len(labels) == len(y_ref) and labels.sum() == y_ref.sum()
    assert not np.array_equal(labels, y_ref)


def write_lines(path, lines):
    with gzip.open(path, "wt") as f:
        f.write("".join(line + "\n" for line in lines))


def good_lines(n=20):
    with gzip.open(SAMPLE, "rt") as f:
        return [next(f).rstrip("\n") for _ in range(n)]


def small_spec(rows=20):
    return get_dataset("HIGGS", {"rows": rows, "splits": {
        "train": [0, 10], "valid": [10, 15], "test": [15, rows]}})


@pytest.mark.parametrize("mutate, message", [
    (lambda ls: ls.__setitem__(12, ",".join(ls[12].split(",")[:27])),
     r"line 13: expected 29 columns, found 27"),
    (lambda ls: ls.__setitem__(7, ls[7].replace(ls[7].split(",")[3], "abc", 1)),
     r"line 8, column 4: expected a number, found 'abc'"),
    (lambda ls: ls.__setitem__(4, ls[4].replace(ls[4].split(",")[5], "nan", 1)),
     r"line 5, column 6: expected a finite number"),
    (lambda ls: ls.__setitem__(17, "2" + ls[17][ls[17].index(","):]),
     r"line 18: expected label 0 or 1, found 2"),
])
def test_bad_input_names_file_and_line_and_leaves_nothing(tmp_path, mutate, message):
    lines = good_lines()
    mutate(lines)
    source = tmp_path / "bad.csv.gz"
    write_lines(source, lines)
    out = tmp_path / "out"
    with pytest.raises(InputFormatError, match=message) as info:
        write_tfrecord_shards(source, out, small_spec())
    assert "bad.csv.gz" in str(info.value)
    assert not (out / "manifest.json").exists()
    assert not list(out.glob("*.tfrecord"))


def test_truncated_gzip(tmp_path):
    source = tmp_path / "cut.csv.gz"
    write_lines(source, good_lines() * 50)
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFormatError, match="cut.csv.gz.*(truncated|corrupt)"):
        write_tfrecord_shards(source, tmp_path / "out", small_spec(1000))
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_empty_and_short_files(tmp_path):
    empty = tmp_path / "empty.csv.gz"
    write_lines(empty, [])
    with pytest.raises(InputFormatError, match="empty.csv.gz: empty file"):
        write_tfrecord_shards(empty, tmp_path / "out", small_spec())
    short = tmp_path / "short.csv.gz"
    write_lines(short, good_lines(18))
    with pytest.raises(InputFormatError, match="expected 20 rows, found 18"):
        write_tfrecord_shards(short, tmp_path / "out", small_spec())
    assert not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("length", [0, 1, 3, 15, 16, 17, 118_784])
def test_records_are_framed_as_tensorflows_writer_frames_them(tmp_path, length):
    """The conversion writes TFRecord framing itself (no TensorFlow): byte for byte what
    ``tf.io.TFRecordWriter`` writes for the same records, whatever their length."""
    import tensorflow as tf

    records = np.random.default_rng(length).integers(0, 256, (3, length), dtype=np.uint8)
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as writer:
        for record in records:
            writer.write(record.tobytes())
    assert frame_records(records).tobytes() == (tmp_path / "tf.tfrecord").read_bytes()



def test_only_training_on_tensorflow_imports_it(tmp_path, sample_shards):
    """The conversion, the BDT, the figures' readers and the report run in a process where
    TensorFlow cannot be imported (and never import Keras): their jobs do not pay its
    start-up. The shards written there are the ones written here, byte for byte."""
    from test_backend_jax import run_python

    result = run_python(f"""
        import json, sys
        import reproduce.report.feature_distributions, reproduce.report.mass_after_cut
        import reproduce.report.report, reproduce.train.settings
        from reproduce.data.tfrecords import write_tfrecord_shards
        from reproduce.datasets import get_dataset
        from reproduce.train.bdt import train_bdt
        spec = get_dataset("HIGGS", {{"source": "sample"}})
        write_tfrecord_shards({str(SAMPLE)!r}, "shards", spec, rows_per_shard=4000,
                              rows_per_record=256)
        metrics = train_bdt("shards", scores_path="scores.npz", metrics_path="metrics.json",
                            spec=spec, feature_set="high", seed=1, max_iter=20)
        print(json.dumps({{"test_auc": metrics["test_auc"],
                          "imported": sorted({{"tensorflow", "keras"}} & set(sys.modules))}}))
    """, tmp_path, backend=None, without_tensorflow=True)
    assert result["imported"] == []
    assert 0.6 < result["test_auc"] < 1
    ours, theirs = load_manifest(tmp_path / "shards"), load_manifest(sample_shards)
    assert ours == theirs  # every shard's sha256 and row count
