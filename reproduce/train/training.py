"""One training run: (dataset, model, feature set, seed) -> log, checkpoints, test scores.

``train_run`` is what the workflow's ``train`` rule calls. It trains as the authors' code
ran by default (``training.stopping``, ``training.batch_order``, the evaluated weights:
see the README's "Fidelity" table), and it is resumable: after every epoch the model, the
optimizer (step counter, momentum, velocities), the minibatch order's generator and the
run's fingerprint are saved atomically in the run's ``state`` folder; rerunning after a kill
continues from the last completed epoch and gives the same weights as a run never
interrupted (on the CPU, same seed and thread count). A state saved under other settings
or other data is never resumed (see ``resume_plan``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import platform
from pathlib import Path

import numpy as np

from reproduce.train import schedules as paper
from reproduce.atomic_files import copy_atomic, savez_atomic, write_json_atomic
from reproduce.train.batch_order import PerSeedBatchOrder, make_batch_order
from reproduce.datasets import DatasetSpec
from reproduce.data.tfrecords import load_manifest, read_split, standardization_constants
from reproduce.layout import RunFiles, TFRecordFiles
from reproduce.run_log import read_log
from reproduce.train.resume import (fingerprint_differences, fingerprint_sha256,
                                    keep_log_epochs, resume_plan, run_fingerprint)
from reproduce.train.settings import EVALUATED_WEIGHTS, TrainingSettings, check_choice

log = logging.getLogger(__name__)

def stopping_rules(settings: TrainingSettings) -> dict:
    """The three stopping rules for ``settings``, by name; all but ``settings.stopping``
    only observe (they record when they would have stopped the run)."""
    from reproduce.train.callbacks import EpochBudget, PaperEarlyStopping, Pylearn2Termination

    def observe(name):
        return name != settings.stopping

    return {
        "authors": EpochBudget(settings.max_epochs, observe_only=observe("authors")),
        "pylearn2": Pylearn2Termination(
            "val_loss", settings.min_relative_improvement, settings.stopping_patience,
            settings.momentum_saturation_epochs, observe_only=observe("pylearn2")),
        "paper_text": PaperEarlyStopping(
            "val_loss", settings.min_relative_improvement, settings.stopping_patience,
            settings.momentum_saturation_epochs, observe_only=observe("paper_text")),
    }


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
    ``settings.steps_per_execution`` minibatches (``reproduce.train.block_steps``) takes that role.
    """
    import keras

    from reproduce.train.optimizers import ScheduledMomentumSGD

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


def epoch_blocks(x: np.ndarray, y: np.ndarray, *, first_epoch: int, last_epoch: int,
                 batch_size: int, block_size: int, seed: int | None = None, order=None):
    """Training batches for epochs ``first_epoch .. last_epoch-1``, grouped into blocks.

    Epoch ``e`` visits the rows in the order ``order.tf_permutation(e)`` (a
    ``reproduce.train.batch_order`` object; by default ``PerSeedBatchOrder(len(x), seed)``:
    ``stateless_shuffle(range(n), seed=(seed, e))``), cut into minibatches of consecutive
    entries as Pylearn2's ``shuffled_sequential`` iteration cuts them. A resumed run sees
    exactly the batches an uninterrupted run would have seen.

    Each element is ``(x[k, b, features], y[k, b, 1])``: ``k = block_size`` consecutive
    batches (fewer in the epoch's last block of full batches), and the epoch's last partial
    batch, if any, alone as ``k = 1``. Train on them with
    ``reproduce.train.block_steps.enable_block_steps``; ``blocks_per_epoch`` gives the count.
    """
    import tensorflow as tf

    if order is None:
        order = PerSeedBatchOrder(len(x), seed)
    n = len(x)
    full = n - n % batch_size
    in_blocks = full - full % (block_size * batch_size)
    features, labels = tf.constant(x), tf.constant(y.reshape(-1, 1))

    def one_epoch(epoch):
        perm = order.tf_permutation(epoch)
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


