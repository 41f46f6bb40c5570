"""How a training process starts on Keras's backend: the seeds and threads (TensorFlow's
configuration, or JAX's seeds), and the reader of a split for that backend.

``train_run`` and ``train_pack`` call these before anything builds a network.
"""

from __future__ import annotations


def configure_tensorflow(seed: int, threads: int = 0, op_determinism: bool = False) -> None:
    """Seeds every generator, fixes the thread pools and turns on GPU memory growth.

    ``op_determinism=True`` also calls ``tf.config.experimental.enable_op_determinism()``,
    which Keras answers by turning XLA off. It is not needed on the CPU: the ops of these
    networks are deterministic there with or without XLA (the tests check bit-identical
    weights across runs and across a kill and resume).
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if op_determinism:
        tf.config.experimental.enable_op_determinism()
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError:
            pass  # already initialized in this process
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass


def configure_backend(seed: int, threads: int = 0) -> None:
    """Seed the run on Keras's backend: ``configure_tensorflow`` on TensorFlow; on JAX
    (deterministic on the CPU as it is) only the seeds, importing no TensorFlow."""
    import keras

    if keras.backend.backend() == "tensorflow":
        configure_tensorflow(seed, threads)
    else:
        from reproduce.backend import set_random_seed

        set_random_seed(seed)


def read_split(manifest, split: str):
    """A split's (x, y): TensorFlow's reader on TensorFlow, ``reproduce.data.records``'s
    (no TensorFlow; the same arrays) on the other backends."""
    import keras

    if keras.backend.backend() == "tensorflow":
        from reproduce.data.tf_reader import read_split as tf_read_split

        return tf_read_split(manifest, split)
    from reproduce.data.records import read_split as records_read_split

    return records_read_split(manifest, split)


def validation_data(x, y, batch_size: int) -> dict:
    """``fit``'s validation keywords for the rows ``x``, labels ``y``: the batches
    ``evaluate(x, y, batch_size)`` cuts, so the same values.

    On TensorFlow they are given as one ``tf.data`` dataset of those batches: Keras turns
    arrays into its array adapter's pipeline, whose iterator, made anew for every epoch's
    evaluation, costs about 25 ms (a fifth of a small run's epoch: the demo's shallow run
    trains 78 epochs in 9 s instead of 12 s, the same log bit for bit). On the other
    backends the arrays, which their ``evaluate`` slices as they are.
    """
    import keras

    y = y.reshape(-1, 1)
    if keras.backend.backend() != "tensorflow":
        return {"validation_data": (x, y), "validation_batch_size": batch_size}
    import tensorflow as tf

    return {"validation_data": tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)}
