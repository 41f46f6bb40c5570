"""A paper network built and compiled as a training run trains it.

``compile_for_training`` gives a network of ``reproduce.train.models`` the run's optimizer
(``ScheduledMomentumSGD``), loss (cross-entropy) and metric (AUC); ``training_network``
builds the network of a run's ``TrainingSettings`` and compiles it. ``train_run`` and the
cost estimate (``reproduce.estimate``) both call ``training_network``.
"""

from __future__ import annotations

from reproduce.train.models import paper_model


def compile_for_training(net, settings):
    """Compile a paper network as ``train_run`` does: ScheduledMomentumSGD, cross-entropy,
    AUC (``reproduce.train.auc.RunAUC``: Keras's AUC, counted per bucket), XLA per
    ``settings.jit_compile``. One Keras step per call: the block of
    ``settings.steps_per_execution`` minibatches (``reproduce.train.block_steps``) takes that
    role.

    Args:
        net: an uncompiled ``keras.Model``.
        settings: the run's ``reproduce.train.settings.TrainingSettings``.

    Returns:
        ``net``, compiled.
    """
    import keras

    from reproduce.train.auc import RunAUC
    from reproduce.train.optimizers import ScheduledMomentumSGD

    net.compile(
        optimizer=ScheduledMomentumSGD(settings.learning_rate, settings.initial_momentum),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[RunAUC(settings.auc_thresholds, name="auc")],  # keras.metrics.AUC's value
        steps_per_execution=1,
        jit_compile=settings.jit_compile,
    )
    return net


def training_network(model: str, n_inputs: int, settings, *, seed: int, offset=None,
                     scale=None):
    """The compiled network of a run: ``model`` (a family of ``reproduce.model_registry``)
    with the width, depth, dropout and weight decay of ``settings``.

    Args:
        model: "shallow" or "deep".
        n_inputs: input features.
        settings: the run's ``TrainingSettings``.
        seed: seeds the initial weights.
        offset, scale: the input standardization ``(x - offset) / scale``; left out when
            ``settings.standardize`` is "none".

    Example:

    >>> from reproduce.train.settings import TrainingSettings
    >>> net = training_network("shallow", 3, TrainingSettings(width=4), seed=1)
    >>> net.count_params(), type(net.optimizer).__name__
    (21, 'ScheduledMomentumSGD')
    """
    standardize = settings.standardize != "none"
    net = paper_model(model, n_inputs, seed=seed, width=settings.width,
                      depth=settings.depth, dropout=settings.dropout,
                      weight_decay=settings.weight_decay,
                      offset=offset if standardize else None,
                      scale=scale if standardize else None)
    return compile_for_training(net, settings)
