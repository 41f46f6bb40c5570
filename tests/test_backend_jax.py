"""Keras's JAX backend: the TensorFlow-free shard reader, the backend switch, block steps
in one ``lax.scan``, the float32 learning rate, and the package's layers under JAX.

Keras fixes its backend at import, so everything that runs on JAX runs in a subprocess
with ``KERAS_BACKEND=jax``; it writes its numbers as JSON and the references (numpy,
hand-computed momentum SGD, TensorFlow's reader) are computed here.
"""

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from reproduce.data.crc32c import crc32c_rows
from reproduce.data.records import CorruptShardError, read_shard, read_split

from conftest import REPO

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax is not installed (the jax extra)")


# Run first in a script: the process behaves as on a machine without TensorFlow (the GPU
# machine's case): any import of it fails as for a module not installed, and it is never in
# sys.modules (Keras asks sys.modules whether TensorFlow is loaded: a None entry there
# would make Keras's preprocessing layers try to use it). Keras's own optional uses of
# TensorFlow where it is installed (``model.save``, ``keras.utils.set_random_seed``) then
# stand down.
WITHOUT_TENSORFLOW = (
    "import sys\n"
    "class _WithoutTensorFlow:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] == 'tensorflow':\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, _WithoutTensorFlow())\n")


def jax_script(script, *args) -> subprocess.Popen:
    """``python script *args`` in a process on Keras's JAX backend without TensorFlow (the
    tests' folder importable); stdout discarded, stderr kept for ``finished``."""
    return backend_script("jax", script, *args)


