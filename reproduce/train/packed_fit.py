"""The fit of a pack: build or restore it, train it to the end, say how each replica ended.

``PackFit`` is the part of ``reproduce.train.packed_training.train_pack`` that owns the
pack's saved state and the runs' progress files. It restores, in this order: the pack's own
state (``pack_state``, when its fingerprint is the list of its runs' fingerprints); the
runs' own ``state`` folders (runs trained unpacked so far, all at one epoch); else a fresh
pack of each run's freshly seeded network.
"""

from __future__ import annotations

import logging
import math

from reproduce.run_log import read_log
from reproduce.train.batch_order import make_batch_order
from reproduce.train.block_steps import (backend_batch_order, backend_epoch_blocks,
                                         blocks_per_epoch, enable_backend_block_steps)
from reproduce.train.resume import fingerprint_differences, keep_log_epochs
from reproduce.train.run_callbacks import optional_callbacks, schedule_callbacks, stopping_rules

log = logging.getLogger(__name__)


def _steps(model) -> int:
    from keras import ops

    return int(ops.convert_to_numpy(model.optimizer.iterations))


def compiled_pack(nets, replica_columns, n_features: int, settings, *, offset=None,
                  scale=None):
    """``nets`` (one per run, reading ``replica_columns`` of the ``n_features`` columns)
    packed and compiled as ``train_pack`` trains them; ``offset`` and ``scale`` are the
    standardization of all the columns (None: none)."""
    from reproduce.train.packed import compile_packed, pack

    packed = pack(nets, replica_columns, n_features, offset=offset, scale=scale,
                  auc_thresholds=settings.auc_thresholds)
    return compile_packed(packed, learning_rate=settings.learning_rate,
                          momentum=settings.initial_momentum, jit_compile=settings.jit_compile)


def new_pack(model: str, replica_columns, seeds, n_features: int, settings, *, offset=None,
             scale=None):
    """The pack of fresh runs of ``model`` (one per columns and seed): each run's network as
    its unpacked run builds it (``compiled_network.training_network``), packed by
    ``compiled_pack``."""
    from reproduce.train.compiled_network import training_network

    nets = [training_network(model, len(columns), settings, seed=seed,
                             offset=None if offset is None else offset[columns],
                             scale=None if scale is None else scale[columns])
            for columns, seed in zip(replica_columns, seeds, strict=True)]
    return compiled_pack(nets, replica_columns, n_features, settings, offset=offset,
                         scale=scale)


