"""An epoch's minibatch blocks as numpy arrays, for training without TensorFlow.

``reproduce.train.training.epoch_blocks`` builds the blocks with ``tf.data``; this is its
counterpart for the JAX backend: a plain generator of ``(x[k, b, features], y[k, b, 1])``
cut in the same way (full blocks, a shorter block of the epoch's remaining full batches,
the last partial batch alone), from any order with a ``permutation(epoch)`` method
(``reproduce.train.batch_order.SharedBatchOrder``, or ``NumpyPerSeedBatchOrder`` below).
"""

from __future__ import annotations

import numpy as np


class NumpyPerSeedBatchOrder:
    """Epoch ``e`` visits ``numpy.random.default_rng([seed, e]).permutation(n)``.

    The ``per_seed`` order without TensorFlow. It is another permutation than
    ``PerSeedBatchOrder``'s (TensorFlow's stateless shuffle): a run with ``batch_order:
    per_seed`` sees other batches on the JAX backend. Needs no saved state to resume.

    Args:
        n: rows in the training split.
        seed: the run's seed.
    """

    name = "per_seed"

    def __init__(self, n: int, seed: int):
        self.n, self.seed = int(n), int(seed)

    def permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.n)

    def state_before(self, epoch: int) -> dict | None:
        return None


def epoch_block_arrays(x: np.ndarray, y: np.ndarray, *, order, first_epoch: int,
                       last_epoch: int, batch_size: int, block_size: int):
    """Yield the blocks of epochs ``first_epoch .. last_epoch-1`` in training order.

    Each epoch visits ``order.permutation(epoch)`` cut into minibatches of consecutive
    entries; ``reproduce.train.block_steps.blocks_per_epoch`` gives the blocks per epoch.

    Example:

    >>> import numpy as np
    >>> from reproduce.train.batch_order import SharedBatchOrder
    >>> x, y = np.zeros((25, 2), np.float32), np.zeros(25, np.float32)
    >>> blocks = epoch_block_arrays(x, y, order=SharedBatchOrder(25), first_epoch=0,
    ...                             last_epoch=1, batch_size=4, block_size=4)
    >>> [b[0].shape for b in blocks]
    [(4, 4, 2), (2, 4, 2), (1, 1, 2)]
    """
    n = len(x)
    full = n - n % batch_size
    in_blocks = full - full % (block_size * batch_size)
    labels = y.reshape(-1, 1)
    for epoch in range(first_epoch, last_epoch):
        perm = order.permutation(epoch)
        cuts = [perm[s:s + block_size * batch_size].reshape(block_size, batch_size)
                for s in range(0, in_blocks, block_size * batch_size)]
        if in_blocks < full:
            cuts.append(perm[in_blocks:full].reshape(-1, batch_size))
        if full < n:
            cuts.append(perm[full:][None])
        for index in cuts:
            yield x[index], labels[index]