def backend_script(backend: str, script, *args) -> subprocess.Popen:
    """``python script *args`` in a process on Keras's ``backend`` (the tests' folder
    importable); on JAX, without TensorFlow. stdout discarded, stderr kept for ``finished``."""
    code = ((WITHOUT_TENSORFLOW if backend == "jax" else "") + "import runpy, sys\n"
            f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            f"sys.argv = {[str(script), *map(str, args)]!r}\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def finished(proc, timeout: float = 900) -> None:
    """Wait for a ``backend_script`` (or ``jax_script``) process; fail with the end of its
    stderr unless it exited 0."""
    assert proc.wait(timeout=timeout) == 0, proc.stderr.read().decode()[-3000:]


def run_python(code: str, cwd, backend: str | None = "jax",
               without_tensorflow: bool = False) -> dict:
    """Run ``code`` in a fresh interpreter (Keras on ``backend``); its last stdout line,
    parsed as JSON."""
    code = (WITHOUT_TENSORFLOW if without_tensorflow else "") + textwrap.dedent(code)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if backend:
        env["KERAS_BACKEND"] = backend
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- crc32c and the shards


def crc32c_bitwise(data: bytes) -> int:
    """The Castagnoli CRC one bit at a time (RFC 3720's definition): the reference."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_crc32c_matches_the_bitwise_definition_and_the_check_value():
    assert int(crc32c_rows(np.frombuffer(b"123456789", np.uint8)[None])[0]) == 0xE3069283
    rng = np.random.default_rng(0)
    for length in (0, 1, 2, 15, 16, 17, 33, 255, 1000, 4100):
        rows = rng.integers(0, 256, (3, length), dtype=np.uint8)
        assert crc32c_rows(rows).tolist() == [crc32c_bitwise(r.tobytes()) for r in rows]


def test_reader_equals_tensorflows_on_every_split(sample_shards):
    from reproduce.data.tf_reader import read_split as tf_read_split

    for split in ("train", "valid", "test"):
        expected, got = tf_read_split(sample_shards, split), read_split(sample_shards, split)
        for a, b in zip(expected, got):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)


def test_reader_imports_no_tensorflow(sample_shards, tmp_path):
    result = run_python(f"""
        import json, sys
        from reproduce.data.records import read_split
        x, y = read_split({str(sample_shards)!r}, "train")
        print(json.dumps({{"rows": len(y), "tensorflow": "tensorflow" in sys.modules}}))
    """, tmp_path, backend=None)
    assert result == {"rows": 8984, "tensorflow": False}


def copy_of_shards(sample_shards, tmp_path):
    folder = tmp_path / "tfrecords"
    shutil.copytree(sample_shards, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    return folder, manifest["splits"]["train"]["shards"][1]


def flip_byte(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_corrupted_data_byte_names_the_shard_record_and_offset(sample_shards, tmp_path):
    folder, shard = copy_of_shards(sample_shards, tmp_path)
    record = 256 * 29 * 4 + 16  # a 256-row record and its framing
    flip_byte(folder / shard["file"], 3 * record + 12 + 1000)  # in the 4th record's data
    with pytest.raises(CorruptShardError, match=rf"{shard['file']}: record 3 at byte "
                                                rf"{3 * record:,} .*crc of its data"):
        read_split(folder, "train")


def test_a_corrupted_length_byte_names_the_header(sample_shards, tmp_path):
    folder, shard = copy_of_shards(sample_shards, tmp_path)
    record = 256 * 29 * 4 + 16
    flip_byte(folder / shard["file"], 5 * record + 9)  # the crc of the 6th record's length
    with pytest.raises(CorruptShardError, match=rf"record 5 at byte {5 * record:,}: the crc "
                                                r"of its length"):
        read_split(folder, "train")


def test_a_truncated_shard_is_named(sample_shards, tmp_path):
    folder, shard = copy_of_shards(sample_shards, tmp_path)
    path = folder / shard["file"]
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(CorruptShardError, match=rf"{shard['file']}: record 15 .*truncated"):
        read_split(folder, "train")


def framed(data: bytes) -> bytes:
    """One TFRecord record, framed with the bitwise reference CRC."""
    def masked(crc):
        return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF

    length = len(data).to_bytes(8, "little")
    return (length + masked(crc32c_bitwise(length)).to_bytes(4, "little") + data
            + masked(crc32c_bitwise(data)).to_bytes(4, "little"))


def test_a_shard_rewritten_with_valid_crcs_fails_the_manifests_sha256(tmp_path):
    rows = np.arange(2 * 3 * 5, dtype="<f4").reshape(6, 5)
    path = tmp_path / "train-00000-of-00001.tfrecord"
    path.write_bytes(framed(rows[:4].tobytes()) + framed(rows[4:].tobytes()))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    np.testing.assert_array_equal(read_shard(path, 5, sha256=digest, rows=6), rows)
    rows[0, 0] = -1.0
    path.write_bytes(framed(rows[:4].tobytes()) + framed(rows[4:].tobytes()))
    assert read_shard(path, 5)[0, 0] == -1.0  # the framing is valid
    with pytest.raises(CorruptShardError, match="sha256 .* the manifest lists"):
        read_shard(path, 5, sha256=digest)
    with pytest.raises(CorruptShardError, match="not whole rows of 7"):
        read_shard(path, 7)


# ---------------------------------------------------------------- the backend switch


@needs_jax
def test_select_backend_sets_keras_backend_before_import(tmp_path):
    result = run_python("""
        import json, sys
        from reproduce.backend import select_backend, visible_gpus, training_device
        assert "keras" not in sys.modules
        select_backend("jax")
        import keras
        print(json.dumps({"backend": keras.backend.backend(), "gpus": visible_gpus(),
                          "device": training_device(),
                          "tensorflow": "tensorflow" in sys.modules}))
    """, tmp_path, backend="tensorflow")  # the environment said tensorflow: the call wins
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    assert result["backend"] == "jax" and result["tensorflow"] is False
    assert len(result["gpus"]) == len(gpus)
    assert result["device"] == ("cpu" if not gpus else f"gpu: {result['gpus'][0]}")


def test_select_backend_refuses_once_keras_runs_another():
    import keras

    from reproduce.backend import select_backend

    current = keras.backend.backend()
    assert select_backend(current) == current
    other = "jax" if current == "tensorflow" else "tensorflow"
    with pytest.raises(RuntimeError, match=rf"compute.backend is '{other}'.*already imported"):
        select_backend(other)
    with pytest.raises(ValueError, match="compute.backend: expected one of tensorflow, jax"):
        select_backend("torch")


@needs_jax
def test_set_random_seed_seeds_as_keras_does_without_tensorflow(tmp_path):
    result = run_python("""
        import json, random, sys
        import keras, numpy as np
        from reproduce.backend import set_random_seed
        set_random_seed(7)
        ours = [keras.ops.convert_to_numpy(keras.random.uniform((4,))).tolist(),
                random.random(), np.random.random()]
        tensorflow = "tensorflow" in sys.modules
        keras.utils.set_random_seed(7)
        theirs = [keras.ops.convert_to_numpy(keras.random.uniform((4,))).tolist(),
                  random.random(), np.random.random()]
        print(json.dumps({"ours": ours, "theirs": theirs, "tensorflow": tensorflow}))
    """, tmp_path)
    assert result["tensorflow"] is False
    assert result["ours"] == result["theirs"]


# ---------------------------------------------------------------- training on JAX

@needs_jax
def test_float32_learning_rate_does_not_drift(tmp_path):
    steps = [0, 1, 1000, 2_000_000, 16_777_217, 54_000_000, 100_000_000, 2**31 - 1]
    factors = [1.0000002, 1.0000003, 1.0002]
    result = run_python(f"""
        import json, warnings
        warnings.simplefilter("ignore")
        import keras
        from reproduce.train.schedules_jax import SplitExponentialStepDecay
        from reproduce.train.step_decay import ExponentialStepDecay
        out = {{}}
        for f in {factors}:
            split, f64 = SplitExponentialStepDecay(0.05, f, 1e-30), ExponentialStepDecay(0.05, f, 1e-30)
            out[repr(f)] = [[float(split(keras.ops.convert_to_tensor(s, "int32"))),
                             float(f64(keras.ops.convert_to_tensor(s, "int32")))]
                            for s in {steps}]
        print(json.dumps(out))
    """, tmp_path)
    for factor in factors:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            expected = 0.05 / np.power(np.float64(factor), np.array(steps, np.float64))
            got = np.array(result[repr(factor)])
            ok = expected > 1e-30 * 1e3  # away from the floor and float32's denormals
            rel = np.abs(got[:, 0] - expected) / expected
        assert np.all(rel[ok] < 1e-6), (factor, rel)
    two_million = steps.index(2_000_000)
    expected = 0.05 / 1.0000002**2_000_000
    assert abs(result["1.0000002"][two_million][0] / expected - 1) < 1e-6


LINEAR_BLOCKS = """
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import keras, numpy as np
    from reproduce.backend import set_random_seed
    from reproduce.train.block_steps_jax import enable_block_steps_jax
    from reproduce.train.callbacks import MomentumRamp
    from reproduce.train.jax_batches import epoch_block_arrays
    from reproduce.train.optimizers import ScheduledMomentumSGD
    from reproduce.train.schedules_jax import SplitExponentialStepDecay

    data = np.load("data.npz")
    x, y = data["x"], data["y"]

    class FileOrder:
        def permutation(self, epoch):
            return np.arange(len(x))

    def model(block):
        set_random_seed(0)
        net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
            1, kernel_initializer="glorot_uniform", bias_initializer="ones")])
        w0 = [w.tolist() for w in net.get_weights()]
        net.compile(ScheduledMomentumSGD(SplitExponentialStepDecay(0.05, 1.05, 1e-3), 0.0),
                    "mse", jit_compile=True)
        callbacks = [MomentumRamp(0.0, 0.9, 2)]
        calls = {"compiled": 0, "traced": 0}
        if block:
            enable_block_steps_jax(net)
            block_step = net.train_step

            def traced_step(state, data):  # runs only while jax traces the jitted call
                calls["traced"] += 1
                return block_step(state, data)

            net.train_step = traced_step
            net.make_train_function()
            compiled = net.train_function

            def counted(state, iterator):  # one host call per block
                calls["compiled"] += 1
                return compiled(state, iterator)

            net.train_function = counted
            blocks = epoch_block_arrays(x, y, order=FileOrder(), first_epoch=0, last_epoch=4,
                                        batch_size=8, block_size=3)
            history = net.fit(blocks, epochs=4, steps_per_epoch=4, verbose=0,
                              callbacks=callbacks)
        else:
            history = net.fit(x, y.reshape(-1, 1), batch_size=8, epochs=4, shuffle=False,
                              verbose=0, callbacks=callbacks)
        return {"w0": w0, "weights": [w.tolist() for w in net.get_weights()],
                "steps": int(net.optimizer.iterations.numpy()), "calls": calls,
                "loss": history.history["loss"]}

    print(json.dumps({"block": model(True), "per_batch": model(False)}))
