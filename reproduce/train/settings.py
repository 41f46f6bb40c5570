"""What a training run can be told: ``TrainingSettings``, and what each enumerated value means.

This module is the one home of those meanings. ``workflow/schemas/config.schema.yaml``
enumerates exactly the keys of the dicts below (``tests/test_settings.py``), ``config.yaml``
and the schema point here, and the report and the README read the words from here.
Defaults are the paper's (``reproduce.train.schedules``).

Example:

>>> settings = settings_for("deep_dropout", {"max_epochs": 5}, threads=2)
>>> settings.dropout, settings.max_epochs, settings.decay_factor
(True, 5, 1.0000003)
>>> STOPPING_RULES["authors"].split(";")[0]
'train every epoch up to training.max_epochs, whatever the validation loss does'
"""

from __future__ import annotations

import dataclasses

from reproduce.data.tfrecords import STANDARDIZATIONS
from reproduce.model_registry import network_settings
from reproduce.train import schedules as paper

# training.stopping: when a run ends (callbacks.EpochBudget, callbacks.Pylearn2Termination,
# callbacks.PaperEarlyStopping; the rules not chosen only observe)
STOPPING_RULES = {
    "authors": "train every epoch up to training.max_epochs, whatever the validation loss "
               "does; the authors' instruction for the paper's results (their README: the "
               "deep nets ran ~1000 epochs)",
    "pylearn2": "the released code's Or(MonitorBased, EpochCounter) criterion as Pylearn2 ran "
                "it: it ends about momentum_saturation_epochs epochs after the validation "
                "loss stagnates",
    "paper_text": "the Methods text's rule: once momentum has saturated, stop when the "
                  "validation loss has not improved by a factor min_relative_improvement for "
                  "patience epochs (dropout_patience for the dropout runs)",
}
# training.batch_order: which permutation each epoch visits (reproduce.train.batch_order)
BATCH_ORDERS = {
    "shared": "Pylearn2's one permutation stream, RandomState([2012, 10, 5]), for every run, "
              "as the authors' code ran",
    "per_seed": "a permutation stream per seed (TensorFlow's stateless shuffle of (seed, epoch))",
}
# training.momentum_ramp: how the momentum rises (callbacks.MomentumRamp)
MOMENTUM_RAMPS = {
    "pylearn2": "as the authors' code applied the ramp, one epoch ahead of the text: epoch e "
                "uses step e+1, the final momentum from epoch momentum_saturation_epochs",
    "paper_text": "the Methods text: the initial momentum in the first epoch, the final one "
                  "from epoch momentum_saturation_epochs + 1",
}
# training.learning_rate_schedule: when the decayed rate is applied
LEARNING_RATE_SCHEDULES = {
    "per_batch": "the paper's decay, exact at every minibatch "
                 "(callbacks.PerBatchLearningRateDecay)",
    "per_epoch": "the same closed form applied at the start of each epoch only (Keras's "
                 "LearningRateScheduler, as the callbacks article does)",
}
# evaluation.weights: the weights whose test AUC the tables show (metrics.json has both)
EVALUATED_WEIGHTS = {
    "final": "the weights when training ended",  # as the authors' code evaluated them
    "best_validation": "the checkpoint with the lowest validation loss",
}
# compute.pack: whether the runs of one (data set, network) train as one pack
# (reproduce.train.packed_training; the dropout nets and batch_order per_seed never do).
# Not a training setting, so not in ENUMERATED_SETTINGS; tests/test_packed_training.py
# checks the schema's enum against these keys.
PACKING = {
    "auto": "pack when the Keras backend sees a GPU, never on the CPU (a pack is one job: "
            "on a CPU with cores for several trainings it would give up running the runs "
            "side by side)",
    "none": "one process per run, as the authors trained them",
    "by_network": "pack on any device: one job trains every run of a (data set, network)",
}
# Every enumerated setting of the config, by its key in the schema. training.standardize's
# words live beside the code that computes the constants (reproduce.data.tfrecords).
ENUMERATED_SETTINGS = {
    "training.stopping": STOPPING_RULES,
    "training.batch_order": BATCH_ORDERS,
    "training.momentum_ramp": MOMENTUM_RAMPS,
    "training.learning_rate_schedule": LEARNING_RATE_SCHEDULES,
    "training.standardize": STANDARDIZATIONS,
    "evaluation.weights": EVALUATED_WEIGHTS,
}
# The authors' scripts monitor "train" on the first 100,000 training rows
# (dataset_train_monitor, start=0, stop=100000).
TRAIN_MONITOR_ROWS = 100_000


