"""The TFRecord shards read with tf.data, for training on Keras's TensorFlow backend.

``reproduce.data.records`` reads the same shards without TensorFlow (the other backends, the
BDT, the figures); ``tests/test_backend_jax.py`` checks that both give the same arrays.
"""

from __future__ import annotations

import numpy as np

from reproduce.data.tfrecords import load_manifest, manifest_path


def split_dataset(manifest, split: str):
    """A tf.data.Dataset of the split's raw blocks, each a float32 tensor [rows, columns].

    ``manifest``: the manifest's path (or folder); its shards lie beside it."""
    import tensorflow as tf

    folder = manifest_path(manifest).parent
    manifest = load_manifest(manifest)
    n_columns = len(manifest["columns"])
    files = [str(folder / s["file"]) for s in manifest["splits"][split]["shards"]]
    ds = tf.data.TFRecordDataset(files, buffer_size=1 << 22)  # file order: deterministic
    return ds.map(lambda raw: tf.reshape(tf.io.decode_raw(raw, tf.float32), [-1, n_columns]),
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def read_split(manifest, split: str) -> tuple[np.ndarray, np.ndarray]:
    """All rows of a split in file order: ``(features float32 [n, F], labels float32 [n])``.

    ``manifest``: the manifest's path (or folder)."""
    blocks = [b.numpy() for b in split_dataset(manifest, split)]
    data = np.concatenate(blocks) if blocks else np.empty((0, 0), np.float32)
    return np.ascontiguousarray(data[:, 1:]), np.ascontiguousarray(data[:, 0])


def shuffled_batches(tfrecord_dir, split: str, batch_size: int = 100, seed: int = 0,
                     shuffle_blocks: int = 64, window_blocks: int = 16):
    """Shuffled ``(features, labels)`` batches streamed from the shards (no full load).

    Blocks are shuffled in a buffer of ``shuffle_blocks``; then ``window_blocks`` blocks at a
    time are concatenated, their rows permuted with one vectorized gather, and cut into
    batches. tf.data handles one element per batch, never one per row, which is what makes
    this fast. For the exact per-epoch permutation used in training see
    ``reproduce.train.training.epoch_blocks``.
    """
    import tensorflow as tf

    n_columns = len(load_manifest(tfrecord_dir)["columns"])

    def to_batches(window):
        rows = (window.merge_dims(0, 1) if isinstance(window, tf.RaggedTensor)
                else tf.reshape(window, [-1, n_columns]))
        rows = tf.gather(rows, tf.random.shuffle(tf.range(tf.shape(rows)[0]), seed=seed))
        n = tf.shape(rows)[0]
        full = n - n % batch_size
        batches = tf.data.Dataset.from_tensor_slices(
            tf.reshape(rows[:full], [-1, batch_size, n_columns]))
        rest = tf.data.Dataset.from_tensors(rows[full:]).filter(lambda r: tf.shape(r)[0] > 0)
        return batches.concatenate(rest)

    ds = split_dataset(tfrecord_dir, split).shuffle(shuffle_blocks, seed=seed)
    ds = ds.ragged_batch(window_blocks).flat_map(to_batches)
    ds = ds.map(lambda b: (b[:, 1:], b[:, 0]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