"""


def reference_momentum_sgd(w, b, x, y, batch, epochs, lr_at, momentum_at):
    """Momentum SGD on the MSE of a linear model, by hand in float64 numpy."""
    w, b = w.astype(np.float64).copy(), b.astype(np.float64).copy()
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    step, losses = 0, []
    for epoch in range(epochs):
        mu, total = momentum_at(epoch), 0.0
        for start in range(0, len(x), batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            residual = xb @ w + b - yb
            total += np.sum(residual ** 2)
            vw = mu * vw - lr_at(step) * 2.0 * xb.T @ residual / len(xb)
            vb = mu * vb - lr_at(step) * 2.0 * residual.sum(axis=0) / len(xb)
            w, b = w + vw, b + vb
            step += 1
        losses.append(total / len(x))
    return w, b, losses


@needs_jax
def test_jax_block_steps_follow_hand_computed_momentum_sgd_and_per_batch_fit(tmp_path):
    # 60 rows in batches of 8: blocks of 3, 3 and 1 full batches, then 4 rows
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    result = run_python(LINEAR_BLOCKS, tmp_path, without_tensorflow=True)
    block, per_batch = result["block"], result["per_batch"]
    assert block["steps"] == per_batch["steps"] == 4 * 8  # one step per minibatch
    # one jitted call per block (16), traced once per block shape: (3, 8), (1, 8), (1, 4)
    assert block["calls"] == {"compiled": 16, "traced": 3}
    w0, b0 = (np.array(v) for v in block["w0"])
    w, b, losses = reference_momentum_sgd(
        w0, b0, x.astype(np.float64), y.reshape(-1, 1).astype(np.float64), 8, 4,
        lr_at=lambda t: max(0.05 / 1.05**t, 1e-3),
        momentum_at=lambda e: 0.9 * min(e / 2, 1.0))
    np.testing.assert_allclose(block["weights"][0], w, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(block["weights"][1], b, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(block["loss"], losses, rtol=2e-5)  # the row-weighted mean
    for a, b_ in zip(block["weights"], per_batch["weights"]):
        np.testing.assert_allclose(a, b_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(block["loss"], per_batch["loss"], rtol=1e-6)


DEEP_NET = """
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import keras, numpy as np
    from reproduce.backend import set_random_seed
    from reproduce.train.batch_order import SharedBatchOrder
    from reproduce.train.block_steps_jax import enable_block_steps_jax
    from reproduce.train.callbacks import (EpochWallTime, MomentumRamp, PaperEarlyStopping,
        PerBatchLearningRateDecay, Pylearn2Termination, RaiseOnNonFiniteLoss,
        TrainSubsetMonitor)
    from reproduce.train.jax_batches import epoch_block_arrays
    from reproduce.train.models import paper_model
    from reproduce.train.block_steps import blocks_per_epoch
    from reproduce.train.compiled_network import compile_for_training
    from reproduce.train.settings import TrainingSettings

    rng = np.random.default_rng(0)
    n = 3050  # 30 full batches of 100 (blocks of 10) and 50 rows
    x = rng.normal(size=(n, 28)).astype(np.float32)
    y = (x[:, 0] - x[:, 3] > 0).astype(np.float32)
    settings = TrainingSettings(steps_per_execution=10)
    set_random_seed(1)
    net = enable_block_steps_jax(compile_for_training(paper_model("deep", 28, seed=1), settings))
    blocks = epoch_block_arrays(x, y, order=SharedBatchOrder(n), first_epoch=0, last_epoch=2,
                                batch_size=100, block_size=10)
    callbacks = [PerBatchLearningRateDecay(), MomentumRamp(offset=1), EpochWallTime(),
                 RaiseOnNonFiniteLoss(), TrainSubsetMonitor(x[:500], y[:500, None]),
                 Pylearn2Termination("val_loss", 1e-5, 10, 200),
                 PaperEarlyStopping("val_loss", 1e-5, 10, 200),
                 keras.callbacks.ModelCheckpoint("best.weights.h5", save_best_only=True,
                                                 save_weights_only=True),
                 keras.callbacks.CSVLogger("log.csv")]
    history = net.fit(blocks, epochs=2, steps_per_epoch=blocks_per_epoch(n, 100, 10),
                      validation_data=(x[:1000], y[:1000, None]), validation_batch_size=500,
                      callbacks=callbacks, verbose=0)
    net.save("model.keras")
    loaded = keras.models.load_model("model.keras")
    print(json.dumps({"history": history.history,
                      "steps": int(net.optimizer.iterations.numpy()),
                      "loaded_steps": int(loaded.optimizer.iterations.numpy())}))