def train_run(tfrecords, files, *, spec: DatasetSpec, model: str, feature_set: str,
              seed: int, settings: TrainingSettings, evaluated_weights: str = "final",
              verbose: int = 2) -> dict:
    """Train one network of the paper and evaluate it on the test split.

    Args:
        tfrecords: a ``reproduce.layout.TFRecordFiles`` (the manifest and statistics that
            ``write_tfrecord_shards`` wrote), or their folder.
        files: a ``reproduce.layout.RunFiles``, or a run folder for its standard layout:
            where the CSV log, the best-validation weights, the final model, the test scores
            and ``metrics`` (written last) go, and the ``state`` and ``progress`` folders.
        spec: the data set.
        model: "shallow" or "deep".
        feature_set: "low", "high" or "complete".
        seed: seeds the initial weights (and, with ``batch_order: per_seed``, the shuffles).
        settings: TrainingSettings.
        evaluated_weights: "final" (the weights when training ends, as the authors' code
            evaluated them) or "best_validation" (the epoch of lowest validation loss).
            ``metrics.json`` records the test AUC of both.
        verbose: Keras fit verbosity.

    Returns:
        The metrics dict also written to ``metrics.json``.
    """
    check_choice("evaluation.weights", evaluated_weights, EVALUATED_WEIGHTS)
    configure_tensorflow(seed, settings.threads)

    if not isinstance(tfrecords, TFRecordFiles):
        tfrecords = TFRecordFiles.in_folder(tfrecords)
    if not isinstance(files, RunFiles):
        files = RunFiles.in_folder(files)
    files.progress.mkdir(parents=True, exist_ok=True)
    files.metrics.unlink(missing_ok=True)

    manifest = load_manifest(tfrecords.manifest)
    statistics = json.loads(Path(tfrecords.statistics).read_text())
    columns = spec.feature_indices(feature_set)
    splits = {}
    for split in ("train", "valid", "test"):
        x, y = read_split(tfrecords.manifest, split)
        splits[split] = (np.ascontiguousarray(x[:, columns]), y)
    offset, scale = standardization_constants(statistics, columns, settings.standardize)
    fingerprint = run_fingerprint(spec=spec, manifest=manifest, model=model,
                                  feature_set=feature_set, seed=seed, settings=settings)

    trainer = _Trainer(files, splits, settings, fingerprint, verbose)
    net, stopped_by = trainer.train(
        lambda: _new_network(model, len(columns), seed, settings, offset, scale), seed)
    steps = int(net.optimizer.iterations.numpy())  # before the best weights replace state
    result = trainer.evaluate(net, evaluated_weights)

    history = read_log(files.log).rows
    val_losses = [float(r["val_loss"]) for r in history]
    best_epoch = int(np.argmin(val_losses)) if val_losses else None
    metrics = {
        "dataset": spec.name, "model": model, "feature_set": feature_set, "seed": seed,
        "test_auc": result["auc"][evaluated_weights],
        "evaluated_weights": evaluated_weights,
        "test_auc_final": result["auc"]["final"],
        "test_auc_best_validation": result["auc"]["best_validation"],
        "test_rows": int(len(splits["test"][1])),
        "epochs_trained": len(history),
        "best_epoch": best_epoch + 1 if best_epoch is not None else None,
        "best_val_loss": float(val_losses[best_epoch]) if val_losses else None,
        "stopping": {
            "rule": settings.stopping, "stopped_by": stopped_by, "epochs": len(history),
            # when each rule stops (or would have stopped) the run, in epochs trained
            "rule_epochs": {name: (rule.stopped_epoch + 1 if rule.stopped_epoch is not None
                                   else None) for name, rule in trainer.rules.items()},
        },
        # before max_epochs: by the stopping rule or an optional built-in of the config
        "stopped_early": len(history) < settings.max_epochs,
        "constant_output": result["constant_output"],
        "warnings": result["warnings"],
        "final_learning_rate": paper.learning_rate_at(steps, settings.learning_rate,
                                                      settings.decay_factor,
                                                      settings.learning_rate_floor),
        "steps": steps,
        "trainable_parameters": int(sum(np.prod(w.shape) for w in net.trainable_weights)),
        "wall_time_s": float(history[-1]["wall_time"]) if history else 0.0,
        "settings": dataclasses.asdict(settings) | {
            "decay_factor": settings.decay_factor,
            "stopping_patience": settings.stopping_patience,
            "steps_per_execution_used": trainer.block_size,
            "steps_per_epoch": trainer.steps_per_epoch},
        "data": {"tfrecords": str(Path(tfrecords.manifest).parent),
                 "splits": fingerprint["splits"]},
        "fingerprint_sha256": fingerprint_sha256(fingerprint),
        "versions": _versions(),
    }
    write_json_atomic(files.metrics, metrics)
    trainer.state.record(finished=True)
    log.info("test AUC %.4f (%s weights) after %d epochs, stopped by %s",
             metrics["test_auc"], evaluated_weights, len(history), stopped_by)
    return metrics


