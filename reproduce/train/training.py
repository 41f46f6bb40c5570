"""One training run: (dataset, model, feature set, seed) -> log, checkpoints, test scores.

``train_run`` is what the workflow's ``train`` rule calls. It trains as the authors' code
ran by default (``training.stopping``, ``training.batch_order``, the evaluated weights:
see docs/fidelity.md), and it is resumable: after every epoch the model, the
optimizer (step counter, momentum, velocities), the minibatch order's generator and the
run's fingerprint are saved atomically in the run's ``state`` folder; rerunning after a kill
continues from the last completed epoch and gives the same weights as a run never
interrupted (on the CPU, same seed and thread count). A state saved under other settings
or other data is never resumed (``reproduce.train.resume``), and never deleted: it is set
aside as ``state.superseded-<UTC time>-<what changed>/`` with its log, best weights and
metrics, and ``notify`` (the job's terminal line) says so. A lock on the run folder
(``reproduce.train.run_lock``) keeps a second training of the same run out.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import warnings
from pathlib import Path

import numpy as np

from reproduce.atomic_files import copy_atomic, savez_atomic, write_json_atomic
from reproduce.data.tfrecords import load_manifest, standardization_constants
from reproduce.datasets import DatasetSpec
from reproduce.layout import RunFiles, TFRecordFiles
from reproduce.run_log import read_log
from reproduce.train.backend_setup import configure_backend, read_split, validation_data
from reproduce.train.batch_order import make_batch_order
from reproduce.train.block_steps import (backend_batch_order, backend_epoch_blocks,
                                         blocks_per_epoch, enable_backend_block_steps)
from reproduce.train.compiled_network import training_network
from reproduce.train.resume import (EVALUATION_KEYS, fingerprint_differences,
                                    keep_log_epochs, resume_plan, run_fingerprint)
from reproduce.train.run_lock import LOCK_FILE, run_lock
from reproduce.train.run_callbacks import stopping_rules, training_callbacks
from reproduce.train.run_record import metrics_record
from reproduce.train.settings import EVALUATED_WEIGHTS, TrainingSettings, check_choice

log = logging.getLogger(__name__)


def train_run(tfrecords, files, *, spec: DatasetSpec, model: str, feature_set: str,
              seed: int, settings: TrainingSettings, evaluated_weights: str = "final",
              verbose: int = 2, notify=None, deadline: float | None = None) -> dict:
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
        notify: function of one message, called (besides the log) when the run sets a
            saved state aside and starts afresh, serves a cap below the saved epochs,
            resumes under other library versions or repairs a replaced log; the workflow
            prints these on the terminal.
        deadline: the ``time.monotonic()`` by which this job's training must end (a
            cluster job's time limit, ``reproduce.train.job_budget``); past it the run
            stops after its last epoch that fits and raises ``JobTimeLimitReached``.

    Returns:
        The metrics dict also written to ``metrics.json``.

    Raises:
        reproduce.train.run_lock.RunLockedError: another process trains this run.
    """
    check_choice("evaluation.weights", evaluated_weights, EVALUATED_WEIGHTS)
    configure_backend(seed, settings.threads)
    tfrecords, files = _run_files(tfrecords, files)
    with run_lock(files.state.parent / LOCK_FILE):
        return _train_locked(tfrecords, files, spec=spec, model=model,
                             feature_set=feature_set, seed=seed, settings=settings,
                             evaluated_weights=evaluated_weights, verbose=verbose,
                             notify=notify, deadline=deadline)


def _train_locked(tfrecords, files, *, spec, model, feature_set, seed, settings,
                  evaluated_weights, verbose, notify, deadline) -> dict:
    """``train_run`` while it holds the run folder's lock."""
    data = load_run_data(tfrecords, spec, feature_set, settings)
    fingerprint = run_fingerprint(spec=spec, manifest=data.manifest, model=model,
                                  feature_set=feature_set, seed=seed, settings=settings)

    trainer = _Trainer(files, data.splits, settings, fingerprint, verbose, notify, deadline)
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
    metrics = trainer.with_notes(metrics)
    write_json_atomic(files.metrics, metrics)
    trainer.saved_state.record(finished=True, **trainer.carried)
    log.info("test AUC %.4f (%s weights) after %d epochs, stopped by %s",
             metrics["test_auc"], evaluated_weights, len(history), stopped_by)
    return metrics


