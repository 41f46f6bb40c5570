"""Blocks of minibatches in one compiled loop: same SGD as batch by batch, same data order."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from reproduce.train.block_steps import blocks_per_epoch, enable_block_steps, epoch_blocks
from reproduce.train.callbacks import MomentumRamp, PerBatchLearningRateDecay
from reproduce.train.models import PaperL2, paper_model, sum_of_squares
from reproduce.train.optimizers import ScheduledMomentumSGD
from test_callbacks import assert_weights_follow_reference, linear_model


def blocks_in_order(x, y, batch, block):
    """The rows in file order, cut as epoch_blocks cuts them (no shuffle)."""
    full = len(x) - len(x) % batch
    in_blocks = full - full % (batch * block)
    parts = [(x[s:s + batch * block].reshape(block, batch, -1),
              y[s:s + batch * block].reshape(block, batch, 1))
             for s in range(0, in_blocks, batch * block)]
    if in_blocks < full:
        parts.append((x[in_blocks:full].reshape(-1, batch, x.shape[1]),
                      y[in_blocks:full].reshape(-1, batch, 1)))
    if full < len(x):
        parts.append((x[full:][None], y[full:].reshape(1, -1, 1)))
    return parts


@pytest.mark.parametrize("jit_compile", [True, False])
def test_block_steps_follow_hand_computed_momentum_sgd(jit_compile):
    # 60 rows in batches of 8: blocks of 3, 3 and 1 full batches, then 4 rows
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype(np.float32)
    parts = blocks_in_order(x, y, 8, 3)
    assert [p[0].shape[:2] for p in parts] == [(3, 8), (3, 8), (1, 8), (1, 4)]
    assert len(parts) == blocks_per_epoch(60, 8, 3)
    ds = tf.data.Dataset.from_tensors(parts[0])
    for part in parts[1:]:
        ds = ds.concatenate(tf.data.Dataset.from_tensors(part))
    model = linear_model(3)
    w0, b0 = (v.numpy() for v in model.weights)
    model.compile(ScheduledMomentumSGD(0.05, 0.0), "mse", jit_compile=jit_compile)
    enable_block_steps(model)
    factor = 1.05
    history = model.fit(ds.repeat(), epochs=4, steps_per_epoch=len(parts), shuffle=False,
                        verbose=0, callbacks=[PerBatchLearningRateDecay(0.05, factor, 1e-3),
                                   MomentumRamp(0.0, 0.9, 2)])
    assert_weights_follow_reference(model, w0, b0, x, y, factor)
    assert int(model.optimizer.iterations) == 4 * 8  # one step per minibatch, not per block
    assert len(history.history["loss"]) == 4


def test_loss_is_the_row_weighted_mean_over_minibatches():
    x = np.arange(20, dtype=np.float32).reshape(10, 2) / 10
    y = np.ones((10, 1), np.float32)
    model = linear_model(2)
    model.compile(ScheduledMomentumSGD(0.0, 0.0), "mse", jit_compile=True)  # no update
    enable_block_steps(model)
    w, b = (v.numpy().astype(np.float64) for v in model.weights)
    expected = np.mean((x @ w + b - y) ** 2)  # all 10 rows, batches of 4, 4 and 2
    ds = tf.data.Dataset.from_tensors((x[:8].reshape(2, 4, 2), y[:8].reshape(2, 4, 1)))
    ds = ds.concatenate(tf.data.Dataset.from_tensors((x[8:][None], y[8:][None])))
    history = model.fit(ds, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-6)


def test_epoch_blocks_cut_each_epochs_permutation_and_resume_mid_run():
    n, batch, block = 1037, 10, 4  # 103 full batches: 25 blocks of 4, one of 3, then 7 rows
    x = np.arange(n, dtype=np.float32).reshape(-1, 1)
    y = np.arange(n, dtype=np.float32)

    def blocks(first, last):
        return list(epoch_blocks(x, y, seed=5, first_epoch=first, last_epoch=last,
                                 batch_size=batch, block_size=block).as_numpy_iterator())

    run = blocks(2, 5)
    per_epoch = blocks_per_epoch(n, batch, block)
    assert per_epoch == 27 and len(run) == 3 * per_epoch
    shapes = [b[0].shape for b in run[:per_epoch]]
    assert shapes == [(4, 10, 1)] * 25 + [(3, 10, 1), (1, 7, 1)]
    for features, labels in run:  # each label travels with its row
        assert np.array_equal(features.ravel(), labels.ravel())
    rows = np.concatenate([b[0].ravel() for b in run])
    epochs = rows.reshape(3, n)
    for epoch in epochs:  # every row once per epoch, a different order each
        assert np.array_equal(np.sort(epoch), x.ravel())
    assert not np.array_equal(epochs[0], epochs[1])
    resumed = np.concatenate([b[0].ravel() for b in blocks(3, 5)])  # killed after epoch 2
    assert np.array_equal(resumed, rows[n:])
    other_seed = epoch_blocks(x, y, seed=6, first_epoch=2, last_epoch=3, batch_size=batch,
                              block_size=block).as_numpy_iterator()
    assert not np.array_equal(np.concatenate([b[0].ravel() for b in other_seed]), epochs[0])


@pytest.mark.parametrize("shape", [(300, 300), (28, 300), (300, 1), (301, 7), (5,)])
def test_paper_l2_value_and_gradient(shape):
    w = np.random.default_rng(0).normal(0, 0.05, size=shape).astype(np.float32)
    variable = tf.Variable(w)
    with tf.GradientTape() as tape:
        penalty = PaperL2(1e-5)(variable)
    gradient = tape.gradient(penalty, variable)
    assert float(penalty) == pytest.approx(1e-5 * np.sum(w.astype(np.float64) ** 2), rel=1e-6)
    np.testing.assert_allclose(gradient.numpy(), 2e-5 * w, rtol=1e-6)
    compiled = tf.function(sum_of_squares, jit_compile=True)(tf.constant(w))
    assert float(compiled) == pytest.approx(np.sum(w.astype(np.float64) ** 2), rel=1e-6)


def test_paper_l2_survives_save_and_load(tmp_path):
    net = paper_model("shallow", 4, seed=0)
    net.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    regularizer = loaded.get_layer("hidden_1").kernel_regularizer
    assert isinstance(regularizer, PaperL2) and regularizer.l2 == 1e-5
    assert float(sum(loaded.losses)) == pytest.approx(float(sum(net.losses)), rel=1e-7)


def test_dropout_draws_a_fresh_mask_for_every_minibatch_of_a_block():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 5)).astype(np.float32)
    y = (rng.random((800, 1)) < 0.5).astype(np.float32)

    def train(block, rate=0.5):
        keras.utils.set_random_seed(3)
        net = paper_model("shallow", 5, seed=3, dropout=True)
        net.get_layer("dropout_top").rate = rate
        net.compile(ScheduledMomentumSGD(0.05, 0.9), "binary_crossentropy", jit_compile=True)
        if block:
            enable_block_steps(net)
            data = (x.reshape(2, 4, 100, 5), y.reshape(2, 4, 100, 1))
        else:
            data = (x.reshape(8, 100, 5), y.reshape(8, 100, 1))
        net.fit(tf.data.Dataset.from_tensor_slices(data), epochs=1, shuffle=False, verbose=0)
        return net.get_weights()

    batch_by_batch, blocks = train(block=False), train(block=True)
    for a, b in zip(batch_by_batch, blocks):  # Keras's masks, in the same order
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    without_dropout = train(block=True, rate=0.0)
    assert not np.allclose(without_dropout[0], blocks[0], rtol=1e-3)  # dropout was active


BLOCK_SIZES = """
    import hashlib, json, warnings
    warnings.simplefilter("ignore")
    import keras, numpy as np
    from reproduce.backend import set_random_seed
    from reproduce.train.batch_order import SharedBatchOrder
    from reproduce.train.block_steps import (backend_epoch_blocks,
                                             blocks_per_epoch, enable_backend_block_steps)
    from reproduce.train.callbacks import MomentumRamp, PerBatchLearningRateDecay
    from reproduce.train.compiled_network import compile_for_training
    from reproduce.train.models import paper_model
    from reproduce.train.settings import TrainingSettings

    rng = np.random.default_rng(0)
    n = 3050  # 30 full batches of 100 and 50 rows
    x = rng.normal(size=(n, 28)).astype(np.float32)
    y = (x[:, 0] - x[:, 3] > 0).astype(np.float32)
    out = {}
    for asked in (4, 1000):  # blocks of 4 (and one of 2), and the epoch's 30 batches at once
        settings = TrainingSettings(steps_per_execution=asked)
        block = settings.block_size(n)
        set_random_seed(1)
        net = enable_backend_block_steps(
            compile_for_training(paper_model("deep", 28, seed=1), settings))
        initial = np.concatenate([w.ravel() for w in net.get_weights()])
        history = net.fit(
            backend_epoch_blocks(x, y, order=SharedBatchOrder(n), first_epoch=0, last_epoch=2,
                                 batch_size=100, block_size=block),
            epochs=2, steps_per_epoch=blocks_per_epoch(n, 100, block), verbose=0,
            callbacks=[PerBatchLearningRateDecay(), MomentumRamp()])
        weights = np.concatenate([w.ravel() for w in net.get_weights()])
        out[asked] = {"block": block, "sha256": hashlib.sha256(weights.tobytes()).hexdigest(),
                      "moved": float(np.abs(weights - initial).max()),
                      "loss": history.history["loss"],
                      "steps": int(keras.ops.convert_to_numpy(net.optimizer.iterations))}
    print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_the_block_size_never_changes_the_numbers(backend, tmp_path):
    """``training.steps_per_execution`` is left out of the run fingerprint (a run may resume
    with another): the deep net trained in blocks of 4 or of the whole epoch ends with the
    same weights to the bit, and the same per-epoch losses, on each backend (each
    against itself: the backends' generators draw other initial weights)."""
    if backend == "jax":
        pytest.importorskip("jax")
    from test_backend_jax import run_python

    runs = run_python(BLOCK_SIZES, tmp_path, backend=backend,
                      without_tensorflow=backend == "jax")
    assert [r["block"] for r in runs.values()] == [4, 30]  # 1000: the epoch's 30 batches
    assert all(r["steps"] == 2 * 31 and r["moved"] > 1e-3 for r in runs.values())
    assert runs["4"]["sha256"] == runs["1000"]["sha256"]
    assert runs["4"]["loss"] == runs["1000"]["loss"]
