"""The "train" monitoring channel of the authors' code: a fixed subset, final weights."""

from __future__ import annotations

import keras


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

        On TensorFlow the rows are one ``tf.data`` dataset of the batches
        ``evaluate(x, y, batch_size)`` would cut, made at the first call: the same batches,
        so the same values, without the conversion of the arrays into a new dataset that
        ``evaluate`` makes at every call (about 45 ms, as much as the rest of a small run's
        epoch). On JAX the arrays: its ``evaluate`` slices them as they are.
        """
        if self._rows is None:
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                batches = tf.data.Dataset.from_tensor_slices((self.x, self.y))
                self._rows = {"x": batches.batch(self.batch_size)}
            else:
                self._rows = {"x": self.x, "y": self.y, "batch_size": self.batch_size}
        return self.model.evaluate(**self._rows, verbose=0, return_dict=True)
