"""The callbacks of one training run, in the order ``model.fit`` calls them.

``stopping_rules`` builds the three stopping rules (the chosen one stops the run, the other
two only observe); ``training_callbacks`` builds the whole list: the schedule (learning
rate, momentum), the bookkeeping (wall time, non-finite loss, the train monitor), the rules,
the optional built-ins of the config, and last the writers (the best-validation weights, the
CSV log, the training state), so each writer sees the epoch's complete logs.
"""

from __future__ import annotations

import dataclasses

from reproduce.train import schedules as paper
from reproduce.train.settings import TrainingSettings


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


def optional_callbacks(settings: TrainingSettings) -> dict:
    """The callbacks article's built-ins the config turns on, by their training key."""
    import keras

    from reproduce.train.callbacks import StopOnThreshold

    optional = {}
    if settings.early_stopping_patience:
        optional["early_stopping_patience"] = keras.callbacks.EarlyStopping(
            "val_loss", patience=settings.early_stopping_patience, mode="min")
    if settings.stop_on_threshold:
        optional["stop_on_threshold"] = StopOnThreshold(**settings.stop_on_threshold)
    return optional


def schedule_callbacks(settings: TrainingSettings, steps_per_epoch: int) -> list:
    """The learning-rate decay (per ``settings.learning_rate_schedule``) and the momentum
    ramp (per ``settings.momentum_ramp``)."""
    import keras

    from reproduce.train.callbacks import MomentumRamp, PerBatchLearningRateDecay

    s = settings
    lr_decay = PerBatchLearningRateDecay(s.learning_rate, s.decay_factor, s.learning_rate_floor)
    if s.learning_rate_schedule == "per_epoch":
        lr_decay = keras.callbacks.LearningRateScheduler(
            lambda epoch: paper.learning_rate_at(epoch * steps_per_epoch, s.learning_rate,
                                                 s.decay_factor, s.learning_rate_floor))
    ramp = MomentumRamp(s.initial_momentum, s.final_momentum, s.momentum_saturation_epochs,
                        offset=1 if s.momentum_ramp == "pylearn2" else 0)
    return [lr_decay, ramp]


@dataclasses.dataclass
class RunCallbacks:
    """What ``training_callbacks`` built: the list for ``fit``, and the parts read after it."""

    callbacks: list
    optional: dict
    state: object  # the run's TrainingStateCheckpoint


def training_callbacks(settings: TrainingSettings, *, files, fingerprint: dict, rules: dict,
                       order, steps_per_epoch: int, wall_offset: float, train_rows,
                       best_val_loss: float | None) -> RunCallbacks:
    """Every callback of one run's ``fit``.

    Args:
        settings: the run's ``TrainingSettings``.
        files: its ``reproduce.layout.RunFiles`` (the live log and best weights, the state).
        fingerprint: stored with the training state.
        rules: ``stopping_rules(settings)`` (replayed already, on a resumed run).
        order: the minibatch order (its state is saved with the training state).
        steps_per_epoch: optimizer steps in one epoch.
        wall_offset: seconds spent before this fit (a resumed run's).
        train_rows: ``(x, y)`` of the training split (the train monitor's first rows).
        best_val_loss: the lowest validation loss already logged, or None.
    """
    import keras

    from reproduce.train.callbacks import (EpochWallTime, RaiseOnNonFiniteLoss,
                                           TrainingStateCheckpoint, TrainSubsetMonitor)

    wall_time = EpochWallTime(wall_offset)
    callbacks = [*schedule_callbacks(settings, steps_per_epoch), wall_time,
                 RaiseOnNonFiniteLoss()]
    if settings.train_monitor_rows:
        x, y = train_rows
        n = min(settings.train_monitor_rows, len(x))
        callbacks.append(TrainSubsetMonitor(x[:n], y[:n].reshape(-1, 1),
                                            batch_size=settings.validation_batch_size))
    optional = optional_callbacks(settings)
    state = TrainingStateCheckpoint(
        files.state, fingerprint, callback_states={"stopping": rules[settings.stopping].get_state},
        elapsed=wall_time.elapsed,
        extra_state=lambda epochs: {"batch_order": order.state_before(epochs)})
    callbacks += [*rules.values(), *optional.values(),
                  keras.callbacks.ModelCheckpoint(
                      files.live_best, monitor="val_loss", mode="min", save_best_only=True,
                      save_weights_only=True, initial_value_threshold=best_val_loss),
                  keras.callbacks.CSVLogger(files.live_log, append=True),
                  state]
    return RunCallbacks(callbacks, optional, state)
