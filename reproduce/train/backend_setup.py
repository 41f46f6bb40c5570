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
