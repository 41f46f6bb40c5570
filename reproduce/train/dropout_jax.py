"""``PaperDropout``'s masks on Keras's JAX backend, from its saved ``SeedGenerator``.

``reproduce.train.dropout.PaperDropout`` draws its masks with TensorFlow's stateless
Philox. On the JAX backend the same layer draws them with ``keras.random.uniform`` from
the layer's own ``SeedGenerator``: its state (a non-trainable variable, advanced once per
minibatch inside the compiled step) is what ``PaperDropout.save_own_variables`` saves, so
a model reloaded to resume draws the masks the uninterrupted run would have drawn. The
masks differ from TensorFlow's (another generator): same backend, same seed, same masks.
"""

from __future__ import annotations

import keras

from reproduce.train.dropout import PaperDropout


def paper_dropout_jax(inputs, rate: float, seed_generator):
    """Keep each unit with probability ``1 - rate``, scaled by ``1 / (1 - rate)``: the
    mask ``uniform >= rate``, drawn with ``keras.random.uniform`` from ``seed_generator``."""
    uniform = keras.random.uniform(keras.ops.shape(inputs), dtype=inputs.dtype,
                                   seed=seed_generator)
    keep = keras.ops.cast(uniform >= rate, inputs.dtype)
    return inputs * (1.0 / (1.0 - rate)) * keep


@keras.saving.register_keras_serializable(package="reproduce")
class PaperDropoutJax(PaperDropout):
    """``PaperDropout`` whose masks come from ``paper_dropout_jax`` (any Keras backend).

    Saved and restored with its generator state, as ``PaperDropout``. Until
    ``PaperDropout.call`` dispatches on the backend itself, the JAX trainer builds this
    layer in its place.

    Args:
        rate: float in [0, 1), the probability of dropping each unit.
        seed: int, seeds the layer's generator.
        **kwargs: passed to ``keras.layers.Layer``.

    Example:

    >>> layer = PaperDropoutJax(0.5, seed=999, name="dropout_top")
    """

    def call(self, inputs, training=False):
        if not training or self.rate <= 0:
            return inputs
        return paper_dropout_jax(inputs, self.rate, self.seed_generator)
