"""One training run: (dataset, model, feature set, seed) -> log, checkpoints, test scores.

``train_run`` is what the workflow's ``train`` rule calls. It trains as the authors' code
ran by default (``training.stopping``, ``training.batch_order``, the evaluated weights:
see docs/fidelity.md), and it is resumable: after every epoch the model, the
optimizer (step counter, momentum, velocities), the minibatch order's generator and the
run's fingerprint are saved atomically in the run's ``state`` folder; rerunning after a kill
continues from the last completed epoch and gives the same weights as a run never
interrupted (on the CPU, same seed and thread count). A state saved under other settings
or other data is never resumed (``reproduce.train.resume``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import numpy as np

from reproduce.atomic_files import copy_atomic, savez_atomic, write_json_atomic
from reproduce.data.tfrecords import load_manifest, read_split, standardization_constants
from reproduce.datasets import DatasetSpec
from reproduce.layout import RunFiles, TFRecordFiles
from reproduce.run_log import read_log
from reproduce.train.batch_order import make_batch_order
from reproduce.train.block_steps import blocks_per_epoch, enable_block_steps, epoch_blocks
from reproduce.train.compiled_network import training_network
from reproduce.train.resume import (fingerprint_differences, keep_log_epochs, resume_plan,
                                    run_fingerprint)
from reproduce.train.run_callbacks import stopping_rules, training_callbacks
from reproduce.train.run_record import metrics_record
from reproduce.train.settings import EVALUATED_WEIGHTS, TrainingSettings, check_choice

log = logging.getLogger(__name__)


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


def train_run(tfrecords, files, *, spec: DatasetSpec, model: str, feature_set: str,
              seed: int, settings: TrainingSettings, evaluated_weights: str = "final",
              verbose: int = 2, deadline: float | None = None) -> dict:
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
        evaluated_weights: "final" or "best_validation"
            (``reproduce.train.settings.EVALUATED_WEIGHTS``); ``metrics.json`` records the
            test AUC of both.
        verbose: Keras fit verbosity.
        deadline: the ``time.monotonic()`` by which this job's training must end (a
            cluster job's time limit, ``reproduce.train.job_budget``); past it the run
            stops after its last epoch that fits and raises ``JobTimeLimitReached``.

    Returns:
        The metrics dict also written to ``metrics.json``.
    """
    check_choice("evaluation.weights", evaluated_weights, EVALUATED_WEIGHTS)
    configure_tensorflow(seed, settings.threads)
    tfrecords, files = _run_files(tfrecords, files)
    data = load_run_data(tfrecords, spec, feature_set, settings)
    fingerprint = run_fingerprint(spec=spec, manifest=data.manifest, model=model,
                                  feature_set=feature_set, seed=seed, settings=settings)

    trainer = _Trainer(files, data.splits, settings, fingerprint, verbose)
    trainer.deadline = deadline
    net, stopped_by = trainer.train(
        lambda: training_network(model, data.n_features, settings, seed=seed,
                                 offset=data.offset, scale=data.scale), seed)
    steps = int(net.optimizer.iterations.numpy())  # before the best weights replace state
    evaluation = trainer.evaluate(net, evaluated_weights)

    history = read_log(files.log).rows
    metrics = metrics_record(
        run={"dataset": spec.name, "model": model, "feature_set": feature_set, "seed": seed},
        settings=settings, evaluated_weights=evaluated_weights, evaluation=evaluation,
        history=history, stopped_by=stopped_by, rules=trainer.rules, steps=steps,
        trainable_parameters=int(sum(np.prod(w.shape) for w in net.trainable_weights)),
        blocks={"steps_per_execution_used": trainer.block_size,
                "steps_per_epoch": trainer.steps_per_epoch},
        data={"tfrecords": str(Path(tfrecords.manifest).parent),
              "splits": fingerprint["splits"]},
        fingerprint=fingerprint) | device_fields(settings)
    write_json_atomic(files.metrics, metrics)
    trainer.saved_state.record(finished=True)
    log.info("test AUC %.4f (%s weights) after %d epochs, stopped by %s",
             metrics["test_auc"], evaluated_weights, len(history), stopped_by)
    return metrics


