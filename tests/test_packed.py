"""A pack of R replicas trains every replica as its own unpacked Keras run would.

References are independent unpacked runs: ``reproduce.train.models.paper_model`` compiled
with ``ScheduledMomentumSGD``, Keras's binary cross-entropy and Keras's AUC, fed the same
minibatches in the same order, with the package's schedule callbacks. The pack is built from
freshly seeded copies of the same networks, so any difference comes from packing.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from reproduce.train.block_steps import enable_block_steps
from reproduce.train.callbacks import EpochBudget, MomentumRamp, PerBatchLearningRateDecay
from reproduce.train.models import paper_model
from reproduce.train.optimizers import ScheduledMomentumSGD
from reproduce.train.packed import (PackedNetwork, ReplicaAUC, ReplicaCallbacks,
                                    compile_packed, copy_replica_optimizer_state, pack,
                                    pack_optimizer_state, replica_logs, unpack)

N_FEATURES = 28
FEATURE_SETS = {"low": list(range(21)), "high": list(range(21, 28)),
                "complete": list(range(28))}
ROWS, VALID_ROWS, BATCH, BLOCK = 4000, 500, 100, 20  # 40 minibatches, 2 blocks per epoch
LEARNING_RATE, DECAY = 0.05, 1.0002   # a faster decay than the paper's, to be seen
MOMENTUM = (0.9, 0.99, 4)             # ramp saturating after 4 epochs
# Relative tolerance on every weight (max |difference| / max |weight| of each variable)
# after the runs below. Packing changes the order of float32 additions only (batched
# products, zero rows in the first layer), and momentum SGD carries such rounding forward:
# on the deep scenario two ordinary unpacked runs, one under XLA and one without, already
# differ by 2.3e-5 after 600 steps; packed against unpacked measured 1.7e-5.
WEIGHT_RTOL = 1e-4
LOSS_RTOL = 1e-4


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS + VALID_ROWS, N_FEATURES)).astype(np.float32)
    w = rng.normal(size=N_FEATURES)
    logit = x @ w / 3 + np.sin(x[:, 0] * x[:, 22]) + 0.5 * x[:, 25] ** 2 - 0.5
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return (x[:ROWS], y[:ROWS]), (x[ROWS:], y[ROWS:])


def epoch_order(epoch):
    return np.random.default_rng(100 + epoch).permutation(ROWS)


def blocks(x, y, first_epoch, last_epoch):
    """Each epoch's rows in its own permutation, as (block, batch, features) elements."""
    xs, ys = [], []
    for e in range(first_epoch, last_epoch):
        perm = epoch_order(e)
        xs.append(x[perm].reshape(-1, BLOCK, BATCH, x.shape[1]))
        ys.append(y[perm].reshape(-1, BLOCK, BATCH, 1))
    return tf.data.Dataset.from_tensor_slices((np.concatenate(xs), np.concatenate(ys)))


def schedule_callbacks():
    return [PerBatchLearningRateDecay(LEARNING_RATE, DECAY, 1e-6), MomentumRamp(*MOMENTUM)]


def fit(net, x, y, valid, first_epoch, last_epoch, callbacks=()):
    enable_block_steps(net)
    return net.fit(blocks(x, y, first_epoch, last_epoch), epochs=last_epoch,
                   initial_epoch=first_epoch, steps_per_epoch=ROWS // (BATCH * BLOCK),
                   validation_data=valid, validation_batch_size=VALID_ROWS, shuffle=False,
                   verbose=0, callbacks=schedule_callbacks() + list(callbacks))


def compile_unpacked(net, jit_compile=False):
    """As an unpacked run is compiled; without XLA by default (faster to build, and a
    compilation path of its own, while the packs below run under XLA)."""
    net.compile(ScheduledMomentumSGD(LEARNING_RATE, MOMENTUM[0]),
                loss=keras.losses.BinaryCrossentropy(),
                metrics=[keras.metrics.AUC(num_thresholds=200, name="auc")],
                steps_per_execution=1, jit_compile=jit_compile)
    return net


class WeightsEachEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


class UnpackedRun:
    """An ordinary run of one replica, trained by ``train(first_epoch, last_epoch)``
    calls (as a resumed run is); ``history`` and ``weights`` after each epoch."""

    def __init__(self, network, width, cols, seed, data):
        self.net = compile_unpacked(paper_model(network, len(cols), seed=seed, width=width))
        self.cols, self.data = cols, data
        self.history, self.snapshots = {}, WeightsEachEpoch()

    def train(self, first_epoch, last_epoch):
        (x, y), (xv, yv) = self.data
        c = self.cols
        history = fit(self.net, x[:, c], y, (xv[:, c], yv.reshape(-1, 1)), first_epoch,
                      last_epoch, [self.snapshots])
        for key, values in history.history.items():
            self.history.setdefault(key, []).extend(values)
        return self

    @property
    def weights(self):
        return self.snapshots.weights


def replica_weights(packed, r):
    """Replica r's weights in the unpacked model's order and shapes."""
    return unpack(packed, r).get_weights()


def relative_error(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def assert_weights_close(got, expected, rtol=WEIGHT_RTOL, what=""):
    """Each layer's kernel and bias within ``rtol`` of the layer's largest weight."""
    assert len(got) == len(expected) and len(got) % 2 == 0
    for i in range(0, len(got), 2):
        g = np.concatenate([got[i].ravel(), got[i + 1].ravel()])
        e = np.concatenate([expected[i].ravel(), expected[i + 1].ravel()])
        assert relative_error(g, e) <= rtol, f"{what} layer {i // 2}: {relative_error(g, e):.2e}"


def replicas_of(network, seeds, sets):
    return [(seed, name) for seed in seeds for name in sets]


SCENARIOS = {  # network -> (width, (seed, feature set) of each replica, epochs)
    "shallow": (24, replicas_of("shallow", [1, 2, 3, 4, 5], FEATURE_SETS), 20),  # 800 steps
    "deep": (16, replicas_of("deep", [1, 2], FEATURE_SETS), 16),  # 640 steps
}


@pytest.fixture(scope="module")
def data():
    return make_data()


def _export_replica_after(packed, r, epoch, exported):
    class ExportAfterEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, e, logs=None):
            if e == epoch - 1:
                net = compile_unpacked(unpack(packed, r))
                copy_replica_optimizer_state(packed, r, net)
                exported["net"] = net

    return ExportAfterEpoch()


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request, data):
    """A network's unpacked reference runs; its pack trained from the same seeds (replica
    0 exported to an unpacked model half way); and a second pack made of the reference
    runs themselves half way (with their optimizer state)."""
    network = request.param
    width, replicas, epochs = SCENARIOS[network]
    half = epochs // 2
    cols = [FEATURE_SETS[name] for _, name in replicas]
    references = [UnpackedRun(network, width, c, seed, data).train(0, half)
                  for (seed, _), c in zip(replicas, cols)]
    packed_half_way = compile_packed(pack([run.net for run in references], cols, N_FEATURES))
    pack_optimizer_state(packed_half_way, [run.net for run in references])
    for run in references:
        run.train(half, epochs)
    fresh = [paper_model(network, len(c), seed=seed, width=width)
             for (seed, _), c in zip(replicas, cols)]
    packed = compile_packed(pack(fresh, cols, N_FEATURES))
    (x, y), (xv, yv) = data
    exported = {}
    history = fit(packed, x, y, (xv, yv.reshape(-1, 1)), 0, epochs,
                  [_export_replica_after(packed, 0, half, exported)])
    return {"cols": cols, "references": references, "packed": packed, "epochs": epochs,
            "history": history.history, "exported": exported["net"],
            "packed_half_way": packed_half_way}


