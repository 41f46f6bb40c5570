"""The schedule callbacks, checked through model.fit against hand-computed references."""

import warnings

import keras
import numpy as np
import pytest

from reproduce.train.callbacks import (MomentumRamp, PaperEarlyStopping, PerBatchLearningRateDecay,
                                 RaiseOnNonFiniteLoss, StopOnThreshold)
from reproduce.train.optimizers import ScheduledMomentumSGD


def linear_model(n_inputs, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((n_inputs,)),
                             keras.layers.Dense(1, kernel_initializer="glorot_uniform",
                                                bias_initializer="ones")])


def reference_momentum_sgd(w, b, x, y, batch, epochs, lr_at, momentum_at):
    """Momentum SGD on the MSE of a linear model, by hand in float64 numpy."""
    w, b = w.astype(np.float64).copy(), b.astype(np.float64).copy()
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    step = 0
    for epoch in range(epochs):
        mu = momentum_at(epoch)
        for start in range(0, len(x), batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            residual = xb @ w + b - yb                  # [B, 1]
            gw = 2.0 * xb.T @ residual / len(xb)
            gb = 2.0 * residual.sum(axis=0) / len(xb)
            lr = lr_at(step)
            vw = mu * vw - lr * gw
            vb = mu * vb - lr * gb
            w, b = w + vw, b + vb
            step += 1
    return w, b


def assert_weights_follow_reference(model, w0, b0, x, y, factor):
    """4 epochs of batches of 8, rate 0.05 / factor**t floored at 1e-3, momentum 0 -> 0.9
    over 2 epochs (the schedule of the fits below), against ``reference_momentum_sgd``."""
    w, b = reference_momentum_sgd(
        w0, b0, x.astype(np.float64), y.astype(np.float64), 8, 4,
        lr_at=lambda t: max(0.05 / factor**t, 1e-3),
        momentum_at=lambda e: 0.0 + 0.9 * min(e / 2, 1.0))
    np.testing.assert_allclose(model.weights[0].numpy(), w, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(model.weights[1].numpy(), b, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_schedules_reach_compiled_update(steps_per_execution):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype(np.float32)
    model = linear_model(3)
    w0, b0 = (v.numpy() for v in model.weights)
    model.compile(ScheduledMomentumSGD(0.05, 0.0), "mse",
                  steps_per_execution=steps_per_execution, jit_compile=False)
    factor = 1.05  # strong enough that a per-N-batches update would show
    callbacks = [PerBatchLearningRateDecay(0.05, factor, 1e-3), MomentumRamp(0.0, 0.9, 2)]
    model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=callbacks)
    assert_weights_follow_reference(model, w0, b0, x, y, factor)
    assert float(model.optimizer.learning_rate) == pytest.approx(max(0.05 / factor**32, 1e-3),
                                                                 rel=1e-6)


def test_stock_sgd_momentum_is_frozen_so_ramp_refuses_it():
    model = linear_model(2)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "mse")
    with pytest.raises(TypeError, match="ScheduledMomentumSGD"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=1, verbose=0,
                  callbacks=[MomentumRamp()])


def test_rates_and_momentum_logged_per_epoch():
    model = linear_model(2)
    model.compile(ScheduledMomentumSGD(0.05), "mse", steps_per_execution=2)
    history = model.fit(np.zeros((20, 2)), np.zeros((20, 1)), batch_size=5, epochs=3,
                        verbose=0, callbacks=[PerBatchLearningRateDecay(0.05, 1.1, 0.0),
                                              MomentumRamp(0.5, 0.8, 3)])
    assert history.history["momentum"] == pytest.approx([0.5, 0.6, 0.7])
    assert history.history["learning_rate"] == pytest.approx(
        [0.05 / 1.1**4, 0.05 / 1.1**8, 0.05 / 1.1**12], rel=1e-6)


def pylearn2_momentum_per_epoch(init, final, saturate, epochs):
    """Pylearn2's MomentumAdjustor(start=0) as Train.main_loop drives it: on_monitor runs
    once before training and after every epoch, each call counting one and setting
    momentum = init * (1 - a) + a * final with a = clip(count / saturate, 0, 1)."""
    count, applied = 0, []

    def on_monitor():
        nonlocal count
        count += 1
        a = min(max(count / saturate, 0.0), 1.0)
        return init * (1.0 - a) + a * final

    momentum = on_monitor()  # before the first epoch
    for _ in range(epochs):
        applied.append(momentum)  # this epoch trains with it
        momentum = on_monitor()
    return applied


def test_momentum_ramp_as_pylearn2_applied_it():
    model = linear_model(2)
    model.compile(ScheduledMomentumSGD(0.05), "mse")
    history = model.fit(np.zeros((20, 2)), np.zeros((20, 1)), batch_size=5, epochs=6,
                        verbose=0, callbacks=[MomentumRamp(0.9, 0.99, 4, offset=1)])
    expected = pylearn2_momentum_per_epoch(0.9, 0.99, 4, 6)
    assert history.history["momentum"] == pytest.approx(expected)
    assert expected[:4] == pytest.approx([0.9225, 0.945, 0.9675, 0.99])


class FeedValLoss(keras.callbacks.Callback):
    """Puts a scripted val_loss into the epoch logs (for the stopping rule)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def fit_with_val_losses(values, stopper):
    model = linear_model(1)
    model.compile(ScheduledMomentumSGD(0.0), "mse")
    history = model.fit(np.zeros((2, 1)), np.zeros((2, 1)), epochs=len(values), verbose=0,
                        callbacks=[FeedValLoss(values), stopper])
    return len(history.epoch)


def test_paper_stopping_rule_waits_for_momentum_saturation():
    # Flat loss from the start: without the momentum condition it would stop after epoch 3.
    stopper = PaperEarlyStopping(patience=3, start_epoch=6)
    assert fit_with_val_losses([1.0] * 20, stopper) == 7  # epochs 0..6, stops after 6


def test_paper_stopping_rule_relative_improvement():
    # Improvements smaller than 1e-5 relative do not restart the patience count.
    values = [1.0, 0.9, 0.8, 0.8 * (1 - 5e-6), 0.8 * (1 - 8e-6), 0.7999, 0.7999, 0.7999,
              0.7999, 0.7999]
    stopper = PaperEarlyStopping(patience=3, start_epoch=0)
    # epoch 5 (0.7999 < 0.8*(1-8e-6)*(1-1e-5)) restarts; 6, 7, 8 do not -> stop after 8
    assert fit_with_val_losses(values, stopper) == 9
    assert stopper.stopped_epoch == 8


def test_paper_stopping_rule_state_resumes():
    first = PaperEarlyStopping(patience=4, start_epoch=0)
    fit_with_val_losses([1.0, 1.0, 1.0], first)
    assert {k: first.get_state()[k] for k in ("best", "wait")} == {"best": 1.0, "wait": 2}
    second = PaperEarlyStopping(patience=4, start_epoch=0)
    second.set_state(first.get_state())
    assert fit_with_val_losses([1.0] * 10, second) == 2  # waits 3 and 4


def test_stop_on_threshold_stops_and_warns_once_when_missing():
    model = linear_model(1)
    model.compile(ScheduledMomentumSGD(0.0), "mse")
    x = np.zeros((2, 1))
    h = model.fit(x, x, epochs=10, verbose=0,
                  callbacks=[FeedValLoss([0.5, 0.4, 0.3, 0.2] + [0.1] * 6),
                             StopOnThreshold("val_loss", 0.3, mode="min")])
    assert len(h.epoch) == 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, x, epochs=3, verbose=0, callbacks=[StopOnThreshold("val_accuracy", 0.9)])
    assert len([w for w in caught if "val_accuracy" in str(w.message)]) == 1


def test_non_finite_loss_raises():
    model = linear_model(1)
    model.compile(ScheduledMomentumSGD(1e30), "mse")
    x = np.full((8, 1), 1e10, np.float32)
    with pytest.raises(FloatingPointError, match="epoch"):
        model.fit(x, x, epochs=5, verbose=0, callbacks=[RaiseOnNonFiniteLoss()])


def test_train_monitor_logs_the_cost_of_its_rows_with_each_epochs_final_weights():
    """TrainSubsetMonitor's loss and metric, epoch by epoch, against numpy on the same rows
    with the weights the epoch ended with; 2,500 rows in batches of 1,000 (a partial last
    batch), the rows' dataset made once for all epochs."""
    from reproduce.train.callbacks import TrainSubsetMonitor

    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, 3)).astype(np.float32)
    y = (x @ np.array([[0.5], [-1.0], [2.0]]) + 0.3).astype(np.float32)
    rows_x, rows_y = x[:2500], y[:2500]
    net = linear_model(3)
    net.compile(keras.optimizers.SGD(0.01), "mse", metrics=["mae"])
    weights = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: weights.append(
            [w.astype(np.float64) for w in net.get_weights()]))
    history = net.fit(x, y, batch_size=100, epochs=3, shuffle=False, verbose=0,
                      callbacks=[TrainSubsetMonitor(rows_x, rows_y, batch_size=1000), record])
    for epoch, (w, b) in enumerate(weights):
        residual = rows_x.astype(np.float64) @ w + b - rows_y
        assert history.history["train_monitor_loss"][epoch] == pytest.approx(
            np.mean(residual ** 2), rel=1e-5)
        assert history.history["train_monitor_mae"][epoch] == pytest.approx(
            np.mean(np.abs(residual)), rel=1e-5)
    # the weights moved, so the three epochs' values differ
    assert len(set(history.history["train_monitor_loss"])) == 3


