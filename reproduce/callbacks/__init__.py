"""The paper's training schedule as Keras 3 callbacks, one concern per file."""

from .epoch_bookkeeping import EpochWallTime, RaiseOnNonFiniteLoss
from .epoch_budget import EpochBudget
from .learning_rate_decay import PerBatchLearningRateDecay
from .momentum_ramp import MomentumRamp
from .paper_early_stopping import PaperEarlyStopping
from .pylearn2_termination import Pylearn2Termination
from .stop_on_threshold import StopOnThreshold
from .stopping_rule import StoppingRule
from .train_monitor import TrainSubsetMonitor
from .training_state import CorruptStateError, TrainingStateCheckpoint

__all__ = ["CorruptStateError", "EpochBudget", "EpochWallTime", "MomentumRamp",
           "PaperEarlyStopping", "PerBatchLearningRateDecay", "Pylearn2Termination",
           "RaiseOnNonFiniteLoss", "StopOnThreshold", "StoppingRule", "TrainSubsetMonitor",
           "TrainingStateCheckpoint"]