"""


@needs_jax
def test_deep_net_trains_on_jax_as_training_compiles_it(tmp_path):
    result = run_python(DEEP_NET, tmp_path, without_tensorflow=True)
    history = result["history"]
    assert result["steps"] == result["loaded_steps"] == 2 * 31  # 30 full batches + 50 rows
    assert all(np.isfinite(history["loss"])) and history["val_auc"][-1] > 0.9
    np.testing.assert_allclose(history["learning_rate"],
                               [0.05 / 1.0000002**31, 0.05 / 1.0000002**62], rtol=1e-6)
    np.testing.assert_allclose(history["momentum"], [0.9 + 0.09 / 200, 0.9 + 0.18 / 200])
    assert (tmp_path / "log.csv").read_text().count("\n") == 3


DROPOUT = """
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import keras, numpy as np
    import reproduce.train.models as models
    from reproduce.backend import set_random_seed
    from reproduce.train.block_steps_jax import enable_block_steps_jax
    from reproduce.train.optimizers import ScheduledMomentumSGD

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 5)).astype(np.float32)
    y = (rng.random((1200, 1)) < 0.5).astype(np.float32)

    def blocks(first, last):  # 3 blocks of 4 minibatches of 100
        for i in range(first, last):
            yield x[400 * i:400 * (i + 1)].reshape(4, 100, 5), \\
                  y[400 * i:400 * (i + 1)].reshape(4, 100, 1)

    def new_net(rate=0.5):
        set_random_seed(3)
        net = models.paper_model("shallow", 5, seed=3, dropout=True)
        net.get_layer("dropout_top").rate = rate
        net.compile(ScheduledMomentumSGD(0.05, 0.9), "binary_crossentropy", jit_compile=True)
        return net

    def weights(net):
        return [w.tolist() for w in net.get_weights()]

    whole = enable_block_steps_jax(new_net())
    whole.fit(blocks(0, 3), epochs=1, steps_per_epoch=3, verbose=0)
    first = enable_block_steps_jax(new_net())
    first.fit(blocks(0, 2), epochs=1, steps_per_epoch=2, verbose=0)
    first.save("dropout.keras")
    resumed = enable_block_steps_jax(keras.models.load_model("dropout.keras"))
    resumed.fit(blocks(2, 3), epochs=1, steps_per_epoch=1, verbose=0)
    per_batch = new_net()
    per_batch.fit(x, y, batch_size=100, epochs=1, shuffle=False, verbose=0)
    no_dropout = enable_block_steps_jax(new_net(rate=0.0))
    no_dropout.fit(blocks(0, 3), epochs=1, steps_per_epoch=3, verbose=0)
    layer = resumed.get_layer("dropout_top")
    out = keras.ops.convert_to_numpy(layer(np.ones((200, 300), np.float32), training=True))
    print(json.dumps({"whole": weights(whole), "resumed": weights(resumed),
                      "per_batch": weights(per_batch), "no_dropout": weights(no_dropout),
                      "layer": type(layer).__name__, "values": sorted(set(out.ravel().tolist())),
                      "dropped": float(np.mean(out == 0))}))
