"""The runs of one (data set, network) that share the batch stream, trained as one pack.

``train_pack`` is what the workflow's ``train_pack`` rule calls (``compute.pack``,
``reproduce.train.settings.PACKING``). It trains R runs (feature sets x seeds) as one
``reproduce.train.packed.PackedNetwork``: replica r starts from the weights of the unpacked
run of its seed (``compiled_network.training_network``, the code that run uses), each run
keeps its own stopping rule, CSV log and best-validation weights (``ReplicaCallbacks``), and
each writes exactly the outputs of an unpacked run (``model.keras`` of that run alone,
``best.weights.h5``, ``test_scores.npz``, ``metrics.json`` with a ``pack`` entry naming the
pack's runs, ``log.csv``, ``state/``), through the evaluation code of ``training.py`` and
``run_record.metrics_record``.

Resume. After every epoch the pack is saved whole (``pack_state``, with the fingerprints of
its runs) and each run's ``state`` folder holds its replica as an unpacked run's state. A
killed pack resumes from the pack's state, bit-identical on the CPU to a pack never
interrupted. Packing does not enter a run's fingerprint: a pack changes a run's numbers only
at float rounding (the batched products and the folded weight penalty add in another order;
tests/test_packed.py), so a run trained packed is continued unpacked from its ``state``, and
runs trained unpacked are continued as a pack from theirs. Runs that continue at different
epochs (seeds added to a finished pack, runs trained apart) train as several packs in the
job, one after another (``packed_fit.pack_groups``): each pack's runs share one epoch.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from reproduce.data.tfrecords import load_manifest, standardization_constants
from reproduce.datasets import DatasetSpec
from reproduce.layout import RunFiles, TFRecordFiles
from reproduce.run_log import read_log
from reproduce.train.packed_fit import PackFit, pack_groups
from reproduce.train.resume import run_fingerprint
from reproduce.train.run_record import metrics_record
from reproduce.train.settings import EVALUATED_WEIGHTS, TrainingSettings, check_choice
from reproduce.train.backend_setup import configure_backend, read_split
from reproduce.train.training import _run_files, _Trainer, device_fields

log = logging.getLogger(__name__)


def packable(settings: TrainingSettings) -> str | None:
    """None if runs of ``settings`` can be packed, else why not (the dropout networks and
    ``batch_order: per_seed`` stay unpacked).

    Example:

    >>> packable(TrainingSettings(dropout=True))
    'dropout networks stay unpacked'
    >>> packable(TrainingSettings()) is None
    True
    """
    if settings.dropout:
        return "dropout networks stay unpacked"
    if settings.batch_order != "shared":
        return "training.batch_order: per_seed gives each seed its own batches"
    return None


@dataclasses.dataclass
class PackMember:
    """One run of a pack: its files, identity, input columns, fingerprint and the
    ``training._Trainer`` whose rules, saved state and evaluation it uses."""

    files: RunFiles
    feature_set: str
    seed: int
    columns: list
    fingerprint: dict
    trainer: object

    @property
    def name(self) -> str:
        return Path(self.files.metrics).parent.name


@dataclasses.dataclass
class PackData:
    """The three splits with every input column, the pack's standardization (None:
    none), the manifest and the statistics."""

    splits: dict
    offset: np.ndarray | None
    scale: np.ndarray | None
    manifest: dict
    statistics: dict


def load_pack_data(tfrecords: TFRecordFiles, settings: TrainingSettings) -> PackData:
    """Read the three splits (all columns) and the standardization of all columns."""
    import json

    manifest = load_manifest(tfrecords.manifest)
    statistics = json.loads(Path(tfrecords.statistics).read_text())
    splits = {split: read_split(tfrecords.manifest, split) for split in ("train", "valid", "test")}
    n = splits["train"][0].shape[1]
    offset = scale = None
    if settings.standardize != "none":
        offset, scale = standardization_constants(statistics, list(range(n)),
                                                  settings.standardize)
    return PackData(splits, offset, scale, manifest, statistics)


def _members(data: PackData, runs, *, spec, model, feature_sets, seeds, settings,
             verbose, notify=None) -> list[PackMember]:
    members = []
    for files, feature_set, seed in zip(runs, feature_sets, seeds, strict=True):
        columns = spec.feature_indices(feature_set)
        fingerprint = run_fingerprint(spec=spec, manifest=data.manifest, model=model,
                                      feature_set=feature_set, seed=int(seed),
                                      settings=settings)
        x_test, y_test = data.splits["test"]
        splits = {"train": data.splits["train"],
                  "test": (np.ascontiguousarray(x_test[:, columns]), y_test)}
        name = Path(files.metrics).parent.name
        trainer = _Trainer(files, splits, settings, fingerprint, verbose, notify=None if (
            notify is None) else (lambda message, name=name: notify(f"{name}: {message}")))
        members.append(PackMember(files, feature_set, int(seed), columns, fingerprint, trainer))
    return members


def train_pack(tfrecords, runs, *, spec: DatasetSpec, model: str, feature_sets, seeds,
               settings: TrainingSettings, pack_state, evaluated_weights: str = "final",
               verbose: int = 2, deadline: float | None = None, notify=None) -> list[dict]:
    """Train the runs of one (data set, network) as one pack and evaluate each.

    Args:
        tfrecords: a ``reproduce.layout.TFRecordFiles``, or its folder.
        runs: one ``reproduce.layout.RunFiles`` (or run folder) per run.
        spec: the data set.
        model: "shallow" or "deep" (no dropout: ``packable``).
        feature_sets, seeds: each run's feature set and seed (as long as ``runs``).
        settings: the TrainingSettings shared by the runs.
        pack_state: the folder of the pack's own saved state.
        evaluated_weights: "final" or "best_validation", as ``train_run``'s.
        verbose: Keras fit verbosity.
        deadline: the ``time.monotonic()`` by which this job's training must end, as
            ``train_run``'s (None: none).
        notify: function writing one line for the user's terminal (a run's saved state
            set aside, as ``train_run``'s), or None.

    Returns:
        Each run's metrics dict, as written to its ``metrics.json``.

    Raises:
        reproduce.train.job_budget.JobTimeLimitReached: the deadline came before every run
            ended; the pack's state is saved and the next job continues it.
    """
    check_choice("evaluation.weights", evaluated_weights, EVALUATED_WEIGHTS)
    reason = packable(settings)
    if reason:
        raise ValueError(f"compute.pack: the {model} runs cannot be packed: {reason}")
    configure_backend(int(seeds[0]), settings.threads)
    files = []
    for run in runs:
        tfrecords, run_files = _run_files(tfrecords, run)
        files.append(run_files)
    data = load_pack_data(tfrecords, settings)
    members = _members(data, files, spec=spec, model=model, feature_sets=feature_sets,
                       seeds=seeds, settings=settings, verbose=verbose, notify=notify)
    groups = pack_groups(members, settings, Path(pack_state))
    if len(groups) > 1:
        log.info("the runs continue at different epochs: %d packs, one after another (%s)",
                 len(groups), "; ".join(", ".join(members[i].name for i in group)
                                        for group in groups))
    metrics = [None] * len(members)
    for group in groups:
        fit = PackFit([members[i] for i in group], data, settings, Path(pack_state), model,
                      verbose, deadline)
        packed, outcome = fit.train()
        names = [members[i].name for i in group]
        for r, i in enumerate(group):
            metrics[i] = _finish_run(packed, r, members[i], outcome, data, spec=spec,
                                     model=model, settings=settings,
                                     evaluated_weights=evaluated_weights, tfrecords=tfrecords,
                                     names=names, block_size=fit.block_size)
    return metrics


def _finish_run(packed, r: int, member: PackMember, outcome: dict, data: PackData, *, spec,
                model, settings, evaluated_weights, tfrecords, names, block_size) -> dict:
    """Evaluate replica r as its unpacked run and write its ``metrics.json``."""
    from reproduce.atomic_files import write_json_atomic
    from reproduce.train.compiled_network import compile_for_training
    from reproduce.train.packed import copy_replica_optimizer_state, unpack

    trainer, steps = member.trainer, outcome["steps"][r]
    net = compile_for_training(unpack(packed, r), settings)
    copy_replica_optimizer_state(packed, r, net)
    net.optimizer.iterations.assign(steps)
    evaluation = trainer.evaluate(net, evaluated_weights)
    history = read_log(member.files.log).rows
    metrics = metrics_record(
        run={"dataset": spec.name, "model": model, "feature_set": member.feature_set,
             "seed": member.seed},
        settings=settings, evaluated_weights=evaluated_weights, evaluation=evaluation,
        history=history, stopped_by=outcome["stopped_by"][r], rules=trainer.rules,
        steps=steps,
        trainable_parameters=int(sum(np.prod(w.shape) for w in net.trainable_weights)),
        blocks={"steps_per_execution_used": block_size,
                "steps_per_epoch": trainer.steps_per_epoch},
        data={"tfrecords": str(Path(tfrecords.manifest).parent),
              "splits": member.fingerprint["splits"]},
        fingerprint=member.fingerprint) | device_fields(settings)
    metrics = trainer.with_notes(metrics)
    metrics["pack"] = {"runs": names, "replica": r, "replicas": len(names)}
    write_json_atomic(member.files.metrics, metrics)
    trainer.saved_state.record(finished=True, **trainer.carried)
    log.info("%s: test AUC %.4f (%s weights) after %d epochs, stopped by %s", member.name,
             metrics["test_auc"], evaluated_weights, len(history), outcome["stopped_by"][r])
    return metrics