def _run_files(tfrecords, files) -> tuple[TFRecordFiles, RunFiles]:
    """The input and output files of a run (from folders if given so); the progress folder
    made, and any earlier ``metrics.json`` removed (it is written last)."""
    if not isinstance(tfrecords, TFRecordFiles):
        tfrecords = TFRecordFiles.in_folder(tfrecords)
    if not isinstance(files, RunFiles):
        files = RunFiles.in_folder(files)
    files.progress.mkdir(parents=True, exist_ok=True)
    files.metrics.unlink(missing_ok=True)
    return tfrecords, files


@dataclasses.dataclass
class RunData:
    """The splits of one run's feature set, its standardization and the data's manifest."""

    splits: dict  # {"train" | "valid" | "test": (x, y)}
    offset: np.ndarray
    scale: np.ndarray
    manifest: dict

    @property
    def n_features(self) -> int:
        return self.splits["train"][0].shape[1]


def load_run_data(tfrecords: TFRecordFiles, spec: DatasetSpec, feature_set: str,
                  settings: TrainingSettings) -> RunData:
    """Read the three splits' columns of ``feature_set`` and the standardization constants
    of ``settings.standardize`` from the training split's statistics."""
    manifest = load_manifest(tfrecords.manifest)
    statistics = json.loads(Path(tfrecords.statistics).read_text())
    columns = spec.feature_indices(feature_set)
    splits = {}
    for split in ("train", "valid", "test"):
        x, y = read_split(tfrecords.manifest, split)
        splits[split] = (np.ascontiguousarray(x[:, columns]), y)
    offset, scale = standardization_constants(statistics, columns, settings.standardize)
    return RunData(splits, offset, scale, manifest)


