"""Packed training on Keras's TensorFlow backend, in the workflow's processes: a pack of 15
(5 seeds x 3 feature sets) against the 15 runs trained one by one, under each stopping rule
that can fire, at different epochs in different replicas, over thousands of steps
(tests/packed_runs.py).

tests/test_packed.py checks the packed layers and optimizer against unpacked Keras runs;
tests/test_packed_training.py the pack's outputs, resume and continuation on TensorFlow;
tests/test_packed_jax.py the same 15-pack checks on JAX.
"""

import pytest

from packed_runs import (RULES, check_every_replica_equals_its_run_alone,
                         check_stopped_replicas_stay_bit_unchanged, train_pack_and_alone)


@pytest.fixture(scope="module", params=RULES)
def trained(request, sample_shards, tmp_path_factory):
    """(rule, the pack's folder, the folder of the 15 runs trained alone), on TensorFlow."""
    return request.param, *train_pack_and_alone("tensorflow", request.param, sample_shards,
                                                tmp_path_factory)


def test_every_replica_of_a_15_pack_equals_its_run_trained_alone(trained):
    rule, pack, alone = trained
    check_every_replica_equals_its_run_alone(pack, alone, "tensorflow", rule)


def test_a_replica_stopped_early_stays_bit_unchanged(trained):
    _, pack, _ = trained
    check_stopped_replicas_stay_bit_unchanged(pack)
