from decimal import Decimal, getcontext

import numpy as np
import pytest

from reproduce.train.schedules import learning_rate_at, momentum_at
from reproduce.train.step_decay import ExponentialStepDecay

getcontext().prec = 40


def exact_rate(step, initial="0.05", factor="1.0000002", floor="1e-6"):
    """max(initial / factor**step, floor) in 40-digit decimal arithmetic."""
    value = Decimal(initial) / Decimal(factor) ** step
    return float(max(value, Decimal(floor)))


STEPS = [0, 1, 2, 99, 100, 12345, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 54_000_000]


@pytest.mark.parametrize("step", STEPS)
def test_learning_rate_at_matches_decimal_closed_form(step):
    assert learning_rate_at(step) == pytest.approx(exact_rate(step), rel=1e-8)


def test_schedule_in_graph_exact_to_1e6_relative_up_to_1e7_steps():
    schedule = ExponentialStepDecay()
    steps = np.unique(np.r_[np.linspace(0, 10_000_000, 2001).astype(np.int64), STEPS[:-1]])
    values = np.array([float(schedule(int(s))) for s in steps[::20]])
    reference = np.array([exact_rate(int(s)) for s in steps[::20]])
    np.testing.assert_allclose(values, reference, rtol=1e-6)


def test_repeated_float32_division_drifts_but_closed_form_does_not():
    # The trap this package avoids: dividing a float32 by 1.0000002 two million times.
    lr = np.float32(0.05)
    for _ in range(2_000_000):
        lr = np.float32(lr / np.float32(1.0000002))
    assert abs(float(lr) / exact_rate(2_000_000) - 1) > 0.01
    assert abs(float(ExponentialStepDecay()(2_000_000)) / exact_rate(2_000_000) - 1) < 1e-6


def test_paper_numbers():
    # The paper: ~9.2e-4 at epoch 200 with 100k batches per epoch; floor near epoch 541.
    assert learning_rate_at(200 * 100_000) == pytest.approx(9.2e-4, rel=0.01)
    assert learning_rate_at(540 * 100_000) > 1e-6
    assert learning_rate_at(542 * 100_000) == 1e-6
    assert learning_rate_at(1, factor=1.0000003) == pytest.approx(0.05 / 1.0000003)


def test_momentum_ramp_closed_form():
    assert momentum_at(0) == 0.9
    assert momentum_at(100) == pytest.approx(0.945)
    assert momentum_at(200) == pytest.approx(0.99)
    assert momentum_at(700) == pytest.approx(0.99)
    assert momentum_at(1) == pytest.approx(0.9 + 0.09 / 200)