class PackFit:
    """Train the members (``packed_training.PackMember``) of one pack.

    Args:
        members: the pack's runs, in replica order.
        data: the ``packed_training.PackData``.
        settings: the shared ``TrainingSettings``.
        pack_state: the folder of the pack's saved state.
        model: "shallow" or "deep".
        verbose: Keras fit verbosity.
        deadline: the ``time.monotonic()`` by which this job's training must end (None:
            none); the pack then stops after its last epoch that fits and raises
            ``reproduce.train.job_budget.JobTimeLimitReached`` (it goes on in the next job).
    """

    def __init__(self, members, data, settings, pack_state, model: str, verbose: int,
                 deadline: float | None = None):
        from reproduce.train.callbacks import TrainingStateCheckpoint

        self.members, self.data, self.settings, self.model = members, data, settings, model
        self.verbose, self.deadline = verbose, deadline
        n_train = len(data.splits["train"][1])
        self.steps_per_epoch = math.ceil(n_train / settings.batch_size)
        self.block_size = settings.block_size(n_train)
        self.fingerprint = {"runs": [m.name for m in members],
                            "fingerprints": [m.fingerprint for m in members]}
        self.state = TrainingStateCheckpoint(pack_state)
        self.pack_state = pack_state
        self.optional = [optional_callbacks(settings) for _ in members]

    def train(self):
        """(the trained pack, ``{"stopped_by": [...], "steps": [...]}`` per replica)."""
        packed, done, wall, saved, previous = self._restore()
        enable_backend_block_steps(packed)
        if done < self.settings.max_epochs and packed.optimizer.active.any():
            previous = self._fit(packed, done, wall, saved, previous)
        else:
            log.info("the pack's training already ended after %d epochs", done)
        previous = previous or {"stopped_after": [None] * len(self.members),
                                "steps": [None] * len(self.members)}
        outcome = {"stopped_by": [], "steps": []}
        for r, member in enumerate(self.members):
            steps = previous["steps"][r]
            outcome["steps"].append(_steps(packed) if steps is None else int(steps))
            outcome["stopped_by"].append(self._stopped_by(r))
            member.trainer._copy_progress()
            member.trainer.saved_state.record(training_ended={
                "by": outcome["stopped_by"][r], "epochs": len(read_log(member.files.log))})
        self.state.record(training_ended=True)
        return packed, outcome

    def _stopped_by(self, r: int) -> str:
        member = self.members[r]
        saved = member.trainer.saved_state.load() or {}
        recorded = saved.get("training_ended")
        if recorded and not fingerprint_differences(saved.get("fingerprint"),
                                                    member.fingerprint):
            return recorded["by"]
        return member.trainer._stopped_by(self.optional[r])

    def _replay(self, member, epochs: int) -> None:
        """Cut the run's live log to ``epochs`` and replay its rules over it."""
        rows = keep_log_epochs(member.files.live_log, epochs, member.files.state)
        losses = [float(row["val_loss"]) for row in rows]
        for rule in member.trainer.rules.values():
            rule.replay(losses)

    def _restore(self):
        """(pack, completed epochs, wall time so far, saved state or None, the frozen
        replicas' ``stopped_after`` and ``steps`` or None)."""
        import reproduce.train.packed  # noqa: F401  (registers the pack's Keras objects)

        saved = self.state.load()
        if saved is not None and saved.get("fingerprint") == self.fingerprint:
            packed = self.state.restore(saved, self.steps_per_epoch)
            done, previous = saved["epochs_completed"], saved["replicas"]
            for r, member in enumerate(self.members):
                self._replay(member, previous["stopped_after"][r] or done)
            log.info("resuming the pack after epoch %d (step %d)", done, _steps(packed))
            return packed, done, float(saved.get("wall_time", 0.0)), saved, previous
        if saved is not None:
            log.warning("the pack's saved state is of other runs or settings: not used")
            self.state.discard()
        resumed = self._from_runs()
        if resumed is not None:
            return resumed
        for member in self.members:
            member.trainer._start_afresh(None)
        return self._new_pack(), 0, 0.0, None, None

    def _pack(self, nets):
        return compiled_pack(nets, [m.columns for m in self.members],
                             self.data.splits["train"][0].shape[1], self.settings,
                             offset=self.data.offset, scale=self.data.scale)

    def _new_pack(self):
        return new_pack(self.model, [m.columns for m in self.members],
                        [m.seed for m in self.members], self.data.splits["train"][0].shape[1],
                        self.settings, offset=self.data.offset, scale=self.data.scale)

    def _from_runs(self):
        """The runs' own saved states packed (runs trained unpacked so far), or None."""
        from reproduce.train.packed import pack_optimizer_state

        states = [m.trainer.saved_state.load() for m in self.members]
        if all(state is None for state in states):
            return None
        epochs = {state and state["epochs_completed"] for state in states}
        plans = [self._resume_plan(m, state) for m, state in zip(self.members, states)]
        if all(action == "afresh" for action, _ in plans):
            log.warning("starting the pack afresh: %s", plans[0][1])
            return None
        if len(epochs) != 1 or any(action == "afresh" for action, _ in plans):
            folders = ", ".join(str(m.files.state) for m in self.members)
            raise ValueError(
                f"compute.pack: the runs' saved states ({folders}) are not all of these "
                f"settings at one epoch (epochs {sorted(epochs, key=str)}; "
                f"{'; '.join(reason for _, reason in plans)}), so they cannot continue as "
                f"one pack: continue them with compute.pack: none")
        done = epochs.pop()
        nets = [m.trainer.saved_state.restore(state, self.steps_per_epoch)
                for m, state in zip(self.members, states)]
        packed = self._pack(nets)
        pack_optimizer_state(packed, nets)
        stopping = self.settings.stopping
        for member in self.members:
            self._replay(member, done)
        frozen = [m.trainer.rules[stopping].stopped_epoch is not None for m in self.members]
        packed.optimizer.active = [0.0 if f else 1.0 for f in frozen]
        previous = {"stopped_after": [done if f else None for f in frozen],
                    "steps": [_steps(packed) if f else None for f in frozen]}
        log.info("continuing %d runs trained unpacked as one pack after epoch %d",
                 len(nets), done)
        wall = max(float(state.get("wall_time", 0.0)) for state in states)
        return packed, done, wall, states[0], previous

    def _resume_plan(self, member, state) -> tuple[str, str]:
        """``resume.resume_plan`` of one run's saved state, as its unpacked run decides."""
        from reproduce.train.resume import resume_plan

        if state is None:
            return "afresh", f"{member.name} has no saved state"
        rows = read_log(member.files.live_log).rows[:state["epochs_completed"]]
        losses = [float(row["val_loss"]) for row in rows]
        rule = stopping_rules(self.settings)[self.settings.stopping]
        return resume_plan(state, member.fingerprint, losses, rule, self.settings)

    def _run_callbacks(self, r: int, order, wall_time) -> list:
        """Run r's own callbacks, in an unpacked run's order (``run_callbacks``)."""
        import keras

        from reproduce.train.callbacks import TrainingStateCheckpoint
        from reproduce.train.compiled_network import compile_for_training
        from reproduce.train.packed.replica_checkpoints import (BestReplicaWeights,
                                                                ReplicaStateExport)

        s, member = self.settings, self.members[r]
        logged = read_log(member.files.live_log).rows
        state = TrainingStateCheckpoint(
            member.files.state, member.fingerprint,
            callback_states={"stopping": member.trainer.rules[s.stopping].get_state},
            elapsed=wall_time.elapsed,
            extra_state=lambda epochs: {"batch_order": order.state_before(epochs)})
        def compile_replica(net):
            return compile_for_training(net, s)

        return [*member.trainer.rules.values(), *self.optional[r].values(),
                BestReplicaWeights(member.files.live_best, compile_replica, best=min(
                    (float(row["val_loss"]) for row in logged), default=None)),
                keras.callbacks.CSVLogger(member.files.live_log, append=True),
                ReplicaStateExport(state, compile_replica)]

    def _fit(self, packed, initial_epoch: int, wall_offset: float, saved, previous) -> dict:
        """Train from ``initial_epoch`` until every replica stopped or the cap."""
        from reproduce.train.callbacks import (EpochWallTime, RaiseOnNonFiniteLoss,
                                               TrainingStateCheckpoint)
        from reproduce.train.job_budget import JobTimeLimitReached
        from reproduce.train.stop_before_job_ends import StopBeforeJobEnds
        from reproduce.train.packed import ReplicaCallbacks
        from reproduce.train.packed.replica_checkpoints import PackTrainMonitor

        s = self.settings
        (x, y), (x_valid, y_valid) = self.data.splits["train"], self.data.splits["valid"]
        order = backend_batch_order(make_batch_order(
            s.batch_order, len(x), self.members[0].seed, initial_epoch,
            (saved or {}).get("batch_order")))
        wall_time = EpochWallTime(wall_offset)
        job_time = StopBeforeJobEnds(self.deadline)
        shared = [*schedule_callbacks(s, self.steps_per_epoch), wall_time,
                  RaiseOnNonFiniteLoss()]
        if s.train_monitor_rows:
            n = min(s.train_monitor_rows, len(x))
            shared.append(PackTrainMonitor(x[:n], y[:n].reshape(-1, 1),
                                           batch_size=s.validation_batch_size))
        per_run = ReplicaCallbacks(
            [self._run_callbacks(r, order, wall_time) for r in range(len(self.members))],
            **(previous or {}))
        pack_state = TrainingStateCheckpoint(
            self.pack_state, self.fingerprint, elapsed=wall_time.elapsed,
            extra_state=lambda epochs: {"batch_order": order.state_before(epochs), "replicas": {
                "stopped_after": per_run.stopped_after, "steps": per_run.steps}})
        blocks = backend_epoch_blocks(x, y, order=order, first_epoch=initial_epoch,
                                      last_epoch=s.max_epochs, batch_size=s.batch_size,
                                      block_size=self.block_size)
        packed.fit(blocks, epochs=s.max_epochs, initial_epoch=initial_epoch,
                   steps_per_epoch=blocks_per_epoch(len(x), s.batch_size, self.block_size),
                   validation_data=(x_valid, y_valid.reshape(-1, 1)),
                   validation_batch_size=s.validation_batch_size, shuffle=False,
                   callbacks=[*shared, per_run, pack_state, job_time], verbose=self.verbose)
        epochs = job_time.stopped_after
        if epochs is not None and epochs < s.max_epochs and packed.optimizer.active.any():
            raise JobTimeLimitReached(epochs)  # the state is saved: the next job goes on
        return {"stopped_after": per_run.stopped_after, "steps": per_run.steps}
