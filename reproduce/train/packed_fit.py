"""The fit of a pack: build or restore it, train it to the end, say how each replica ended.

``PackFit`` is the part of ``reproduce.train.packed_training.train_pack`` that owns the
pack's saved state and the runs' progress files. It restores, in this order: the pack's own
state (``pack_state``, when its fingerprint is the list of its runs' fingerprints); else the
runs' own ``state`` folders (runs trained unpacked or in another pack so far), each as its
unpacked run would decide (``member_start``: resumed, or started afresh with the old state
set aside, never deleted). The runs that go on training must then be at one epoch; runs whose
training has ended may be at any epoch, and stay frozen.

``pack_groups`` splits the runs of one job into such packs: the runs of the pack's saved
state first, then the others by the epoch they resume at (a seed added to finished runs is a
pack of its own), and the runs whose training ended.
"""

from __future__ import annotations

import logging
import math

from reproduce.run_log import read_log
from reproduce.train.backend_setup import validation_data
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


def member_start(member, state, settings) -> tuple[str, str, int, bool]:
    """How run ``member`` of a pack starts from its own saved ``state`` (None: none), as its
    unpacked run decides: (action, reason, its completed epochs, whether its training has
    ended). The action is ``resume.resume_plan``'s; the run has ended beyond the cap
    ("serve") or where its unpacked run finds it ended (``training._Trainer._ended_before``:
    recorded so, at the cap, or by its stopping rule replayed over its log)."""
    from reproduce.train.resume import resume_plan

    if state is None:
        return "afresh", f"{member.name} has no saved state", 0, False
    done = state["epochs_completed"]
    losses = [float(row["val_loss"]) for row in read_log(member.files.live_log).rows[:done]]
    action, reason = resume_plan(state, member.fingerprint, losses,
                                 stopping_rules(settings)[settings.stopping], settings)
    if action == "afresh":  # the run's own rules stay unreplayed: it starts afresh
        return action, reason, 0, False
    member.trainer.rules[settings.stopping].replay(losses)  # as _from_runs replays them
    ended = action == "serve" or member.trainer._ended_before(done, state) is not None
    return action, reason, done, ended


def pack_groups(members, settings, pack_state) -> list[list[int]]:
    """The packs in which to train ``members`` (one job's runs), as lists of their indices,
    in order: the runs of the pack's saved state (``pack_state``) when it is of some of
    them, in its order; then the others by the epoch they continue at (``member_start``;
    runs starting afresh at 0); last the runs whose training has ended. One pack (all the
    runs) unless runs were added to, or trained apart from, the others."""
    from reproduce.train.callbacks import TrainingStateCheckpoint

    groups, rest = [], list(range(len(members)))
    saved = (TrainingStateCheckpoint(pack_state).load() or {}).get("fingerprint") or {}
    index = {m.name: i for i, m in enumerate(members)}
    runs, fingerprints = saved.get("runs") or [], saved.get("fingerprints") or []
    if runs and len(runs) == len(fingerprints) and all(
            name in index and members[index[name]].fingerprint == fingerprint
            for name, fingerprint in zip(runs, fingerprints)):
        groups.append([index[name] for name in runs])
        rest = [i for i in rest if i not in groups[0]]
    by_epoch, ended = {}, []
    for i in rest:
        _, _, done, over = member_start(members[i], members[i].trainer.saved_state.load(),
                                        settings)
        if over:
            ended.append(i)
        else:
            by_epoch.setdefault(done, []).append(i)
    return groups + [by_epoch[done] for done in sorted(by_epoch)] + ([ended] if ended else [])


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
        if self.state.load() is not None:  # none where no epoch was trained here
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
        if saved is not None:  # a copy: every run's own state holds its replica
            log.info("the pack's saved state is of other runs or settings: not used")
            self.state.discard()
        resumed = self._from_runs()
        if resumed is not None:
            return resumed
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
        """The runs' own saved states packed, or None where every run starts afresh (an
        old state set aside, as its unpacked run sets it aside)."""
        from reproduce.train.packed import pack_optimizer_state

        states = [m.trainer.saved_state.load() for m in self.members]
        starts = [member_start(m, state, self.settings)
                  for m, state in zip(self.members, states)]
        for member, state, (action, reason, _, _) in zip(self.members, states, starts):
            if action == "afresh":
                member.trainer._start_afresh(reason if state is not None else None, state)
        if all(action == "afresh" for action, *_ in starts):
            return None
        going_on = {done for action, _, done, ended in starts if not ended}
        if any(action == "afresh" for action, *_ in starts) or len(going_on) > 1:
            raise ValueError(  # pack_groups never makes such a pack
                f"compute.pack: the runs {', '.join(m.name for m in self.members)} do not "
                f"continue at one epoch ({'; '.join(reason for _, reason, _, _ in starts)})")
        nets = [m.trainer.saved_state.restore(state, self.steps_per_epoch)
                for m, state in zip(self.members, states)]
        packed = self._pack(nets)
        pack_optimizer_state(packed, nets, common=[not ended for *_, ended in starts])
        previous = {"stopped_after": [], "steps": []}
        for member, net, (action, reason, done, ended) in zip(self.members, nets, starts):
            self._replay(member, done)
            if action == "serve":
                member.trainer._serve_beyond_cap(done, reason)
            previous["stopped_after"].append(done if ended else None)
            previous["steps"].append(_steps(net) if ended else None)
        packed.optimizer.active = [0.0 if ended else 1.0 for *_, ended in starts]
        done = going_on.pop() if going_on else max(done for _, _, done, _ in starts)
        log.info("continuing %d runs saved by their own states as one pack after epoch %d",
                 len(nets), done)
        wall = max(float(state.get("wall_time", 0.0)) for state in states)
        return packed, done, wall, states[0], previous

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
                   **validation_data(x_valid, y_valid, s.validation_batch_size), shuffle=False,
                   callbacks=[*shared, per_run, pack_state, job_time], verbose=self.verbose)
        epochs = job_time.stopped_after
        if epochs is not None and epochs < s.max_epochs and packed.optimizer.active.any():
            raise JobTimeLimitReached(epochs)  # the state is saved: the next job goes on
        return {"stopped_after": per_run.stopped_after, "steps": per_run.steps}
