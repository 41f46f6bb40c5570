"""Import this module to make every custom Keras object of the package loadable.

Keras finds a custom class in a saved ``model.keras`` only if the module that registers it
was imported. The package's models use five: ``PaperL2`` (the weight decay),
``PaperDropout`` (the dropout runs' layer), ``ScheduledMomentumSGD`` (the optimizer),
``ExponentialStepDecay`` (its learning-rate schedule) and ``RunAUC`` (the training metric).
One import registers them all::

    import keras
    import reproduce.train.keras_objects  # noqa: F401

    model = keras.models.load_model("results/HIGGS/runs/deep-complete-seed1/model.keras")
"""

from reproduce.train.auc import RunAUC
from reproduce.train.dropout import PaperDropout
from reproduce.train.models import PaperL2
from reproduce.train.optimizers import ScheduledMomentumSGD
from reproduce.train.step_decay import ExponentialStepDecay

CUSTOM_OBJECTS = {cls.__name__: cls for cls in (PaperL2, PaperDropout, ScheduledMomentumSGD,
                                                ExponentialStepDecay, RunAUC)}

__all__ = ["CUSTOM_OBJECTS", "ExponentialStepDecay", "PaperDropout", "PaperL2", "RunAUC",
           "ScheduledMomentumSGD"]
