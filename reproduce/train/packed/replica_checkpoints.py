"""What each run of a pack writes after an epoch, as its unpacked run would write it.

Run inside a run's list of ``ReplicaCallbacks`` (``self.model`` a ``ReplicaModel``):
``BestReplicaWeights`` keeps the run's best-validation weights (``best.weights.h5`` of the
replica alone, as ``keras.callbacks.ModelCheckpoint`` keeps an unpacked run's) and
``ReplicaStateExport`` writes the run's ``state`` folder (its replica as an ordinary model
with its optimizer state, through the run's own ``TrainingStateCheckpoint``), so that the
run can be continued unpacked. ``PackTrainMonitor`` is the pack's
``TrainSubsetMonitor``: one evaluation of the whole pack, per-replica values in the logs.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from reproduce.train.callbacks.train_monitor import TrainSubsetMonitor
from reproduce.train.packed.conversion import copy_replica_optimizer_state


def compiled_replica(model, compile_replica):
    """The replica of ``model`` (a ``ReplicaModel``) as its unpacked run's compiled network,
    with the replica's optimizer state."""
    net = compile_replica(model.unpacked())
    copy_replica_optimizer_state(model.packed, model.replica, net)
    return net


class BestReplicaWeights(keras.callbacks.Callback):
    """Save the replica's weights when its ``val_loss`` is the lowest so far.

    Args:
        path: the run's ``.weights.h5`` file.
        compile_replica: as ``ReplicaStateExport``'s (the file then holds what an unpacked
            run's ``ModelCheckpoint(save_weights_only=True)`` writes).
        best: the lowest ``val_loss`` already logged (a resumed run), or None.
    """

    def __init__(self, path, compile_replica, best: float | None = None):
        super().__init__()
        self.path, self.compile_replica, self.best = Path(path), compile_replica, best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_loss")
        if value is None or (self.best is not None and not value < self.best):
            return
        self.best = float(value)
        compiled_replica(self.model, self.compile_replica).save_weights(self.path)


class ReplicaStateExport(keras.callbacks.Callback):
    """Write the run's ``state`` folder with its replica after every epoch it trains.

    Args:
        checkpoint: the run's ``TrainingStateCheckpoint`` (directory, fingerprint, callback
            states, wall time, batch order): the one that an unpacked run of it writes.
        compile_replica: function compiling an unpacked replica as its run does
            (``compiled_network.compile_for_training`` with its settings).
    """

    def __init__(self, checkpoint, compile_replica):
        super().__init__()
        self.checkpoint, self.compile_replica = checkpoint, compile_replica

    def on_epoch_end(self, epoch, logs=None):
        net = compiled_replica(self.model, self.compile_replica)
        self.checkpoint.set_model(net)
        self.checkpoint.on_epoch_end(epoch, logs)


class PackTrainMonitor(TrainSubsetMonitor):
    """``TrainSubsetMonitor`` of a pack: evaluate it on fixed rows after each epoch and
    add ``<prefix>replica_loss`` / ``<prefix>replica_auc`` (vectors) to the logs, which
    ``replica_logs`` gives each run as ``<prefix>loss`` / ``<prefix>auc``.

    Args:
        x, y: the rows (all the pack's input columns) and their labels.
        prefix: as ``TrainSubsetMonitor``'s (default "train_monitor_").
        batch_size: evaluation batch size.
    """

    def on_epoch_end(self, epoch, logs=None):
        results = self.evaluate_rows()
        if logs is not None:
            logs.update({self.prefix + name: np.asarray(value)
                         for name, value in results.items() if name != "loss"})