def _new_network(model, n_features, seed, settings, offset, scale):
    from reproduce.train.models import paper_model

    net = paper_model(model, n_features, seed=seed, width=settings.width,
                      depth=settings.depth, dropout=settings.dropout,
                      weight_decay=0.0 if settings.dropout else settings.weight_decay,
                      offset=None if settings.standardize == "none" else offset,
                      scale=None if settings.standardize == "none" else scale)
    return compile_for_training(net, settings)


class _Trainer:
    """The parts of ``train_run`` that own the run's files: resume, fit, evaluate."""

    def __init__(self, files: RunFiles, splits: dict, settings: TrainingSettings,
                 fingerprint: dict, verbose: int):
        from reproduce.train.callbacks import TrainingStateCheckpoint

        self.files = files
        self.splits, self.settings, self.verbose = splits, settings, verbose
        self.fingerprint = fingerprint
        n_train = len(splits["train"][1])
        self.steps_per_epoch = math.ceil(n_train / settings.batch_size)
        self.block_size = settings.block_size(n_train)
        self.rules = stopping_rules(settings)
        self.state = TrainingStateCheckpoint(files.state, fingerprint)

    def _start_afresh(self, reason: str | None) -> None:
        if reason:
            log.warning("starting this run afresh: %s", reason)
        self.state.discard()
        for path in (self.files.live_log, self.files.live_best):
            path.unlink(missing_ok=True)

    def _restore(self):
        """(model or None, completed epochs, wall time so far, saved state or None)."""
        saved = self.state.load()
        if saved is None:
            self._start_afresh(None)
            return None, 0, 0.0, None
        done = saved["epochs_completed"]
        rows = keep_log_epochs(self.files.live_log, done, self.files.state)
        losses = [float(r["val_loss"]) for r in rows]
        action, reason = resume_plan(saved, self.fingerprint, losses,
                                     self.rules[self.settings.stopping], self.settings)
        if action == "afresh":
            self._start_afresh(reason)
            return None, 0, 0.0, None
        net = self.state.restore(saved, self.steps_per_epoch)
        for rule in self.rules.values():
            rule.replay(losses)
        log.info("resuming after epoch %d (step %d): %s", done,
                 int(net.optimizer.iterations.numpy()), reason)
        return net, done, float(saved.get("wall_time", 0.0)), saved

    def train(self, new_network, seed: int):
        """Build or restore the network, train it to the end; (model, what stopped it)."""
        import keras

        from reproduce.train.block_steps import enable_block_steps
        from reproduce.train.callbacks import (EpochWallTime, MomentumRamp, PerBatchLearningRateDecay,
                                RaiseOnNonFiniteLoss, StopOnThreshold, TrainSubsetMonitor)

        s = self.settings
        net, initial_epoch, wall_offset, saved = self._restore()
        if net is None:
            net = new_network()
        enable_block_steps(net)
        active = self.rules[s.stopping]
        ended = (saved or {}).get("training_ended") if saved and not fingerprint_differences(
            saved.get("fingerprint"), self.fingerprint) else None
        if ended is None and initial_epoch >= s.max_epochs:
            ended = {"by": "max_epochs"}
        if ended is None and active.stopped_epoch is not None:
            ended = {"by": s.stopping}
        if ended is not None:
            log.info("training already ended (%s) after %d epochs", ended["by"], initial_epoch)
            self._copy_progress()
            return net, ended["by"]

        x_train, y_train = self.splits["train"]
        x_valid, y_valid = self.splits["valid"]
        order = make_batch_order(s.batch_order, len(x_train), seed, initial_epoch,
                                 (saved or {}).get("batch_order"))
        lr_decay = PerBatchLearningRateDecay(s.learning_rate, s.decay_factor,
                                             s.learning_rate_floor)
        if s.learning_rate_schedule == "per_epoch":
            lr_decay = keras.callbacks.LearningRateScheduler(
                lambda epoch: paper.learning_rate_at(epoch * self.steps_per_epoch,
                                                     s.learning_rate, s.decay_factor,
                                                     s.learning_rate_floor))
        wall_time = EpochWallTime(wall_offset)
        callbacks = [lr_decay, MomentumRamp(s.initial_momentum, s.final_momentum,
                                            s.momentum_saturation_epochs,
                                            offset=1 if s.momentum_ramp == "pylearn2" else 0),
                     wall_time, RaiseOnNonFiniteLoss()]
        if s.train_monitor_rows:
            rows = min(s.train_monitor_rows, len(x_train))
            callbacks.append(TrainSubsetMonitor(x_train[:rows], y_train[:rows].reshape(-1, 1),
                                                batch_size=s.validation_batch_size))
        callbacks += list(self.rules.values())
        optional = {}
        if s.early_stopping_patience:
            optional["early_stopping_patience"] = keras.callbacks.EarlyStopping(
                "val_loss", patience=s.early_stopping_patience, mode="min")
        if s.stop_on_threshold:
            optional["stop_on_threshold"] = StopOnThreshold(**s.stop_on_threshold)
        callbacks += list(optional.values())
        logged = read_log(self.files.live_log).rows
        best = min((float(r["val_loss"]) for r in logged), default=None)
        self.state.callback_states = {"stopping": active.get_state}
        self.state.elapsed = wall_time.elapsed
        self.state.extra_state = lambda epochs: {"batch_order": order.state_before(epochs)}
        callbacks += [
            keras.callbacks.ModelCheckpoint(
                self.files.live_best, monitor="val_loss", mode="min",
                save_best_only=True, save_weights_only=True, initial_value_threshold=best),
            keras.callbacks.CSVLogger(self.files.live_log, append=True),
            self.state]

        train_ds = epoch_blocks(x_train, y_train, order=order, first_epoch=initial_epoch,
                                last_epoch=s.max_epochs, batch_size=s.batch_size,
                                block_size=self.block_size)
        net.fit(train_ds, epochs=s.max_epochs, initial_epoch=initial_epoch,
                steps_per_epoch=blocks_per_epoch(len(x_train), s.batch_size, self.block_size),
                validation_data=(x_valid, y_valid.reshape(-1, 1)),
                validation_batch_size=s.validation_batch_size,
                shuffle=False, callbacks=callbacks, verbose=self.verbose)

        epochs = len(read_log(self.files.live_log))
        stopped_by = "max_epochs"
        if active.stopped_epoch is not None:
            stopped_by = s.stopping
        if "early_stopping_patience" in optional and \
                optional["early_stopping_patience"].stopped_epoch > 0:
            stopped_by = "early_stopping_patience"
        if "stop_on_threshold" in optional and \
                optional["stop_on_threshold"].stopped_epoch is not None:
            stopped_by = "stop_on_threshold"
        self.state.record(training_ended={"by": stopped_by, "epochs": epochs})
        self._copy_progress()
        return net, stopped_by

    def _copy_progress(self):
        copy_atomic(self.files.live_log, self.files.log)
        copy_atomic(self.files.live_best, self.files.best)

    def evaluate(self, net, evaluated_weights: str) -> dict:
        """Save the final model, score the test split with the final and the best
        validation weights; write ``test_scores.npz`` (``scores``: the evaluated ones)."""
        from reproduce.metrics import roc_auc

        x_test, y_test = self.splits["test"]
        final_path = self.files.model
        tmp = final_path.with_name(final_path.stem + ".tmp.keras")
        net.save(tmp)
        tmp.replace(final_path)
        batch = self.settings.validation_batch_size
        scores = {"final": net.predict(x_test, batch_size=batch, verbose=0).ravel()}
        net.load_weights(self.files.best)
        scores["best_validation"] = net.predict(x_test, batch_size=batch, verbose=0).ravel()
        savez_atomic(self.files.scores, labels=y_test.astype(np.int8),
                     scores=scores[evaluated_weights], scores_final=scores["final"],
                     scores_best_validation=scores["best_validation"])
        selected = scores[evaluated_weights]
        spread = float(np.max(selected) - np.min(selected))
        constant = spread <= 1e-6
        warnings = []
        if constant:
            warnings.append(
                f"the network's output is constant on the test split (every score "
                f"{float(selected[0]):.6g}): it learned nothing, its AUC is meaningless. "
                f"Check the learning rate and the inputs.")
            log.warning("!" * 78)
            log.warning("CONSTANT OUTPUT: %s", warnings[-1])
            log.warning("!" * 78)
        return {"auc": {name: roc_auc(y_test, s) for name, s in scores.items()},
                "constant_output": constant, "warnings": warnings}


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__,
            "machine": platform.machine()}
