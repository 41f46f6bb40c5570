"""The dropout runs' layer (``reproduce.train.dropout.PaperDropout``) and its place in the nets."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import reproduce.train.keras_objects  # noqa: F401  (registers the package's objects)
from reproduce.train.dropout import PaperDropout
from reproduce.train.models import paper_model


def masks(layer, calls, shape=(100, 300), jit=False):
    """The kept-unit masks (boolean arrays) of ``calls`` consecutive training calls."""
    ones = tf.ones(shape)
    step = tf.function(lambda: layer(ones, training=True), jit_compile=jit)
    return [step().numpy() != 0 for _ in range(calls)]


@pytest.mark.parametrize("rate", [0.5, 0.2])
def test_drops_each_unit_with_the_rate_and_scales_the_kept_ones(rate):
    layer = PaperDropout(rate, seed=7)
    x = np.random.default_rng(0).normal(size=(400, 300)).astype(np.float32)  # 120,000 units
    out = layer(x, training=True).numpy()
    dropped = out == 0
    # a binomial count: within 5 standard deviations of n * rate
    n = x.size
    assert abs(dropped.sum() - n * rate) < 5 * np.sqrt(n * rate * (1 - rate))
    np.testing.assert_allclose(out[~dropped], x[~dropped] / (1 - rate), rtol=1e-6)
    # whole rows and whole columns are not dropped together: each unit draws its own
    assert 0 < dropped.sum(axis=0).min() and dropped.sum(axis=0).max() < 400
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)


def test_training_and_inference_outputs_of_the_dropout_net():
    """In training about half of the top layer's 300 units are zeroed; inference uses all."""
    net = paper_model("deep", 28, seed=1, dropout=True)
    x = np.random.default_rng(1).normal(size=(200, 28)).astype(np.float32)
    top = keras.Model(net.input, net.get_layer("dropout_top").output)
    below = keras.Model(net.input, net.get_layer("hidden_4").output)(x).numpy()
    trained = top(x, training=True).numpy()
    assert not (below == 0).any()  # tanh units are never exactly 0 here
    share = (trained == 0).mean()
    assert abs(share - 0.5) < 5 * np.sqrt(0.25 / trained.size)
    np.testing.assert_array_equal(top(x, training=False).numpy(), below)
    assert not np.allclose(net(x, training=True).numpy(), net(x, training=False).numpy())
    # predict (how the package scores) is inference: no unit dropped
    np.testing.assert_allclose(net.predict(x, verbose=0), net(x, training=False).numpy(),
                               rtol=1e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_same_seed_same_masks_fresh_mask_each_call(jit):
    a = masks(PaperDropout(0.5, seed=11), 3, jit=jit)
    b = masks(PaperDropout(0.5, seed=11), 3, jit=jit)
    c = masks(PaperDropout(0.5, seed=12), 3, jit=jit)
    for m, n in zip(a, b):
        np.testing.assert_array_equal(m, n)
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    assert not np.array_equal(a[0], c[0])
    # masks of different calls agree on about half of the units (independent draws)
    assert abs((a[0] == a[1]).mean() - 0.5) < 0.02


def test_the_generator_state_survives_save_and_load(tmp_path):
    """A model saved after some minibatches and loaded again draws the masks the original
    draws next (Keras 3.15's own Dropout does not save its generator: a resumed run would
    repeat the first minibatch's masks)."""
    def net_with(layer):
        inputs = keras.Input((300,))
        return keras.Model(inputs, layer(inputs))

    original = net_with(PaperDropout(0.5, seed=5, name="dropout_top"))
    first = masks(original.layers[-1], 4)
    original.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[-1], PaperDropout)
    after_load, uninterrupted = masks(loaded.layers[-1], 2), masks(original.layers[-1], 2)
    for m, n in zip(after_load, uninterrupted):
        np.testing.assert_array_equal(m, n)
    assert not any(np.array_equal(after_load[0], m) for m in first)


@pytest.mark.parametrize("jit", [False, True])
def test_same_outputs_as_keras_dropout_with_the_same_seed(jit):
    """Keras's own layer is the reference: the fix changed the speed, not the numbers."""
    x = tf.random.normal((100, 300), seed=1)
    ours, keras_layer = PaperDropout(0.5, seed=1999), keras.layers.Dropout(0.5, seed=1999)
    a = tf.function(lambda: ours(x, training=True), jit_compile=jit)
    b = tf.function(lambda: keras_layer(x, training=True), jit_compile=jit)
    for _ in range(3):  # the generator advances alike
        np.testing.assert_array_equal(a().numpy(), b().numpy())


def test_noise_shape_is_refused():
    with pytest.raises(ValueError, match="noise_shape"):
        PaperDropout(0.5, noise_shape=(1, 300))
