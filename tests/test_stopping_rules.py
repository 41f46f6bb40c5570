"""The three stopping rules, replayed through model.fit against independent references.

The reference for ``pylearn2`` is written from Pylearn2's 2014 sources
(``termination_criteria/__init__.py``: ``MonitorBased``, ``EpochCounter`` counting its
calls, ``Or`` as ``any`` over a generator; ``train.py``: the criterion is asked after every
epoch and training ends when it answers False), not from the package's code.
"""

import keras
import numpy as np
import pytest

from reproduce.train.callbacks import EpochBudget, PaperEarlyStopping, Pylearn2Termination
from reproduce.train.optimizers import ScheduledMomentumSGD

from test_callbacks import FeedValLoss


class MonitorBased:
    def __init__(self, prop_decrease, N):
        self.prop_decrease, self.N = prop_decrease, N
        self.countdown, self.best_value = N, np.inf

    def continue_learning(self, val_record):
        if val_record[-1] < (1. - self.prop_decrease) * self.best_value:
            self.countdown = self.N
        else:
            self.countdown = self.countdown - 1
        if val_record[-1] < self.best_value:
            self.best_value = val_record[-1]
        return self.countdown > 0


class EpochCounter2014:
    def __init__(self, max_epochs):
        self._max_epochs, self._epochs_done = max_epochs, 0

    def continue_learning(self, val_record):
        self._epochs_done += 1
        return self._epochs_done < self._max_epochs


class Or:
    def __init__(self, criteria):
        self._criteria = list(criteria)

    def continue_learning(self, val_record):
        return any(c.continue_learning(val_record) for c in self._criteria)


def pylearn2_epochs(values, prop_decrease, N, max_epochs):
    """Epochs Pylearn2's main loop trains with this criterion (None: not stopped)."""
    criterion = Or([MonitorBased(prop_decrease, N), EpochCounter2014(max_epochs)])
    for epoch in range(len(values)):
        if not criterion.continue_learning(values[:epoch + 1]):
            return epoch + 1
    return None


def fit_epochs(values, rule, initial_epoch=0):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(ScheduledMomentumSGD(0.0), "mse")
    history = model.fit(np.zeros((2, 1)), np.zeros((2, 1)), epochs=len(values),
                        initial_epoch=initial_epoch, verbose=0,
                        callbacks=[FeedValLoss(values), rule])
    return initial_epoch + len(history.epoch)


def sequences():
    rng = np.random.default_rng(720)
    flat = [1.0] * 20
    yield "issue 720: never improves after epoch 1", flat, 10, 2
    yield "plateau", [1.0, 0.9, 0.8] + [0.8] * 40, 5, 3
    yield "steady improvement, then plateau", list(np.linspace(1, 0.5, 15)) + [0.5] * 15, 4, 5
    yield "improvement after stagnation resets the countdown", \
        [1.0] * 6 + [0.5] + [0.5] * 6 + [0.4] + [0.4] * 10, 3, 4
    yield "new best smaller than the factor does not reset", \
        [1.0] + [1.0 - 1e-7 * k for k in range(1, 40)], 3, 2
    yield "ties", [1.0, 1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8] * 5, 2, 3
    for k in range(6):  # noisy descents: improvements, plateaus, rises
        steps = rng.normal(-0.002, 0.01, 40)
        steps[rng.random(40) < 0.3] = 0.0  # exact ties
        yield f"random walk {k}", list(1.0 + np.cumsum(steps)), int(rng.integers(2, 8)), \
            int(rng.integers(1, 8))


@pytest.mark.parametrize("name, values, N, max_epochs", list(sequences()),
                         ids=[s[0] for s in sequences()])
def test_pylearn2_rule_stops_where_pylearn2_does(name, values, N, max_epochs):
    expected = pylearn2_epochs(values, 1e-5, N, max_epochs)
    rule = Pylearn2Termination(prop_decrease=1e-5, patience=N, max_epochs=max_epochs)
    assert fit_epochs(values, rule) == (expected or len(values))
    # resumed in the middle of the count: replay the first epochs, fit the rest
    cut = (expected or len(values)) // 2
    if cut:
        resumed = Pylearn2Termination(prop_decrease=1e-5, patience=N, max_epochs=max_epochs)
        assert resumed.replay(values[:cut]) is None
        assert fit_epochs(values, resumed, initial_epoch=cut) == (expected or len(values))


def test_issue_720_case():
    assert pylearn2_epochs([1.0] * 100, 1e-5, 10, 2) == 12
    assert fit_epochs([1.0] * 20, Pylearn2Termination(patience=10, max_epochs=2)) == 12


def test_pylearn2_rule_runs_about_max_epochs_past_stagnation():
    # improves for 300 epochs (by 1e-3 relative each), then flat: 300 + N-1 + 200
    values = [0.999 ** k for k in range(300)] + [0.999 ** 299] * 700
    rule = Pylearn2Termination(patience=10, max_epochs=200)
    assert rule.replay(values) + 1 == 300 + 9 + 200
    assert pylearn2_epochs(values, 1e-5, 10, 200) == 300 + 9 + 200


def test_observing_rule_records_without_stopping():
    rule = Pylearn2Termination(patience=3, max_epochs=2, observe_only=True)
    assert fit_epochs([1.0] * 20, rule) == 20
    assert rule.stopped_epoch + 1 == pylearn2_epochs([1.0] * 20, 1e-5, 3, 2)


def test_epoch_budget_trains_exactly_its_epochs_and_resumes():
    assert fit_epochs([1.0] * 50, EpochBudget(17)) == 17
    resumed = EpochBudget(17)
    assert resumed.replay([1.0] * 9) is None
    assert fit_epochs([1.0] * 50, resumed, initial_epoch=9) == 17
    assert "9 of 17" in resumed.summary() or "17 of 17" in resumed.summary()


def test_paper_text_rule_replay_equals_uninterrupted_fit():
    values = [1.0, 0.9, 0.8, 0.8, 0.79999, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    straight = PaperEarlyStopping(patience=3, start_epoch=2)
    n = fit_epochs(values, straight)
    resumed = PaperEarlyStopping(patience=3, start_epoch=2)
    resumed.replay(values[:6])
    assert fit_epochs(values, resumed, initial_epoch=6) == n == 9