def test_every_replica_ends_with_its_unpacked_runs_weights(scenario):
    packed = scenario["packed"]
    assert packed.replicas == len(scenario["references"]) >= 6
    assert int(packed.optimizer.iterations) == scenario["epochs"] * ROWS // BATCH
    for r, run in enumerate(scenario["references"]):
        assert_weights_close(replica_weights(packed, r), run.weights[-1], what=f"replica {r}")


def test_every_replica_logs_its_unpacked_runs_losses_and_auc(scenario):
    logs = scenario["history"]
    for r, run in enumerate(scenario["references"]):
        for name in ("loss", "val_loss"):
            got = [float(v[r]) for v in logs[name.replace("loss", "replica_loss")]]
            np.testing.assert_allclose(got, run.history[name], rtol=LOSS_RTOL)
        for name in ("auc", "val_auc"):
            got = [float(v[r]) for v in logs[name.replace("auc", "replica_auc")]]
            np.testing.assert_allclose(got, run.history[name], atol=2e-3)
    total = np.sum(np.stack(logs["replica_loss"]), axis=1)
    np.testing.assert_allclose(logs["loss"], total, rtol=1e-5)  # the sum, not the mean


def test_masked_first_layer_rows_and_their_velocities_stay_zero(scenario):
    packed = scenario["packed"]
    first = packed.dense_layers[0]
    kernel = first.kernel.numpy()
    velocity = packed.optimizer.velocities[packed.optimizer._get_variable_index(first.kernel)]
    for r, cols in enumerate(scenario["cols"]):
        unused = np.setdiff1d(np.arange(N_FEATURES), cols)
        assert np.all(kernel[r][unused] == 0.0) and np.all(velocity.numpy()[r][unused] == 0.0)
        assert np.all(np.any(kernel[r][cols] != 0.0, axis=1))