"""


@needs_jax
def test_jax_dropout_resumes_from_its_saved_generator(tmp_path):
    result = run_python(DROPOUT, tmp_path, without_tensorflow=True)
    assert result["layer"] == "PaperDropout"  # one class on both backends
    for a, b in zip(result["whole"], result["resumed"]):  # bit-identical across a reload
        np.testing.assert_array_equal(a, b)
    for a, b in zip(result["whole"], result["per_batch"]):  # the same masks, in order
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(result["whole"][0], result["no_dropout"][0], rtol=1e-3)
    assert result["values"] == [0.0, 2.0]  # kept units scaled by 1 / (1 - 0.5)
    assert abs(result["dropped"] - 0.5) < 0.01  # 60,000 draws: 4 sigma is 0.008


PAPER_L2 = """
    import json
    import jax, numpy as np
    from reproduce.train.models import PaperL2
    out = {}
    for shape in [(300, 300), (28, 300), (301, 7), (5,)]:
        w = np.random.default_rng(0).normal(0, 0.05, size=shape).astype(np.float32)
        value, grad = jax.value_and_grad(lambda v: PaperL2(1e-5)(v))(w)
        jitted = jax.jit(lambda v: PaperL2(1e-5)(v))(w)
        out[str(shape)] = [float(value), float(jitted), np.asarray(grad).ravel()[:50].tolist()]
    print(json.dumps(out))
