"""One training run: (dataset, model, feature set, seed) -> log, checkpoints, test scores.

``train_run`` is what the workflow's ``train`` rule calls. It is resumable: after every
epoch the model, the optimizer (step counter, momentum, velocities) and the state of every
stateful callback are saved atomically under ``<run_dir>/state/``; rerunning after a kill
continues from the last completed epoch and gives the same weights as a run never
interrupted (on the CPU, same seed and thread count).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
from pathlib import Path

import numpy as np

from . import schedules as paper
from .atomic_files import copy_atomic, savez_atomic, write_json_atomic, write_text_atomic
from .datasets import DatasetSpec
from .tfrecords import load_manifest, read_split, standardization_constants

log = logging.getLogger(__name__)

STATE_DIR = "state"
# Files written while training, outside the rule's declared outputs (which Snakemake deletes
# when a job fails): the live CSV log and the best checkpoint. They are copied to the run
# folder when training ends.
PROGRESS_DIR = "progress"


@dataclasses.dataclass
class TrainingSettings:
    """Every knob of a training run. Defaults are the paper's (see ``reproduce.schedules``).

    ``max_epochs``: hard cap (the paper's runs went to about 1000). ``steps_per_execution``:
    minibatches per compiled call, run in one XLA loop (``reproduce.block_steps``); each
    epoch ends with a shorter call for its remaining batches. ``jit_compile``: XLA for the
    train step. ``standardize``: "none" (the UCI values, as the authors' released code fed
    them) or "paper" (the Methods text).
    ``learning_rate_schedule``: "per_batch" (the paper, exact at every batch) or "per_epoch"
    (Keras's built-in ``LearningRateScheduler``: the same closed form, applied at the start
    of each epoch only, as the callbacks article does).
    ``early_stopping_patience`` / ``stop_on_threshold``: the article's optional built-ins.
    """

    width: int = 300
    depth: int | None = None
    dropout: bool = False
    batch_size: int = paper.BATCH_SIZE
    learning_rate: float = paper.INITIAL_LEARNING_RATE
    learning_rate_decay_factor: float = paper.LEARNING_RATE_DECAY_FACTOR
    dropout_learning_rate_decay_factor: float = paper.DROPOUT_LEARNING_RATE_DECAY_FACTOR
    learning_rate_floor: float = paper.LEARNING_RATE_FLOOR
    learning_rate_schedule: str = "per_batch"
    initial_momentum: float = paper.INITIAL_MOMENTUM
    final_momentum: float = paper.FINAL_MOMENTUM
    momentum_saturation_epochs: int = paper.MOMENTUM_SATURATION_EPOCHS
    weight_decay: float = paper.WEIGHT_DECAY
    min_relative_improvement: float = paper.MIN_RELATIVE_IMPROVEMENT
    patience: int = paper.PATIENCE
    dropout_patience: int = paper.DROPOUT_PATIENCE
    max_epochs: int = 1000
    steps_per_execution: int = 100
    jit_compile: bool = True
    standardize: str = "none"
    validation_batch_size: int = 10_000
    auc_thresholds: int = 200
    early_stopping_patience: int | None = None
    stop_on_threshold: dict | None = None
    threads: int = 0

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingSettings":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"training: unknown key(s) {', '.join(unknown)}")
        return cls(**values)

    @property
    def decay_factor(self) -> float:
        """The per-batch divisor of this run (the dropout runs have their own)."""
        return (self.dropout_learning_rate_decay_factor if self.dropout
                else self.learning_rate_decay_factor)

    def block_size(self, n_train: int) -> int:
        """Minibatches per compiled call for ``n_train`` rows: ``steps_per_execution``, or
        fewer when an epoch has fewer full batches."""
        return max(1, min(self.steps_per_execution, n_train // self.batch_size))

    @property
    def stopping_patience(self) -> int:
        """The stopping rule's patience of this run (the dropout runs have their own)."""
        return self.dropout_patience if self.dropout else self.patience


def configure_tensorflow(seed: int, threads: int = 0, op_determinism: bool = False) -> None:
    """Seeds every generator, fixes the thread pools and turns on GPU memory growth.

    ``op_determinism=True`` also calls ``tf.config.experimental.enable_op_determinism()``,
    which Keras answers by turning XLA off. It is not needed on the CPU: the ops of these
    networks are deterministic there with or without XLA (the tests check bit-identical
    weights across runs and across a kill and resume).
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if op_determinism:
        tf.config.experimental.enable_op_determinism()
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError:
            pass  # already initialized in this process
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass


def compile_for_training(net, settings: TrainingSettings):
    """Compile a paper network as ``train_run`` does: ScheduledMomentumSGD, cross-entropy,
    AUC, XLA per ``settings.jit_compile``. One Keras step per call: the block of
    ``settings.steps_per_execution`` minibatches (``reproduce.block_steps``) takes that role.
    """
    import keras

    from .optimizers import ScheduledMomentumSGD

    net.compile(
        optimizer=ScheduledMomentumSGD(settings.learning_rate, settings.initial_momentum),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(num_thresholds=settings.auc_thresholds, name="auc")],
        steps_per_execution=1,
        jit_compile=settings.jit_compile,
    )
    return net


def blocks_per_epoch(n: int, batch_size: int, block_size: int) -> int:
    """Elements per epoch of ``epoch_blocks``: full blocks, a shorter block of the remaining
    full batches, and the last partial batch as a block of one."""
    full_batches, rest = divmod(n, batch_size)
    return math.ceil(full_batches / block_size) + (1 if rest else 0)


def epoch_blocks(x: np.ndarray, y: np.ndarray, *, seed: int, first_epoch: int,
                 last_epoch: int, batch_size: int, block_size: int):
    """Training batches for epochs ``first_epoch .. last_epoch-1``, grouped into blocks.

    Epoch ``e`` visits the rows in the order ``stateless_shuffle(range(n), seed=(seed, e))``:
    a fresh permutation each epoch that depends only on the seed and the epoch, so a resumed
    run sees exactly the batches an uninterrupted run would have seen.

    Each element is ``(x[k, b, features], y[k, b, 1])``: ``k = block_size`` consecutive
    batches (fewer in the epoch's last block of full batches), and the epoch's last partial
    batch, if any, alone as ``k = 1``. Train on them with
    ``reproduce.block_steps.enable_block_steps``; ``blocks_per_epoch`` gives the count.
    """
    import tensorflow as tf

    n = len(x)
    full = n - n % batch_size
    in_blocks = full - full % (block_size * batch_size)
    features, labels = tf.constant(x), tf.constant(y.reshape(-1, 1))

    def one_epoch(epoch):
        perm = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        ds = tf.data.Dataset.from_tensor_slices(
            tf.reshape(perm[:in_blocks], [-1, block_size, batch_size]))
        if in_blocks < full:
            ds = ds.concatenate(tf.data.Dataset.from_tensors(
                tf.reshape(perm[in_blocks:full], [-1, batch_size])))
        if full < n:
            ds = ds.concatenate(tf.data.Dataset.from_tensors(perm[full:][tf.newaxis]))
        return ds

    ds = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(one_epoch)
    ds = ds.map(lambda idx: (tf.gather(features, idx), tf.gather(labels, idx)),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _truncate_csv_log(path: Path, epochs_completed: int) -> None:
    """Keep the header and the rows of epochs ``0 .. epochs_completed-1`` (each once)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    if not lines:
        return
    kept = [lines[0]]
    for line in lines[1:]:
        try:
            epoch = int(line.split(",", 1)[0])
        except ValueError:
            continue
        if epoch < epochs_completed:
            kept.append(line)
    write_text_atomic(path, "".join(kept))


def train_run(tfrecord_dir, run_dir, *, spec: DatasetSpec, model: str, feature_set: str,
              seed: int, settings: TrainingSettings, verbose: int = 2) -> dict:
    """Train one network of the paper and evaluate it on the test split.

    Args:
        tfrecord_dir: shard folder written by ``write_tfrecord_shards``.
        run_dir: output folder; gets ``log.csv``, ``best.weights.h5``, ``model.keras``,
            ``test_scores.npz`` and ``metrics.json`` (written last).
        spec: the data set.
        model: "shallow" or "deep".
        feature_set: "low", "high" or "complete".
        seed: seeds initialization and the per-epoch shuffles.
        settings: TrainingSettings.
        verbose: Keras fit verbosity.

    Returns:
        The metrics dict also written to ``metrics.json``.
    """
    configure_tensorflow(seed, settings.threads)
    import keras

    from .callbacks import (EpochWallTime, MomentumRamp, PaperEarlyStopping,
                            PerBatchLearningRateDecay, RaiseOnNonFiniteLoss, StopOnThreshold,
                            TrainingStateCheckpoint)
    from . import optimizers  # noqa: F401  (registers ScheduledMomentumSGD for load_model)
    from .block_steps import enable_block_steps
    from .metrics import roc_auc
    from .models import paper_model

    run_dir = Path(run_dir)
    progress = run_dir / PROGRESS_DIR
    progress.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").unlink(missing_ok=True)
    state_dir = run_dir / STATE_DIR
    TrainingStateCheckpoint.recover(state_dir)

    manifest = load_manifest(tfrecord_dir)
    statistics = json.loads((Path(tfrecord_dir) / "statistics.json").read_text())
    columns = spec.feature_indices(feature_set)
    x_train, y_train = read_split(tfrecord_dir, "train")
    x_valid, y_valid = read_split(tfrecord_dir, "valid")
    x_test, y_test = read_split(tfrecord_dir, "test")
    x_train, x_valid, x_test = (np.ascontiguousarray(a[:, columns])
                                for a in (x_train, x_valid, x_test))
    offset, scale = standardization_constants(statistics, columns, settings.standardize)

    n_train = len(x_train)
    steps_per_epoch = math.ceil(n_train / settings.batch_size)
    block_size = settings.block_size(n_train)
    log.info("%s %s/%s seed %d: %s train, %s valid, %s test rows; %d steps/epoch, "
             "%d steps per compiled call", spec.name, model, feature_set, seed, f"{n_train:,}",
             f"{len(x_valid):,}", f"{len(x_test):,}", steps_per_epoch, block_size)

    lr_decay = PerBatchLearningRateDecay(settings.learning_rate, settings.decay_factor,
                                         settings.learning_rate_floor)
    momentum = MomentumRamp(settings.initial_momentum, settings.final_momentum,
                            settings.momentum_saturation_epochs)
    stopping = PaperEarlyStopping("val_loss", settings.min_relative_improvement,
                                  settings.stopping_patience, settings.momentum_saturation_epochs)

    saved = TrainingStateCheckpoint.load(state_dir)
    if saved is not None:
        state = saved
        net = keras.models.load_model(state_dir / "model.keras")
        initial_epoch = int(state["epochs_completed"])
        stopping.set_state(state["callbacks"]["paper_early_stopping"])
        best_val_loss = state["callbacks"]["checkpoint"]["best"]
        wall_offset = float(state["wall_time"])
        log.info("resuming after epoch %d (step %d)", initial_epoch,
                 int(net.optimizer.iterations.numpy()))
    else:
        net = paper_model(model, len(columns), seed=seed, width=settings.width,
                          depth=settings.depth, dropout=settings.dropout,
                          weight_decay=0.0 if settings.dropout else settings.weight_decay,
                          offset=None if settings.standardize == "none" else offset,
                          scale=None if settings.standardize == "none" else scale)
        compile_for_training(net, settings)
        initial_epoch, best_val_loss, wall_offset = 0, None, 0.0
    enable_block_steps(net)

    _truncate_csv_log(progress / "log.csv", initial_epoch)
    wall_time = EpochWallTime(wall_offset)
    checkpoint = keras.callbacks.ModelCheckpoint(
        progress / "best.weights.h5", monitor="val_loss", mode="min", save_best_only=True,
        save_weights_only=True, initial_value_threshold=best_val_loss)
    state_checkpoint = TrainingStateCheckpoint(state_dir, {
        "paper_early_stopping": stopping.get_state,
        "checkpoint": lambda: {"best": None if checkpoint.best in (None, math.inf)
                               else float(checkpoint.best)},
    }, elapsed=wall_time.elapsed)
    if settings.learning_rate_schedule == "per_epoch":
        lr_decay = keras.callbacks.LearningRateScheduler(
            lambda epoch: paper.learning_rate_at(epoch * steps_per_epoch, settings.learning_rate,
                                                 settings.decay_factor,
                                                 settings.learning_rate_floor))
    elif settings.learning_rate_schedule != "per_batch":
        raise ValueError(f"training.learning_rate_schedule: expected per_batch or per_epoch, "
                         f"got {settings.learning_rate_schedule!r}")
    callbacks = [lr_decay, momentum, wall_time, RaiseOnNonFiniteLoss(), stopping]
    if settings.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            "val_loss", patience=settings.early_stopping_patience, mode="min"))
    if settings.stop_on_threshold:
        callbacks.append(StopOnThreshold(**settings.stop_on_threshold))
    callbacks += [checkpoint, keras.callbacks.CSVLogger(progress / "log.csv", append=True),
                  state_checkpoint]

    if initial_epoch < settings.max_epochs and not (saved or {}).get("finished"):
        train_ds = epoch_blocks(x_train, y_train, seed=seed, first_epoch=initial_epoch,
                                last_epoch=settings.max_epochs, batch_size=settings.batch_size,
                                block_size=block_size)
        net.fit(train_ds, epochs=settings.max_epochs, initial_epoch=initial_epoch,
                steps_per_epoch=blocks_per_epoch(n_train, settings.batch_size, block_size),
                validation_data=(x_valid, y_valid.reshape(-1, 1)),
                validation_batch_size=settings.validation_batch_size,
                shuffle=False, callbacks=callbacks, verbose=verbose)
    # Mark the state finished, so that a rerun after a crash below does not train again.
    state = TrainingStateCheckpoint.load(state_dir)
    state["finished"] = True
    write_json_atomic(state_dir / "state.json", state)

    for name in ("log.csv", "best.weights.h5"):
        copy_atomic(progress / name, run_dir / name)
    history = _read_log(run_dir / "log.csv")
    epochs_trained = len(history["epoch"])
    final_path = run_dir / "model.keras"
    net.save(final_path.with_name("model.tmp.keras"))
    os.replace(final_path.with_name("model.tmp.keras"), final_path)

    steps = int(net.optimizer.iterations.numpy())  # before the best weights replace state
    net.load_weights(run_dir / "best.weights.h5")
    scores = net.predict(x_test, batch_size=settings.validation_batch_size, verbose=0).ravel()
    savez_atomic(run_dir / "test_scores.npz", labels=y_test.astype(np.int8), scores=scores)

    val_losses = history["val_loss"]
    best_epoch = int(np.argmin(val_losses)) if val_losses else None
    metrics = {
        "dataset": spec.name, "model": model, "feature_set": feature_set, "seed": seed,
        "test_auc": roc_auc(y_test, scores),
        "test_rows": int(len(y_test)),
        "epochs_trained": epochs_trained,
        "best_epoch": best_epoch + 1 if best_epoch is not None else None,
        "best_val_loss": float(val_losses[best_epoch]) if val_losses else None,
        # before max_epochs: by the paper's rule, or by an optional EarlyStopping /
        # StopOnThreshold of the config
        "stopped_early": epochs_trained < settings.max_epochs,
        "final_learning_rate": paper.learning_rate_at(steps, settings.learning_rate,
                                                      settings.decay_factor,
                                                      settings.learning_rate_floor),
        "steps": steps,
        "trainable_parameters": int(sum(np.prod(w.shape) for w in net.trainable_weights)),
        "wall_time_s": float(history["wall_time"][-1]) if history["wall_time"] else 0.0,
        "settings": dataclasses.asdict(settings) | {
            "decay_factor": settings.decay_factor,
            "stopping_patience": settings.stopping_patience,
            "steps_per_execution_used": block_size,
            "steps_per_epoch": steps_per_epoch},
        "data": {"tfrecords": str(tfrecord_dir), "splits": manifest["splits"] and
                 {k: v["range"] for k, v in manifest["splits"].items()}},
        "versions": _versions(),
    }
    write_json_atomic(run_dir / "metrics.json", metrics)
    log.info("test AUC %.4f after %d epochs", metrics["test_auc"], epochs_trained)
    return metrics


def _read_log(path: Path) -> dict:
    import csv

    history: dict = {"epoch": [], "val_loss": [], "wall_time": []}
    if not path.exists():
        return history
    with open(path) as f:
        for row in csv.DictReader(f):
            history["epoch"].append(int(row["epoch"]))
            history["val_loss"].append(float(row["val_loss"]))
            history["wall_time"].append(float(row.get("wall_time") or 0.0))
    return history


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__,
            "machine": platform.machine()}
