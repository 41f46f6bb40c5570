"""Many minibatches per compiled call: the whole block of SGD steps runs inside XLA.

Keras's ``steps_per_execution=N`` saves the Python round trip per batch, but with the
TensorFlow backend it still leaves XLA after every batch: each step is its own compiled
cluster, called from a graph loop that pulls the next batch from the iterator. For the
paper's small networks that launch and copy cost about as much as the step itself.

``enable_block_steps(model)`` changes what one Keras "batch" is: the data set yields blocks
``x[k, b, features]``, ``y[k, b, 1]`` (``epoch_blocks`` in ``reproduce.train.training`` builds
them) and the train step runs Keras's own ``train_step`` on ``x[0], x[1], ..., x[k-1]`` in a
``tf.while_loop``, all in one compiled call. Each minibatch is still one SGD update (the
optimizer's step counter, the learning rate computed from it, the momentum, dropout, the
loss and metric trackers all advance per minibatch), so the numbers are those of plain
per-batch training; a test checks the weights against a hand-computed momentum SGD.

Callbacks see one ``on_train_batch_end`` per block, exactly as with ``steps_per_execution``:
the paper's per-batch schedule is exact regardless, because ``PerBatchLearningRateDecay``
evaluates the rate from the step counter inside the compiled step.
"""

from __future__ import annotations

import keras


def enable_block_steps(model: keras.Model) -> keras.Model:
    """Make ``model.fit`` run each element ``(x[k, b, ...], y[k, b, ...])`` as k SGD steps.

    Args:
        model: a Keras model (TensorFlow backend). Compile it with
            ``steps_per_execution=1``; the block length takes that role. Call this again
            after ``keras.models.load_model`` (the override is not saved with the model).

    Returns:
        The same model, for chaining.

    Example:

    >>> net = enable_block_steps(net)
    >>> net.fit(epoch_blocks(x, y, seed=1, first_epoch=0, last_epoch=5, batch_size=100,
    ...                      block_size=100), epochs=5, steps_per_epoch=blocks_per_epoch)
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
