"""R replicas of one paper network trained as one program: every Dense a batched product.

The 15 runs of one network of Table 1 (5 seeds x 3 feature sets) draw the same minibatch
rows (``training.batch_order: shared``); they differ only in their initial weights and
their input columns. ``PackedNetwork`` holds R replicas of one architecture of
``reproduce.train.models``: each Dense layer becomes a ``PackedDense`` whose kernel has
shape (R, in, out) and bias (R, out), the first layer reads one shared batch of every
feature column and masks, per replica, the rows of the columns that replica does not use
(they are zero and stay zero). The output is (batch, R): column r is replica r's
probability.

Every replica stays its own fit:

- the loss is the SUM over replicas of each replica's whole cost (its cross-entropy mean
  over the batch plus the paper's weight decay on its own weights), so the gradient of
  replica r's weights is the gradient of its unpacked run;
- ``PackedMomentumSGD`` is the package's ``ScheduledMomentumSGD`` (one learning-rate
  schedule and one momentum for all, set by the same callbacks) with a 0/1 ``active``
  vector: a frozen replica's update is masked, so its weights and velocities stay
  bit-unchanged;
- the logs carry ``replica_loss`` and ``replica_auc`` (vectors of R: the same running mean
  and the same 200-threshold AUC as an unpacked run's ``loss`` and ``auc``);
  ``replica_logs(logs, r)`` gives replica r's logs under the unpacked names;
- ``ReplicaCallbacks`` runs each run's own callbacks (stopping rules, CSV log) on its
  replica: a rule that fires freezes its replica, and the fit ends when all have stopped.

``pack(models, ...)`` builds a pack from R unpacked models (weights, and optimizer state
when the models have one), ``unpack(packed, r)`` exports replica r to an ordinary model of
``reproduce.train.models.build_model``, and ``copy_replica_optimizer_state`` moves its
step counter, momentum and velocities onto that model's optimizer. Everything is written
on ``keras.ops``; with the TensorFlow backend ``reproduce.train.block_steps`` runs blocks
of minibatches of a pack in one compiled call, as for an unpacked run.
"""

from reproduce.train.packed.conversion import (copy_replica_optimizer_state, pack,
                                               pack_optimizer_state, unpack)
from reproduce.train.packed.metrics import REPLICA_AUC, REPLICA_LOSS, ReplicaAUC, ReplicaMean
from reproduce.train.packed.network import (PackedDense, PackedNetwork, compile_packed,
                                            feature_mask, replica_sum_of_squares)
from reproduce.train.packed.optimizer import PackedMomentumSGD
from reproduce.train.packed.replica_callbacks import ReplicaCallbacks, ReplicaModel, replica_logs

__all__ = ["REPLICA_AUC", "REPLICA_LOSS", "PackedDense", "PackedMomentumSGD", "PackedNetwork",
           "ReplicaAUC", "ReplicaCallbacks", "ReplicaMean", "ReplicaModel", "compile_packed",
           "copy_replica_optimizer_state", "feature_mask", "pack", "pack_optimizer_state",
           "replica_logs", "replica_sum_of_squares", "unpack"]