def _run_files(tfrecords, files) -> tuple[TFRecordFiles, RunFiles]:
    """The input and output files of a run (from folders if given so); the progress folder
    made."""
    if not isinstance(tfrecords, TFRecordFiles):
        tfrecords = TFRecordFiles.in_folder(tfrecords)
    if not isinstance(files, RunFiles):
        files = RunFiles.in_folder(files)
    files.progress.mkdir(parents=True, exist_ok=True)
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

    def __init__(self, files: RunFiles, splits: dict, settings: TrainingSettings,
                 fingerprint: dict, verbose: int, notify=None, deadline=None):
        from reproduce.train.callbacks import TrainingStateCheckpoint

        self.files, self.deadline = files, deadline
        self.notify = notify or (lambda message: None)
        self.notes = {}  # what metrics.json says about this run's saved state
        self.carried = {}  # facts the saved state keeps across resumes
        self.served = None  # a cap below the saved epochs: what is served instead
        self.splits, self.settings, self.verbose = splits, settings, verbose
        self.fingerprint = fingerprint
        n_train = len(splits["train"][1])
        self.steps_per_epoch = math.ceil(n_train / settings.batch_size)
        self.block_size = settings.block_size(n_train)
        self.rules = stopping_rules(settings)
        # reads, restores, records and discards the saved state; the fit saves it through
        # the complete checkpoint of training_callbacks
        self.saved_state = TrainingStateCheckpoint(files.state)

    def _say(self, message: str) -> None:
        """Log ``message`` and pass it to ``notify`` (the workflow's terminal)."""
        log.warning(message)
        self.notify(message)

    def _start_afresh(self, reason: str | None, saved: dict | None = None) -> None:
        """Start with no state: a saved one is set aside (with the run's log, best weights
        and metrics) under a name that says what changed, never deleted."""
        if reason:
            diff = fingerprint_differences(saved.get("fingerprint"), self.fingerprint)
            what = ("other-data" if any(not k.startswith("settings.") for k in diff)
                    else "+".join(k.split(".", 1)[1] for k in diff[:3]))
            kept = self.saved_state.set_aside(what or "other-rule", (
                self.files.live_log, self.files.live_best, self.files.metrics))
            self._say(f"starting this run afresh: {reason}; the saved state "
                      f"({saved['epochs_completed']} epochs) is kept in {kept}")
            self.notes |= {"started_afresh": reason, "superseded_state": str(kept)}
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
            self._start_afresh(reason, saved)
            return None, 0, 0.0, None
        net = self.saved_state.restore(saved, self.steps_per_epoch)
        for rule in self.rules.values():
            rule.replay(losses)
        if action == "serve":
            self._serve_beyond_cap(done, reason)
        else:
            log.info("resuming after epoch %d (step %d): %s", done,
                     int(net.optimizer.iterations.numpy()), reason)
        self._note_changes(saved)
        return net, done, float(saved.get("wall_time", 0.0)), saved

    def _serve_beyond_cap(self, done: int, reason: str) -> None:
        """A ``max_epochs`` below the saved epochs: the saved weights are evaluated, and
        ``metrics.json`` says they are of ``done`` epochs."""
        cap = self.settings.max_epochs
        self.served = {"max_epochs": cap, "epochs_saved": done, "weights": (
            f"final: after epoch {done}; best_validation: the lowest validation loss of "
            f"the {done} saved epochs")}
        self._say(f"not training: {reason}. The saved epochs are kept; metrics.json "
                  f"reports the weights of {done} epochs, not {cap}. To train {cap} epochs, "
                  f"use another results folder.")

    def _note_changes(self, saved: dict) -> None:
        """Record (and say) a resume under other library versions or other evaluation
        settings."""
        from reproduce.train.callbacks.training_state import (library_versions,
                                                              version_differences)

        earlier = dict(saved.get("resumed_under_other_versions") or {})
        changed = version_differences(saved.get("versions"), library_versions())
        if changed:
            self._say("resuming a state saved under other versions: " + ", ".join(
                f"{k} {v['saved']} -> {v['now']}" for k, v in changed.items()))
        for name, change in changed.items():
            earlier[name] = {"saved": earlier.get(name, change)["saved"], "now": change["now"]}
        if earlier:
            self.carried["resumed_under_other_versions"] = earlier
        saved_settings = (saved.get("fingerprint") or {}).get("settings") or {}
        now = self.fingerprint["settings"]
        evaluation = {k: {"saved": saved_settings.get(k), "now": now.get(k)}
                      for k in EVALUATION_KEYS if saved_settings.get(k) != now.get(k)}
        if evaluation:
            log.info("evaluation settings changed (%s): the saved model is evaluated again",
                     ", ".join(evaluation))
            self.notes["evaluation_settings_changed"] = evaluation

    def with_notes(self, metrics: dict) -> dict:
        """``metrics`` with what this run's saved state says: epochs served beyond the cap
        (and a warning), a superseded state, other versions or evaluation settings."""
        notes = self.notes | self.carried
        if self.served:
            notes["served_from_saved_state"] = self.served
            notes["warnings"] = metrics["warnings"] + [
                f"max_epochs is {self.served['max_epochs']} but the saved state holds "
                f"{self.served['epochs_saved']} epochs: the weights reported are of "
                f"{self.served['epochs_saved']} epochs ({self.served['weights']})"]
        return metrics | notes

    def train(self, new_network, seed: int):
        """Build or restore the network, train it to the end; (model, what stopped it)."""
        net, initial_epoch, wall_offset, saved = self._restore()
        self.files.metrics.unlink(missing_ok=True)  # written last, when the run is done
        if net is None:
            net = new_network()
        enable_backend_block_steps(net)
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
        same = saved and not fingerprint_differences(saved.get("fingerprint"), self.fingerprint)
        if same or (saved and self.served):
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
        order = backend_batch_order(make_batch_order(
            s.batch_order, len(x_train), seed, initial_epoch, (saved or {}).get("batch_order")))
        logged = read_log(self.files.live_log).rows
        job_time = job_time_callback(self.deadline)
        run = training_callbacks(
            s, files=self.files, fingerprint=self.fingerprint, rules=self.rules, order=order,
            steps_per_epoch=self.steps_per_epoch, wall_offset=wall_offset,
            train_rows=(x_train, y_train),
            best_val_loss=min((float(r["val_loss"]) for r in logged), default=None))
        log_guard = self._guard_live_log(run)
        train_ds = backend_epoch_blocks(
            x_train, y_train, order=order, first_epoch=initial_epoch, last_epoch=s.max_epochs,
            batch_size=s.batch_size, block_size=self.block_size)
        net.fit(train_ds, epochs=s.max_epochs, initial_epoch=initial_epoch,
                steps_per_epoch=blocks_per_epoch(len(x_train), s.batch_size, self.block_size),
                **validation_data(x_valid, y_valid, s.validation_batch_size),
                shuffle=False, callbacks=[*run.callbacks, job_time], verbose=self.verbose)
        if log_guard.repairs:
            self._say(f"{self.files.live_log} was replaced during training (an editor's "
                      f"save?); it was rewritten from what the training logged")
        self._check_log_agrees(net)
        stopped_by = self._stopped_by(run.optional)
        raise_if_out_of_job_time(job_time, stopped_by, s.max_epochs)
        epochs = len(read_log(self.files.live_log))
        self.saved_state.record(training_ended={"by": stopped_by, "epochs": epochs})
        return stopped_by

    def _guard_live_log(self, run):
        """Put a ``LiveLogGuard`` right after the fit's CSV logger, and the facts the state
        keeps into its checkpoint; return the guard."""
        import keras

        from reproduce.train.callbacks.live_log_guard import LiveLogGuard

        guard = LiveLogGuard(self.files.live_log)
        at = next(i for i, c in enumerate(run.callbacks)
                  if isinstance(c, keras.callbacks.CSVLogger))
        run.callbacks.insert(at + 1, guard)
        run.state.carried_fields = dict(self.carried)
        return guard

    def _check_log_agrees(self, net) -> None:
        """Raise CorruptStateError unless the CSV log, the saved state and the optimizer's
        step counter hold the same epochs."""
        from reproduce.train.callbacks import CorruptStateError

        logged = read_log(self.files.live_log).epochs()
        saved = self.saved_state.load()["epochs_completed"]
        steps = int(net.optimizer.iterations.numpy())
        if logged != list(range(saved)) or steps != saved * self.steps_per_epoch:
            raise CorruptStateError(
                f"{self.files.live_log}: the CSV log holds {len(logged)} epoch rows, the "
                f"saved state {saved} epochs ({self.files.state}) and the optimizer "
                f"{steps:,} steps ({self.steps_per_epoch:,} per epoch): they disagree. "
                f"The state is the record of the weights: rebuild the log from a copy, or "
                f"move {self.files.state} aside to train this run again.")

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
        with warnings.catch_warnings():
            # a run whose best weights were kept unpacked and which ended in a pack: their
            # optimizer variables differ (a learning-rate variable), and only the network's
            # weights score the test rows
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            net.load_weights(self.files.best)
        scores["best_validation"] = net.predict(x_test, batch_size=batch, verbose=0).ravel()
        _check_finite(scores, self.files.model.parent)
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


def _check_finite(scores: dict, run_folder) -> None:
    """Stop, naming the run, when any weights' test scores are NaN or infinite (a diverged
    network): an AUC of such scores means nothing."""
    from reproduce.metrics import non_finite_scores

    for name, values in scores.items():
        if problem := non_finite_scores(values):
            raise ValueError(f"{run_folder}: {problem} with the {name} weights: the network "
                             f"diverged; lower training.learning_rate or check the inputs")


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
