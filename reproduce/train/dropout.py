"""The dropout runs' layer: Keras's ``Dropout``, fast under XLA on the CPU and resumable."""

from __future__ import annotations

import keras

from reproduce.train.dropout_jax import paper_dropout_jax

# Recorded in the fingerprint of the dropout runs (``reproduce.train.resume``): a state saved
# before this layer (Keras's ``Dropout``, whose generator state was not saved) is not resumed,
# as it would repeat the first masks.
DROPOUT_LAYER = "PaperDropout: generator state saved with the model"


@keras.saving.register_keras_serializable(package="reproduce")
class PaperDropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` with masks that XLA compiles to fast code, saved with its state.

    In training, each unit is kept with probability ``1 - rate`` and scaled by
    ``1 / (1 - rate)``; at inference the layer passes its input through. With the same seed
    it gives the same outputs as Keras's ``Dropout`` (TensorFlow backend, CPU; a test checks
    it), but:

    * The mask is drawn with ``tf.random.stateless_uniform(..., alg="philox")``. Keras's
      TensorFlow backend calls ``tf.nn.experimental.stateless_dropout``, whose generator
      "auto_select" is Philox on the CPU too, but which XLA compiles on the CPU to code so
      slow that the deep net trained about 10x slower with it than without dropout; with
      Philox named, the dropout net trains at about 0.8x the deep net's rate: what is left
      is Philox itself (``benchmarks/dropout_throughput.py``).
    * The layer's ``SeedGenerator`` state (advanced once per minibatch) is saved by
      ``model.save`` and restored by ``keras.models.load_model``. Keras's ``Dropout`` does
      not save it, so a model loaded to resume training would draw the first minibatch's
      masks again.

    On Keras's JAX backend the masks come from ``keras.random.uniform`` with the same saved
    generator (``reproduce.train.dropout_jax.paper_dropout_jax``): other masks than
    TensorFlow's, the same ones for the same seed on that backend.

    Same seed, same masks: the masks are a function of ``seed`` and the number of training
    minibatches the layer has seen (on one device, with or without a reload in between).

    Args:
        rate: float in [0, 1), the probability of dropping each unit.
        seed: int, seeds the layer's generator (None: a random seed).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ...). ``noise_shape`` is not
            supported: every unit of every example gets its own draw.

    Example:

    >>> import keras, numpy as np
    >>> inputs = keras.Input((3,))
    >>> x = keras.layers.Dense(300, activation="tanh")(inputs)
    >>> x = PaperDropout(0.5, seed=999, name="dropout_top")(x)
    >>> drop = PaperDropout(0.5, seed=1)
    >>> ones = np.ones((1, 1000), np.float32)
    >>> bool(np.array_equal(drop(ones), ones))  # not training: the identity
    True
    >>> kept = np.asarray(drop(ones, training=True))
    >>> sorted(set(kept.ravel().tolist()))  # dropped, or kept and scaled by 1 / (1 - rate)
    [0.0, 2.0]
    """

    def __init__(self, rate, seed=None, **kwargs):
        if kwargs.get("noise_shape") is not None:
            raise ValueError(f"PaperDropout draws one value per unit: noise_shape must be "
                             f"None, got {kwargs['noise_shape']!r}")
        kwargs.pop("noise_shape", None)
        super().__init__(rate, seed=seed, **kwargs)

    def call(self, inputs, training=False):
        if not training or self.rate <= 0:
            return inputs
        if keras.backend.backend() != "tensorflow":
            return paper_dropout_jax(inputs, self.rate, self.seed_generator)
        import tensorflow as tf

        seed = self.seed_generator.next()
        # the int32 seed of Keras's TensorFlow backend (its SeedGenerator state is int64)
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
        uniform = tf.random.stateless_uniform(tf.shape(inputs), seed, dtype=inputs.dtype,
                                              alg="philox")
        keep = tf.cast(uniform >= self.rate, inputs.dtype)
        return inputs * (1.0 / (1.0 - self.rate)) * keep

    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.rate > 0:
            store["seed_generator_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        # Keras's own check counts variables, and the layer has none besides this state
        if "seed_generator_state" in store:
            self.seed_generator.state.assign(store["seed_generator_state"])