@dataclasses.dataclass
class TrainingSettings:
    """Every knob of a training run. Defaults are the paper's (``reproduce.train.schedules``).

    The enumerated settings (``stopping``, ``batch_order``, ``momentum_ramp``,
    ``learning_rate_schedule``, ``standardize``) take the keys of ``ENUMERATED_SETTINGS``,
    whose values say what each one means. ``max_epochs``: hard cap (with ``stopping:
    authors``, the run length). ``weight_decay``: the L2 coefficient of the networks
    without dropout (the dropout runs have none: ``reproduce.train.models.paper_model``).
    ``train_monitor_rows``: the first rows of the training split evaluated after every
    epoch as the "train" curve (the authors' 100,000; 0 turns it off).
    ``steps_per_execution``: minibatches per compiled call, run in one XLA loop
    (``reproduce.train.block_steps``); each epoch ends with a shorter call for its remaining
    batches. ``jit_compile``: XLA for the train step. ``early_stopping_patience`` /
    ``stop_on_threshold``: the callbacks article's optional built-ins. ``threads``: CPU
    threads (0: TensorFlow's choice); with ``steps_per_execution`` the only settings that
    never change the numbers.
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
    momentum_ramp: str = "pylearn2"
    weight_decay: float = paper.WEIGHT_DECAY
    min_relative_improvement: float = paper.MIN_RELATIVE_IMPROVEMENT
    patience: int = paper.PATIENCE
    dropout_patience: int = paper.DROPOUT_PATIENCE
    max_epochs: int = paper.AUTHORS_EPOCHS
    stopping: str = "authors"
    batch_order: str = "shared"
    train_monitor_rows: int = TRAIN_MONITOR_ROWS
    steps_per_execution: int = 1000
    jit_compile: bool = True
    standardize: str = "none"
    validation_batch_size: int = 10_000
    auc_thresholds: int = 200
    early_stopping_patience: int | None = None
    stop_on_threshold: dict | None = None
    threads: int = 0

    def __post_init__(self):
        for path, meanings in ENUMERATED_SETTINGS.items():
            section, key = path.split(".")
            if section == "training":
                check_choice(path, getattr(self, key), meanings)

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

    @property
    def stopping_patience(self) -> int:
        """The stopping rule's patience of this run (the dropout runs have their own)."""
        return self.dropout_patience if self.dropout else self.patience

    def block_size(self, n_train: int) -> int:
        """Minibatches per compiled call for ``n_train`` rows: ``steps_per_execution``, or
        fewer when an epoch has fewer full batches."""
        return max(1, min(self.steps_per_execution, n_train // self.batch_size))


def check_choice(path: str, value, meanings: dict) -> None:
    """Raise a ValueError naming the config key ``path`` if ``value`` is not a key of
    ``meanings``."""
    if value not in meanings:
        raise ValueError(f"{path}: expected one of {', '.join(meanings)}, got {value!r}")


def settings_for(network: str, training: dict, *, threads: int = 0) -> TrainingSettings:
    """The ``TrainingSettings`` of ``network`` (a model name of ``reproduce.model_registry``,
    e.g. ``deep_dropout``) under the config's ``training`` section, on ``threads`` CPU
    threads: what the train rule runs, and what the estimate times."""
    return TrainingSettings.from_dict(dict(training, threads=threads)
                                      | network_settings(network))
