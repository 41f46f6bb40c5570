"""Many minibatches per compiled call: the whole block of SGD steps runs inside XLA.

Keras's ``steps_per_execution=N`` saves the Python round trip per batch, but with the
TensorFlow backend it still leaves XLA after every batch: each step is its own compiled
cluster, called from a graph loop that pulls the next batch from the iterator. For the
paper's small networks that launch and copy cost about as much as the step itself.

``enable_block_steps(model)`` changes what one Keras "batch" is: the data set yields blocks
``x[k, b, features]``, ``y[k, b, 1]`` (``epoch_blocks`` below builds them, ``blocks_per_epoch``
counts them) and the train step runs Keras's own ``train_step`` on ``x[0], x[1], ..., x[k-1]`` in a
``tf.while_loop``, all in one compiled call. Each minibatch is still one SGD update (the
optimizer's step counter, the learning rate computed from it, the momentum, dropout, the
loss and metric trackers all advance per minibatch), so the numbers are those of plain
per-batch training; a test checks the weights against a hand-computed momentum SGD.

Callbacks see one ``on_train_batch_end`` per block, exactly as with ``steps_per_execution``:
the paper's per-batch schedule is exact regardless, because ``PerBatchLearningRateDecay``
evaluates the rate from the step counter inside the compiled step.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from reproduce.train.batch_order import PerSeedBatchOrder


def enable_block_steps(model: keras.Model) -> keras.Model:
    """Make ``model.fit`` run each element ``(x[k, b, ...], y[k, b, ...])`` as k SGD steps.

    Args:
        model: a Keras model (TensorFlow backend). Compile it with
            ``steps_per_execution=1``; the block length takes that role. Call this again
            after ``keras.models.load_model`` (the override is not saved with the model).

    Returns:
        The same model, for chaining.

    Example:

    >>> import numpy as np
    >>> net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> net.compile(keras.optimizers.SGD(0.1), "mse", steps_per_execution=1)
    >>> net = enable_block_steps(net)
    >>> x, y = np.ones((10, 2), np.float32), np.zeros(10, np.float32)
    >>> blocks = epoch_blocks(x, y, seed=1, first_epoch=0, last_epoch=2, batch_size=2,
    ...                       block_size=3)
    >>> _ = net.fit(blocks, epochs=2, steps_per_epoch=blocks_per_epoch(10, 2, 3),
    ...             shuffle=False, verbose=0)
    >>> int(net.optimizer.iterations.numpy())  # one SGD step per minibatch: 2 x 5
    10
    """
    import tensorflow as tf

    one_step = type(model).train_step

    def train_step(data):
        x, y = data[0], data[1]
        count = tf.shape(x)[0]

        def body(i):
            one_step(model, (x[i], y[i]))
            return (i + 1,)

        tf.while_loop(lambda i: i < count, body, (tf.constant(0),))
        return model.get_metrics_result()

    model.train_step = train_step
    model.train_function = None
    return model


def blocks_per_epoch(n: int, batch_size: int, block_size: int) -> int:
    """Elements per epoch of ``epoch_blocks``: full blocks, a shorter block of the remaining
    full batches, and the last partial batch as a block of one.

    >>> blocks_per_epoch(1050, 100, 4)  # blocks of 4, 4, 2 batches, then 50 rows
    4
    """
    full_batches, rest = divmod(n, batch_size)
    return math.ceil(full_batches / block_size) + (1 if rest else 0)


def epoch_blocks(x: np.ndarray, y: np.ndarray, *, first_epoch: int, last_epoch: int,
                 batch_size: int, block_size: int, seed: int | None = None, order=None):
    """Training batches for epochs ``first_epoch .. last_epoch-1``, grouped into blocks.

    Epoch ``e`` visits the rows in the order ``order.tf_permutation(e)`` (a
    ``reproduce.train.batch_order`` object; by default ``PerSeedBatchOrder(len(x), seed)``:
    ``stateless_shuffle(range(n), seed=(seed, e))``), cut into minibatches of consecutive
    entries as Pylearn2's ``shuffled_sequential`` iteration cuts them. A resumed run sees
    exactly the batches an uninterrupted run would have seen.

    Each element is ``(x[k, b, features], y[k, b, 1])``: ``k = block_size`` consecutive
    batches (fewer in the epoch's last block of full batches), and the epoch's last partial
    batch, if any, alone as ``k = 1``. Train on them with ``enable_block_steps``;
    ``blocks_per_epoch`` gives the count.
    """
    import tensorflow as tf

    if order is None:
        order = PerSeedBatchOrder(len(x), seed)
    n = len(x)
    full = n - n % batch_size
    in_blocks = full - full % (block_size * batch_size)
    features, labels = tf.constant(x), tf.constant(y.reshape(-1, 1))

    def one_epoch(epoch):
        perm = order.tf_permutation(epoch)
        ds = tf.data.Dataset.from_tensor_slices(
            tf.reshape(perm[:in_blocks], [-1, block_size, batch_size]))
        if in_blocks < full:
            ds = ds.concatenate(tf.data.Dataset.from_tensors(
                tf.reshape(perm[in_blocks:full], [-1, batch_size])))
        if full < n:
            ds = ds.concatenate(tf.data.Dataset.from_tensors(perm[full:][tf.newaxis]))
        return ds

    ds = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(one_epoch)
    ds = ds.map(lambda idx: (tf.gather(features, idx), tf.gather(labels, idx)),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def enable_backend_block_steps(model: keras.Model) -> keras.Model:
    """``enable_block_steps`` on TensorFlow (a ``tf.while_loop``), ``reproduce.train.
    block_steps_jax.enable_block_steps_jax`` on JAX (a ``lax.scan`` in one jitted call)."""
    if keras.backend.backend() == "jax":
        from reproduce.train.block_steps_jax import enable_block_steps_jax

        return enable_block_steps_jax(model)
    return enable_block_steps(model)


def backend_batch_order(order):
    """The order ``order`` on Keras's backend: the same object, except ``per_seed`` on JAX,
    which draws its permutations with numpy (``reproduce.train.jax_batches.
    NumpyPerSeedBatchOrder``: other batches than TensorFlow's stateless shuffle)."""
    if keras.backend.backend() == "jax" and isinstance(order, PerSeedBatchOrder):
        from reproduce.train.jax_batches import NumpyPerSeedBatchOrder

        return NumpyPerSeedBatchOrder(order.n, order.seed)
    return order


def backend_epoch_blocks(x: np.ndarray, y: np.ndarray, *, order, first_epoch: int,
                         last_epoch: int, batch_size: int, block_size: int):
    """The training blocks of ``epoch_blocks`` for Keras's backend: a ``tf.data`` set on
    TensorFlow, a numpy generator (``reproduce.train.jax_batches.epoch_block_arrays``, the
    same blocks for the same order) on JAX, which then imports no TensorFlow."""
    blocks = dict(order=order, first_epoch=first_epoch, last_epoch=last_epoch,
                  batch_size=batch_size, block_size=block_size)
    if keras.backend.backend() == "jax":
        from reproduce.train.jax_batches import epoch_block_arrays

        return epoch_block_arrays(x, y, **blocks)
    return epoch_blocks(x, y, **blocks)