def small_classifier(seed: int, jit_compile: bool):
    """4 inputs, 8 tanh units, a sigmoid output; cross-entropy and the package's AUC."""
    from reproduce.train.auc import RunAUC

    keras.utils.set_random_seed(seed)
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                            keras.layers.Dense(1, activation="sigmoid")])
    net.compile(keras.optimizers.SGD(0.05), "binary_crossentropy", metrics=[RunAUC()],
                jit_compile=jit_compile)
    return net


@pytest.mark.parametrize("jit_compile", [True, False])
def test_train_monitor_values_are_evaluates_bit_for_bit(jit_compile):
    """The monitor's values (on TensorFlow: the model's test_step on batches made once)
    equal ``evaluate`` on the same rows exactly: a loss and the package's AUC, read as
    ``evaluate`` reads them, 2,500 rows in batches of 1,000 (a partial last batch), under
    XLA and without, after each of two epochs (the second reuses the first's batches)."""
    from reproduce.train.callbacks import TrainSubsetMonitor

    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 4)).astype(np.float32)
    y = (x[:, :1] + rng.normal(size=(3000, 1)) > 0).astype(np.float32)
    net = small_classifier(seed=2, jit_compile=jit_compile)
    monitor = TrainSubsetMonitor(x[:2500], y[:2500], batch_size=1000)
    seen = []
    check = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(
        (monitor.evaluate_rows(),
         net.evaluate(x[:2500], y[:2500], batch_size=1000, verbose=0, return_dict=True))))
    net.fit(x, y, batch_size=100, epochs=2, verbose=0, callbacks=[monitor, check])
    for ours, theirs in seen:
        assert set(ours) == set(theirs) == {"loss", "auc"}
        for name in ours:
            assert float(ours[name]) == theirs[name], name
    assert seen[0][1]["loss"] != seen[1][1]["loss"]


def test_validation_batches_give_the_values_of_keras_arrays():
    """``fit`` given ``backend_setup.validation_data`` (on TensorFlow a dataset of the
    batches, made once) logs the validation values that ``fit`` given the arrays and
    ``validation_batch_size`` logs, bit for bit, over three epochs (a partial last batch)."""
    from reproduce.train.backend_setup import validation_data

    rng = np.random.default_rng(6)
    x = rng.normal(size=(2000, 4)).astype(np.float32)
    y = (x[:, 0] + rng.normal(size=2000) > 0).astype(np.float32)

    def history(**validation):
        net = small_classifier(seed=4, jit_compile=True)
        return net.fit(x[:1200], y[:1200, None], batch_size=100, epochs=3, shuffle=False,
                       verbose=0, **validation).history

    ours = history(**validation_data(x[1200:], y[1200:], 300))
    theirs = history(validation_data=(x[1200:], y[1200:, None]), validation_batch_size=300)
    for name in ("val_loss", "val_auc"):
        assert ours[name] == theirs[name], name
    assert len(set(ours["val_loss"])) == 3
