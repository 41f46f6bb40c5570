"""The "train" monitoring channel of the authors' code: a fixed subset, final weights."""

from __future__ import annotations

import keras
import numpy as np


class TrainSubsetMonitor(keras.callbacks.Callback):
    """After each epoch, evaluate the model's compiled loss and metrics on fixed rows.

    Keras's ``loss`` and ``auc`` in the epoch logs are running means over the epoch's
    minibatches, computed with weights that change during the epoch. The authors' Pylearn2
    scripts monitored "train" differently: the cost on the first 100,000 training rows,
    evaluated after each epoch with the epoch's final weights (``dataset_train_monitor``,
    ``start=0, stop=100000``). This callback adds that quantity to the logs as
    ``<prefix>loss``, ``<prefix><metric>`` (by default ``train_monitor_loss``,
    ``train_monitor_auc``), before the CSV logger writes them. The loss is the whole
    compiled cost, with the weight-decay term, like Pylearn2's ``train_objective``.

    Args:
        x: the rows to evaluate (array).
        y: their labels (array).
        prefix: prefix of the log keys (str, default "train_monitor_").
        batch_size: evaluation batch size (int, default 10,000); it does not change the
            value beyond float rounding.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.0), "mse")  # rate 0: the weights stay
    >>> x = np.ones((4, 1), np.float32)
    >>> monitor = TrainSubsetMonitor(x[:2], x[:2])  # the authors': the first 100,000 rows
    >>> history = model.fit(x, x, epochs=2, verbose=0, callbacks=[monitor])
    >>> logs = history.history
    >>> bool(np.isclose(logs["train_monitor_loss"][-1], logs["loss"][-1]))
    True
    """

    def __init__(self, x, y, prefix: str = "train_monitor_", batch_size: int = 10_000):
        super().__init__()
        self.x, self.y = x, y
        self.prefix = prefix
        self.batch_size = int(batch_size)
        self._rows = None

    def on_epoch_end(self, epoch, logs=None):
        results = self.evaluate_rows()
        if logs is not None:
            logs.update({self.prefix + name: float(value) for name, value in results.items()})

    def evaluate_rows(self) -> dict:
        """The compiled loss and metrics on the fixed rows, with the model's current weights.

        On JAX, ``evaluate`` on the arrays: it slices them as they are. On TensorFlow,
        ``evaluate`` turns the rows into a new ``tf.data`` pipeline at every call (about
        45 ms, as much as the rest of a small run's epoch; 35 ms for a dataset made once),
        so the model's own ``test_step`` runs instead, compiled as ``evaluate`` compiles it,
        on the batches ``evaluate(x, y, batch_size)`` would cut, made once as tensors, and the
        values are read as ``evaluate`` reads them (``get_metrics_result``, outside the
        compiled step): the same steps on the same batches after the same
        ``reset_metrics``, so the same values, bit for bit (``tests/test_callbacks.py``).
        """
        if keras.backend.backend() != "tensorflow":
            return self.model.evaluate(self.x, self.y, batch_size=self.batch_size, verbose=0,
                                       return_dict=True)
        if self._rows is None:
            self._rows = _tensorflow_test_steps(self.model, self.x, self.y, self.batch_size)
        step, batches = self._rows
        self.model.reset_metrics()
        for batch in batches:
            step(batch)
        return {name: np.asarray(value)
                for name, value in self.model.get_metrics_result().items()}


def _tensorflow_test_steps(model, x, y, batch_size: int):
    """(the model's ``test_step`` as a ``tf.function``, compiled with XLA where the model
    is, the batches of ``x``, ``y`` at ``batch_size`` as ``(x, y)`` tensors)."""
    import tensorflow as tf

    step = tf.function(model.test_step, jit_compile=bool(model.jit_compile),
                       reduce_retracing=True)
    batches = [(tf.constant(x[i:i + batch_size]), tf.constant(y[i:i + batch_size]))
               for i in range(0, len(x), batch_size)]
    return step, batches