class _Trainer:
    """The parts of ``train_run`` that own the run's files: resume, fit, evaluate."""

    deadline: float | None = None  # this job's, for the fit (reproduce.train.job_budget)

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
        # reads, restores, records and discards the saved state; the fit saves it through
        # the complete checkpoint of training_callbacks
        self.saved_state = TrainingStateCheckpoint(files.state)

    def _start_afresh(self, reason: str | None) -> None:
        if reason:
            log.warning("starting this run afresh: %s", reason)
        self.saved_state.discard()
        for path in (self.files.live_log, self.files.live_best):
            path.unlink(missing_ok=True)

    def _restore(self):
        """(model or None, completed epochs, wall time so far, saved state or None)."""
        saved = self.saved_state.load()
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
        net = self.saved_state.restore(saved, self.steps_per_epoch)
        for rule in self.rules.values():
            rule.replay(losses)
        log.info("resuming after epoch %d (step %d): %s", done,
                 int(net.optimizer.iterations.numpy()), reason)
        return net, done, float(saved.get("wall_time", 0.0)), saved

    def train(self, new_network, seed: int):
        """Build or restore the network, train it to the end; (model, what stopped it)."""
        net, initial_epoch, wall_offset, saved = self._restore()
        if net is None:
            net = new_network()
        enable_block_steps(net)
        ended = self._ended_before(initial_epoch, saved)
        if ended is not None:
            log.info("training already ended (%s) after %d epochs", ended, initial_epoch)
        else:
            ended = self._fit(net, initial_epoch, wall_offset, saved, seed)
        self._copy_progress()
        return net, ended

    def _ended_before(self, initial_epoch: int, saved: dict | None) -> str | None:
        """What ended the saved run's training (as recorded, at the cap, or by the replayed
        rule), or None if it goes on."""
        s = self.settings
        if saved and not fingerprint_differences(saved.get("fingerprint"), self.fingerprint):
            recorded = saved.get("training_ended")
            if recorded is not None:
                return recorded["by"]
        if initial_epoch >= s.max_epochs:
            return "max_epochs"
        if self.rules[s.stopping].stopped_epoch is not None:
            return s.stopping
        return None

    def _fit(self, net, initial_epoch: int, wall_offset: float, saved: dict | None,
             seed: int) -> str:
        """Train from ``initial_epoch`` until a rule stops it; record and return what did."""
        s = self.settings
        x_train, y_train = self.splits["train"]
        x_valid, y_valid = self.splits["valid"]
        order = make_batch_order(s.batch_order, len(x_train), seed, initial_epoch,
                                 (saved or {}).get("batch_order"))
        logged = read_log(self.files.live_log).rows
        job_time = job_time_callback(self.deadline)
        run = training_callbacks(
            s, files=self.files, fingerprint=self.fingerprint, rules=self.rules, order=order,
            steps_per_epoch=self.steps_per_epoch, wall_offset=wall_offset,
            train_rows=(x_train, y_train),
            best_val_loss=min((float(r["val_loss"]) for r in logged), default=None))
        train_ds = epoch_blocks(x_train, y_train, order=order, first_epoch=initial_epoch,
                                last_epoch=s.max_epochs, batch_size=s.batch_size,
                                block_size=self.block_size)
        net.fit(train_ds, epochs=s.max_epochs, initial_epoch=initial_epoch,
                steps_per_epoch=blocks_per_epoch(len(x_train), s.batch_size, self.block_size),
                validation_data=(x_valid, y_valid.reshape(-1, 1)),
                validation_batch_size=s.validation_batch_size,
                shuffle=False, callbacks=[*run.callbacks, job_time], verbose=self.verbose)
        stopped_by = self._stopped_by(run.optional)
        raise_if_out_of_job_time(job_time, stopped_by, s.max_epochs)
        epochs = len(read_log(self.files.live_log))
        self.saved_state.record(training_ended={"by": stopped_by, "epochs": epochs})
        return stopped_by

    def _stopped_by(self, optional: dict) -> str:
        """What ended the fit: an optional built-in, the chosen rule, or the cap."""
        threshold = optional.get("stop_on_threshold")
        if threshold is not None and threshold.stopped_epoch is not None:
            return "stop_on_threshold"
        early = optional.get("early_stopping_patience")
        if early is not None and early.stopped_epoch > 0:
            return "early_stopping_patience"
        if self.rules[self.settings.stopping].stopped_epoch is not None:
            return self.settings.stopping
        return "max_epochs"

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
        return {"auc": {name: roc_auc(y_test, s) for name, s in scores.items()},
                "test_rows": int(len(y_test)),
                **constant_output_check(scores[evaluated_weights])}


def device_fields(settings: TrainingSettings) -> dict:
    """``device``: what the run trained on (``reproduce.train.device.device_record``)."""
    from reproduce.train.device import device_record

    return {"device": device_record(settings.threads)}


def job_time_callback(deadline: float | None):
    """The callback that stops the fit before the job's deadline (None: no deadline)."""
    from reproduce.train.stop_before_job_ends import StopBeforeJobEnds

    return StopBeforeJobEnds(deadline)


def raise_if_out_of_job_time(job_time, stopped_by: str, max_epochs: int) -> None:
    """Raise ``JobTimeLimitReached`` when the job's deadline, not a rule or the cap, ended
    the fit: the run goes on in the next job (its end is not recorded)."""
    from reproduce.train.job_budget import JobTimeLimitReached

    epochs = job_time.stopped_after
    if epochs is not None and stopped_by == "max_epochs" and epochs < max_epochs:
        raise JobTimeLimitReached(epochs)


def constant_output_check(selected: np.ndarray) -> dict:
    """``constant_output`` (the evaluated scores do not vary) and the ``warnings`` that say
    so, also logged loudly."""
    constant = float(np.max(selected) - np.min(selected)) <= 1e-6
    warnings = []
    if constant:
        warnings.append(
            f"the network's output is constant on the test split (every score "
            f"{float(selected[0]):.6g}): it learned nothing, its AUC is meaningless. "
            f"Check the learning rate and the inputs.")
        log.warning("!" * 78)
        log.warning("CONSTANT OUTPUT: %s", warnings[-1])
        log.warning("!" * 78)
    return {"constant_output": constant, "warnings": warnings}
