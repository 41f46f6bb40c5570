"""``PaperDropout``'s masks on Keras's JAX backend, from its saved ``SeedGenerator``.

``reproduce.train.dropout.PaperDropout`` draws its masks with TensorFlow's stateless
Philox. On the JAX backend the same layer draws them with ``keras.random.uniform`` from
the layer's own ``SeedGenerator``: its state (a non-trainable variable, advanced once per
minibatch inside the compiled step) is what ``PaperDropout.save_own_variables`` saves, so
a model reloaded to resume draws the masks the uninterrupted run would have drawn. The
masks differ from TensorFlow's (another generator): same backend, same seed, same masks.
``PaperDropout.call`` calls ``paper_dropout_jax`` on every backend but TensorFlow.
"""

from __future__ import annotations

import keras


def paper_dropout_jax(inputs, rate: float, seed_generator):
    """Keep each unit with probability ``1 - rate``, scaled by ``1 / (1 - rate)``: the
    mask ``uniform >= rate``, drawn with ``keras.random.uniform`` from ``seed_generator``."""
    uniform = keras.random.uniform(keras.ops.shape(inputs), dtype=inputs.dtype,
                                   seed=seed_generator)
    keep = keras.ops.cast(uniform >= rate, inputs.dtype)
    return inputs * (1.0 / (1.0 - rate)) * keep

