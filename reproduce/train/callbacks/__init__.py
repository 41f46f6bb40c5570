"""The paper's training schedule as Keras 3 callbacks, one concern per file."""

from reproduce.train.callbacks.epoch_bookkeeping import EpochWallTime, RaiseOnNonFiniteLoss
from reproduce.train.callbacks.epoch_budget import EpochBudget
from reproduce.train.callbacks.learning_rate_decay import PerBatchLearningRateDecay
from reproduce.train.callbacks.momentum_ramp import MomentumRamp
from reproduce.train.callbacks.paper_early_stopping import PaperEarlyStopping
from reproduce.train.callbacks.pylearn2_termination import Pylearn2Termination
from reproduce.train.callbacks.stop_on_threshold import StopOnThreshold
from reproduce.train.callbacks.stopping_rule import StoppingRule
from reproduce.train.callbacks.train_monitor import TrainSubsetMonitor
from reproduce.train.callbacks.training_state import CorruptStateError, TrainingStateCheckpoint

__all__ = ["CorruptStateError", "EpochBudget", "EpochWallTime", "MomentumRamp",
           "PaperEarlyStopping", "PerBatchLearningRateDecay", "Pylearn2Termination",
           "RaiseOnNonFiniteLoss", "StopOnThreshold", "StoppingRule", "TrainSubsetMonitor",
           "TrainingStateCheckpoint"]