"""


@needs_jax
def test_paper_l2_value_and_gradient_on_jax(tmp_path):
    result = run_python(PAPER_L2, tmp_path)
    for shape in [(300, 300), (28, 300), (301, 7), (5,)]:
        w = np.random.default_rng(0).normal(0, 0.05, size=shape).astype(np.float32)
        value, jitted, grad = result[str(shape)]
        expected = 1e-5 * np.sum(w.astype(np.float64) ** 2)
        assert value == pytest.approx(expected, rel=1e-6)
        assert jitted == pytest.approx(expected, rel=1e-6)
        np.testing.assert_allclose(grad, 2e-5 * w.ravel()[:50], rtol=1e-6)


def test_numpy_epoch_blocks_equal_the_tf_data_blocks_for_the_shared_order():
    from reproduce.train.batch_order import SharedBatchOrder
    from reproduce.train.jax_batches import NumpyPerSeedBatchOrder, epoch_block_arrays
    from reproduce.train.block_steps import blocks_per_epoch, epoch_blocks

    n, batch, block = 1037, 10, 4  # 25 blocks of 4, one of 3, then 7 rows
    x = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    y = np.arange(n, dtype=np.float32)
    kwargs = dict(first_epoch=1, last_epoch=3, batch_size=batch, block_size=block)
    expected = list(epoch_blocks(x, y, order=SharedBatchOrder(n, 1), **kwargs)
                    .as_numpy_iterator())
    got = list(epoch_block_arrays(x, y, order=SharedBatchOrder(n, 1), **kwargs))
    assert len(got) == len(expected) == 2 * blocks_per_epoch(n, batch, block)
    for (xa, ya), (xb, yb) in zip(expected, got):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    order = NumpyPerSeedBatchOrder(n, seed=5)
    epochs = [order.permutation(e) for e in (0, 1)]
    assert all(np.array_equal(np.sort(p), np.arange(n)) for p in epochs)
    assert not np.array_equal(epochs[0], epochs[1])
    assert np.array_equal(epochs[1], NumpyPerSeedBatchOrder(n, seed=5).permutation(1))
    assert not np.array_equal(epochs[1], NumpyPerSeedBatchOrder(n, seed=6).permutation(1))
