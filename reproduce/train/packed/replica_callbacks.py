"""Each run's own callbacks on its replica of a pack: ``ReplicaCallbacks`` and ``replica_logs``.

A callback of an unpacked run (a stopping rule, a CSV log) sees its replica's logs under the
unpacked names and a ``ReplicaModel`` as its model: stopping it freezes the replica.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from reproduce.train.packed.conversion import unpack
from reproduce.train.packed.metrics import REPLICA_AUC, REPLICA_LOSS
from reproduce.train.packed.network import PackedNetwork


class ReplicaModel:
    """What a callback of one unpacked run sees as ``self.model`` when it runs on replica
    ``r`` of a pack: setting ``stop_training`` freezes the replica (its rule fired);
    ``unpacked()`` is the replica as an ordinary model (to save its weights); everything
    else is the pack's."""

    def __init__(self, packed: PackedNetwork, replica: int):
        self.packed, self.replica = packed, int(replica)

    @property
    def stop_training(self) -> bool:
        return not bool(self.packed.optimizer.active[self.replica])

    @stop_training.setter
    def stop_training(self, value):
        if value:
            flags = self.packed.optimizer.active
            flags[self.replica] = 0.0
            self.packed.optimizer.active = flags

    def unpacked(self) -> keras.Model:
        return unpack(self.packed, self.replica)

    def __getattr__(self, name):
        if name in ("packed", "replica"):
            raise AttributeError(name)
        return getattr(self.packed, name)


class ReplicaCallbacks(keras.callbacks.Callback):
    """Run each replica's own callbacks (its stopping rules, CSV log, ...) on a pack.

    Callback list r sees replica r's epoch logs under the unpacked names
    (``replica_logs``) and a ``ReplicaModel`` as ``self.model``: a rule that stops its
    run freezes the replica from the next update on, its callbacks see no later epoch,
    and the fit ends when every replica is frozen. ``stopped_after[r]`` is the number of
    epochs replica r trained (None while it trains), ``steps[r]`` its SGD steps.

    Args:
        callbacks: one list of Keras callbacks per replica.
        stopped_after, steps: for a resumed pack, the values of the replicas frozen before
            (None: every replica frozen at the start has None).

    Example:

    >>> from reproduce.train.callbacks import EpochBudget
    >>> from reproduce.train.models import paper_model
    >>> from reproduce.train.packed import compile_packed, pack
    >>> nets = [paper_model("shallow", 2, seed=s, width=3) for s in (1, 2)]
    >>> packed = compile_packed(pack(nets, [[0, 1], [0, 1]], 2), jit_compile=False)
    >>> per_run = ReplicaCallbacks([[EpochBudget(2)], [EpochBudget(3)]])
    >>> x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    >>> history = packed.fit(x, y, batch_size=4, epochs=100, verbose=0, callbacks=[per_run])
    >>> len(history.epoch), per_run.stopped_after, per_run.steps
    (3, [2, 3], [4, 6])
    """

    def __init__(self, callbacks, stopped_after=None, steps=None):
        super().__init__()
        self.replica_callbacks = [list(c) for c in callbacks]
        self._previous = (stopped_after, steps)
        self.stopped_after, self.steps, self._training = [], [], []

    def set_model(self, model):
        super().set_model(model)
        if len(self.replica_callbacks) != model.replicas:
            raise ValueError(f"ReplicaCallbacks: {len(self.replica_callbacks)} callback "
                             f"lists for a pack of {model.replicas}")
        for r, callbacks in enumerate(self.replica_callbacks):
            for callback in callbacks:
                callback.set_model(ReplicaModel(model, r))

    def _each_training(self, hook, *args, logs=None):
        for r, callbacks in enumerate(self.replica_callbacks):
            if self._training[r]:
                own = None if logs is None else replica_logs(logs, r)
                for callback in callbacks:
                    getattr(callback, hook)(*args, own)

    def on_train_begin(self, logs=None):
        active = self.model.optimizer.active
        self._training = [bool(a) for a in active]
        before, steps = self._previous
        self.stopped_after = list(before) if before else [None] * len(active)
        self.steps = list(steps) if steps else [None] * len(active)
        self._each_training("on_train_begin", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._each_training("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each_training("on_epoch_end", epoch, logs=logs)
        active = self.model.optimizer.active
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        for r, flag in enumerate(active):
            if not flag and self._training[r]:
                self._training[r] = False
                self.stopped_after[r], self.steps[r] = epoch + 1, step
                for callback in self.replica_callbacks[r]:
                    callback.on_train_end(replica_logs(logs or {}, r))
        if not active.any():
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._each_training("on_train_end", logs=logs)


def replica_logs(logs: dict, r: int) -> dict:
    """Replica r's epoch logs under an unpacked run's names (``loss``, ``auc``,
    ``val_loss``, ``val_auc``; any ``<prefix>replica_loss`` as ``<prefix>loss``) with the
    shared entries (``learning_rate``, ...) kept; the pack's summed ``loss`` dropped.

    Example:

    >>> replica_logs({"loss": 3.0, "replica_loss": [1.0, 2.0], "val_replica_auc": [0.6, 0.7],
    ...               "learning_rate": 0.05}, 1)
    {'learning_rate': 0.05, 'loss': 2.0, 'val_auc': 0.7}
    """
    own, shared = {}, {}
    for key, value in logs.items():
        for metric, plain in ((REPLICA_LOSS, "loss"), (REPLICA_AUC, "auc")):
            if key.endswith(metric):  # also val_ and train_monitor_ ones
                own[key[:-len(metric)] + plain] = float(np.asarray(value)[r])
                break
        else:
            if key not in ("loss", "val_loss"):
                shared[key] = value
    return shared | own
