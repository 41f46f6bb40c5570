"""The paper's training schedule as Keras 3 callbacks, one concern per file."""

from .epoch_bookkeeping import EpochWallTime, RaiseOnNonFiniteLoss
from .learning_rate_decay import PerBatchLearningRateDecay
from .momentum_ramp import MomentumRamp
from .paper_early_stopping import PaperEarlyStopping
from .stop_on_threshold import StopOnThreshold
from .training_state import TrainingStateCheckpoint

__all__ = ["EpochWallTime", "MomentumRamp", "PaperEarlyStopping", "PerBatchLearningRateDecay",
           "RaiseOnNonFiniteLoss", "StopOnThreshold", "TrainingStateCheckpoint"]
