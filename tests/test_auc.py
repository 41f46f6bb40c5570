"""The training metric's AUC (``reproduce.train.auc``) against Keras's own
``keras.metrics.AUC`` (bit for bit: the same buckets, the same sums) and scikit-learn's
exact ROC AUC (within the 200 thresholds' binning), on TensorFlow and on JAX."""

import json

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from reproduce.train.auc import RunAUC
from test_backend_jax import needs_jax, run_python


def minibatches(seed=5, batches=7, size=100):
    """Labels and scores of a few minibatches, some scores on the thresholds and at 0 and 1."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(batches):
        y = (rng.random(size) < 0.45).astype(np.float32)
        p = np.clip(rng.normal(0.45 + 0.2 * y, 0.2), 0, 1).astype(np.float32)
        if i == 0:
            p[:20] = np.round(p[:20] * 199) / 199  # on the thresholds
            p[20:24] = [0.0, 1.0, 0.0, 1.0]
        out.append((y, p))
    return out


def test_run_auc_equals_keras_auc_bit_for_bit_and_sklearn_within_binning():
    ours, theirs = RunAUC(), keras.metrics.AUC(num_thresholds=200)
    seen = []
    for y, p in minibatches():
        ours.update_state(y.reshape(-1, 1), p.reshape(-1, 1))
        theirs.update_state(y.reshape(-1, 1), p.reshape(-1, 1))
        seen.append((y, p))
        assert float(ours.result()) == float(theirs.result())
    y, p = (np.concatenate(a) for a in zip(*seen))
    assert float(ours.result()) == pytest.approx(roc_auc_score(y, p), abs=2e-3)
    ours.reset_state()
    assert float(ours.result()) == 0.0  # as Keras's AUC with no events


def test_run_auc_refuses_sample_weights_and_one_threshold():
    with pytest.raises(ValueError, match="num_thresholds"):
        RunAUC(1)
    with pytest.raises(ValueError, match="sample weights"):
        RunAUC().update_state(np.ones(2), np.ones(2), sample_weight=np.ones(2))


def test_a_model_compiled_with_run_auc_saves_and_loads(tmp_path):
    import reproduce.train.keras_objects  # noqa: F401

    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    net.compile("sgd", "binary_crossentropy", metrics=[RunAUC(50, name="auc")])
    x, y = np.random.default_rng(0).normal(size=(64, 2)), np.arange(64) % 2
    net.fit(x, y, verbose=0)
    net.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    logs = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "auc"} and 0.0 <= logs["auc"] <= 1.0


@needs_jax
def test_run_auc_equals_keras_auc_on_jax(tmp_path):
    data = [(y.tolist(), p.tolist()) for y, p in minibatches(seed=8)]
    result = run_python(f"""
        import json
        import keras, numpy as np
        from reproduce.train.auc import RunAUC
        ours, theirs = RunAUC(), keras.metrics.AUC(num_thresholds=200)
        for y, p in {json.dumps(data)}:
            y, p = np.array(y, np.float32).reshape(-1, 1), np.array(p, np.float32).reshape(-1, 1)
            ours.update_state(y, p)
            theirs.update_state(y, p)
        print(json.dumps({{"backend": keras.backend.backend(), "ours": float(ours.result()),
                          "theirs": float(theirs.result())}}))
    """, tmp_path, without_tensorflow=True)
    assert result["backend"] == "jax"
    assert result["ours"] == result["theirs"]
