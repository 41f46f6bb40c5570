"""The order in which an epoch visits the training rows (``training.batch_order``).

Two orders (``reproduce.train.settings.BATCH_ORDERS``), each giving one permutation of the
rows per epoch; ``epoch_blocks`` in ``reproduce.train.block_steps`` cuts it into minibatches
of consecutive entries:

- ``SharedBatchOrder`` ("shared", the default): the authors' code as it ran. Pylearn2's
  ``SGD`` draws its minibatches with ``shuffled_sequential`` iteration from one
  ``numpy.random.RandomState`` seeded ``[2012, 10, 5]`` by default (``training_algorithms/
  sgd.py``, ``SGD.__init__`` and ``train``; ``utils/iteration.py``,
  ``ShuffledSequentialSubsetIterator``): every epoch shuffles ``arange(n)`` with that
  generator. No script passes a seed, so every run of every script sees the same stream of
  permutations; only the initial weights differ between runs.
- ``PerSeedBatchOrder`` ("per_seed"): a permutation derived from (run seed, epoch) with
  TensorFlow's stateless shuffle, so runs with different seeds also see different orders.

Both resume exactly: the shared order's generator state before each epoch is saved with
the training state (``state_before``), the per-seed order needs none.
"""

from __future__ import annotations

import numpy as np

from reproduce.train.settings import BATCH_ORDERS, check_choice

# Pylearn2's SGD(seed=[2012, 10, 5]) default, used by every script of the authors.
PYLEARN2_SGD_SEED = (2012, 10, 5)


class PerSeedBatchOrder:
    """Epoch ``e`` visits ``stateless_shuffle(range(n), seed=(seed, e))``.

    Args:
        n: rows in the training split.
        seed: the run's seed.
    """

    name = "per_seed"

    def __init__(self, n: int, seed: int):
        self.n, self.seed = int(n), int(seed)

    def tf_permutation(self, epoch):
        """The permutation of epoch ``epoch`` (an int64 scalar tensor) as a tensor."""
        import tensorflow as tf

        return tf.random.experimental.stateless_shuffle(
            tf.range(self.n, dtype=tf.int64),
            seed=tf.stack([tf.constant(self.seed, tf.int64), epoch]))

    def state_before(self, epoch: int) -> dict | None:
        return None


class SharedBatchOrder:
    """Pylearn2's order: epoch ``e`` is the ``e+1``-th ``RandomState([2012, 10, 5]).shuffle``
    of ``arange(n)``.

    Epochs are asked for in order (``tf.data``'s ``flat_map`` opens one epoch after the
    other); a data set iterated again from its start rewinds to ``first_epoch``. numpy's legacy ``RandomState`` keeps its stream fixed
    across numpy versions (NEP 19), so the permutations are those Pylearn2's generator
    draws.

    Args:
        n: rows in the training split.
        first_epoch: the first epoch that will be asked for (a resumed run's).
        state: ``state_before(first_epoch)`` of an earlier run, or None. Without it a
            resumed run replays the first ``first_epoch`` shuffles (slow for big ``n``).
    """

    name = "shared"

    def __init__(self, n: int, first_epoch: int = 0, state: dict | None = None):
        self.n = int(n)
        self.rng = np.random.RandomState(list(PYLEARN2_SGD_SEED))
        if state is not None:
            self._decode(state)
        else:
            for _ in range(first_epoch):
                self.rng.shuffle(np.arange(self.n))
        self.first_epoch = self.next_epoch = int(first_epoch)
        self._states = {self.next_epoch: self._encode()}

    def _decode(self, state: dict) -> None:
        self.rng.set_state(("MT19937", np.asarray(state["keys"], dtype=np.uint32),
                            int(state["pos"]), int(state["has_gauss"]),
                            float(state["cached_gaussian"])))

    def _encode(self) -> dict:
        _, keys, pos, has_gauss, cached = self.rng.get_state()
        return {"keys": keys.copy(), "pos": int(pos), "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached)}

    def permutation(self, epoch: int) -> np.ndarray:
        """The rows of epoch ``epoch`` in the order it visits them (int64)."""
        epoch = int(epoch)
        if epoch != self.next_epoch:
            if epoch not in self._states:  # a data set iterated again from its start
                raise RuntimeError(f"SharedBatchOrder: epoch {epoch} asked for, but the "
                                   f"generator is at epoch {self.next_epoch}")
            self._decode(self._states[epoch])
            self.next_epoch = epoch
        order = np.arange(self.n, dtype=np.int64)
        self.rng.shuffle(order)
        self.next_epoch += 1
        self._states[self.next_epoch] = self._encode()
        return order

    def tf_permutation(self, epoch):
        import tensorflow as tf

        perm = tf.numpy_function(self.permutation, [epoch], tf.int64, stateful=True)
        perm.set_shape([self.n])
        return perm

    def state_before(self, epoch: int) -> dict:
        """The generator's state before epoch ``epoch`` (JSON-able), for ``state``.

        The input pipeline may already have drawn later epochs (``tf.data`` prefetches);
        their states are kept until asked for. Asking for epoch ``e`` forgets the states of
        the epochs before it (but the first, for a data set iterated again)."""
        epoch = int(epoch)
        state = self._states[epoch]
        for old in [e for e in self._states if self.first_epoch < e < epoch]:
            del self._states[old]
        return state | {"keys": state["keys"].tolist()}


def make_batch_order(name: str, n: int, seed: int, first_epoch: int = 0,
                     state: dict | None = None):
    """The order called ``name`` ("shared" or "per_seed") for ``n`` training rows."""
    check_choice("training.batch_order", name, BATCH_ORDERS)
    if name == "shared":
        return SharedBatchOrder(n, first_epoch, state)
    return PerSeedBatchOrder(n, seed)
