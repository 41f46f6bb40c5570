"""Stop training once a metric passes a threshold (the callbacks article's example)."""

from __future__ import annotations

import warnings

import keras


class StopOnThreshold(keras.callbacks.Callback):
    """Stop training at the end of the first epoch where ``monitor`` passes ``threshold``.

    Written for Keras 3: it uses ``self.model`` (no global model) and warns once, not every
    epoch, when the metric is missing from the logs.

    Args:
        monitor: metric name in the epoch logs (str, default "val_accuracy").
        threshold: value to reach (float, default 0.9).
        mode: "max" stops when the metric is >= threshold, "min" when <= (default "max").

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> x = np.ones((2, 1), np.float32)
    >>> stop = StopOnThreshold("val_loss", 100.0, mode="min")
    >>> history = model.fit(x, x, validation_data=(x, x), epochs=100, verbose=0,
    ...                     callbacks=[stop])
    >>> len(history.epoch), stop.stopped_epoch  # below 100 after the first epoch
    (1, 0)
    """

    def __init__(self, monitor: str = "val_accuracy", threshold: float = 0.9,
                 mode: str = "max"):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.monitor, self.threshold, self.mode = monitor, float(threshold), mode
        self.stopped_epoch = None
        self._warned = False

    def on_train_begin(self, logs=None):
        self.stopped_epoch = None
        self._warned = False

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            if not self._warned:
                warnings.warn(f"StopOnThreshold: metric {self.monitor!r} is not in the logs "
                              f"(available: {', '.join(sorted(logs or {}))}); never stopping",
                              stacklevel=2)
                self._warned = True
            return
        passed = value >= self.threshold if self.mode == "max" else value <= self.threshold
        if passed:
            self.stopped_epoch = epoch
            self.model.stop_training = True