def test_a_replica_unpacked_half_way_continues_its_run(scenario, data):
    (x, y), (xv, yv) = data
    epochs, cols = scenario["epochs"], scenario["cols"][0]
    net = scenario["exported"]
    assert int(net.optimizer.iterations) == epochs // 2 * ROWS // BATCH
    fit(net, x[:, cols], y, (xv[:, cols], yv.reshape(-1, 1)), epochs // 2, epochs)
    assert_weights_close(net.get_weights(), scenario["references"][0].weights[-1])


def test_unpacked_runs_packed_half_way_continue_their_runs(scenario, data):
    (x, y), (xv, yv) = data
    packed, epochs = scenario["packed_half_way"], scenario["epochs"]
    fit(packed, x, y, (xv, yv.reshape(-1, 1)), epochs // 2, epochs)
    for r, run in enumerate(scenario["references"]):
        assert_weights_close(replica_weights(packed, r), run.weights[-1], what=f"replica {r}")


def test_each_replica_stops_by_its_own_rule_frozen_bit_for_bit(data, tmp_path):
    (x, y), (xv, yv) = data
    cols = [FEATURE_SETS["low"], FEATURE_SETS["high"], FEATURE_SETS["complete"]]
    seeds, budgets = [7, 8, 9], [1, 3, 5]
    references = [UnpackedRun("deep", 12, c, s, data).train(0, 5) for c, s in zip(cols, seeds)]
    packed = compile_packed(pack([paper_model("deep", len(c), seed=s, width=12)
                                  for c, s in zip(cols, seeds)], cols, N_FEATURES))
    frozen = {}

    class KeepStateAtTheEnd(keras.callbacks.Callback):  # a run's last hook: its state
        def on_train_end(self, logs=None):
            frozen[self.model.replica] = _replica_state(packed, self.model.replica)

    per_run = ReplicaCallbacks([
        [EpochBudget(b), keras.callbacks.CSVLogger(tmp_path / f"{r}.csv"), KeepStateAtTheEnd()]
        for r, b in enumerate(budgets)])
    history = fit(packed, x, y, (xv, yv.reshape(-1, 1)), 0, 50, [per_run])
    assert len(history.epoch) == 5 and per_run.stopped_after == budgets
    assert per_run.steps == [b * ROWS // BATCH for b in budgets]
    for r, (run, budget) in enumerate(zip(references, budgets)):
        assert all(np.array_equal(a, b) for a, b in
                   zip(_replica_state(packed, r), frozen[r], strict=True))
        assert_weights_close(replica_weights(packed, r), run.weights[budget - 1])
        logged = np.genfromtxt(tmp_path / f"{r}.csv", delimiter=",", names=True)
        assert np.atleast_1d(logged["epoch"]).tolist() == list(range(budget))
        for name in ("loss", "val_loss"):
            np.testing.assert_allclose(np.atleast_1d(logged[name]), run.history[name][:budget],
                                       rtol=LOSS_RTOL)


def _replica_state(packed, r):
    """Replica r's weights and velocities, copied."""
    opt = packed.optimizer
    return [np.array(v.numpy()[r]) for v in packed.trainable_variables] + \
        [np.array(opt.velocities[opt._get_variable_index(v)].numpy()[r])
         for v in packed.trainable_variables]


def test_replica_auc_equals_keras_auc_of_each_column():
    rng = np.random.default_rng(3)
    metric = ReplicaAUC(4)
    keras_aucs = [keras.metrics.AUC(num_thresholds=200) for _ in range(4)]
    for _ in range(5):
        y = (rng.random((300, 1)) < 0.4).astype(np.float32)
        p = rng.random((300, 4)).astype(np.float32)
        p[:, 0] = np.round(p[:, 0] * 199) / 199  # predictions on the thresholds
        p[:, 1] = np.clip(p[:, 1] + 0.3 * y[:, 0], 0, 1)
        p[:5, 2] = [0.0, 1.0, 0.0, 1.0, 0.5]
        metric.update_state(y, p)
        for r, auc in enumerate(keras_aucs):
            auc.update_state(y, p[:, r:r + 1])
    got = metric.result().numpy()
    assert got.tolist() == [float(auc.result()) for auc in keras_aucs]


def test_the_packed_loss_is_the_sum_of_each_replicas_cost_by_hand():
    rng = np.random.default_rng(4)
    cols = [[0, 1, 2], [1, 3]]
    packed = pack([paper_model("shallow", 3, seed=1, width=5, weight_decay=0.01),
                   paper_model("shallow", 2, seed=2, width=5, weight_decay=0.01)], cols, 4)
    x = rng.normal(size=(7, 4)).astype(np.float32)
    y = (rng.random((7, 1)) < 0.5).astype(np.float32)
    loss = float(packed.compute_loss(x, y, packed(x)))
    expected = 0.0
    for r, c in enumerate(cols):
        w1, b1, w2, b2 = (w.astype(np.float64) for w in replica_weights(packed, r))
        p = 1 / (1 + np.exp(-(np.tanh(x[:, c] @ w1 + b1) @ w2 + b2)))
        expected += np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
        expected += 0.01 * (np.sum(w1 ** 2) + np.sum(w2 ** 2))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert replica_logs({"replica_loss": [1.0, 2.0], "loss": 3.0}, 1) == {"loss": 2.0}


def test_pack_refuses_models_of_another_architecture():
    nets = [paper_model("shallow", 3, seed=1, width=5), paper_model("shallow", 3, seed=2, width=6)]
    with pytest.raises(ValueError, match="layer widths"):
        pack(nets, [[0, 1, 2], [0, 1, 2]], 3)
    with pytest.raises(ValueError, match="increasing"):
        PackedNetwork(3, [4], [[2, 1]])
    dropout = [paper_model("shallow", 3, seed=1, width=5, dropout=True)]
    with pytest.raises(ValueError, match="dropout"):
        pack(dropout, [[0, 1, 2]], 3)
