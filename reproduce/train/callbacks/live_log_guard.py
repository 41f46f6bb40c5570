"""Keep a CSV log whole when its file is replaced while Keras's ``CSVLogger`` appends to it."""

from __future__ import annotations

import os
from pathlib import Path

import keras

from reproduce.atomic_files import write_text_atomic


class LiveLogGuard(keras.callbacks.Callback):
    """Rewrite the CSV log at ``path`` from the file ``CSVLogger`` writes, if it was replaced.

    An editor's save or ``sed -i`` replaces a file by a new one under the same name; the
    ``CSVLogger`` keeps appending to the old, unlinked file, and the name would show only
    the epochs before the replacement. This callback opens the log when training begins
    (after the ``CSVLogger``: put it right after that one in the list) and, after every
    epoch and when training ends, compares the file under the name with the one it opened;
    if they differ it writes what the training logged back under the name (atomically).
    ``repairs`` counts the rewrites.

    Args:
        path: the CSV log (``pathlib.Path`` or str), as given to the ``CSVLogger``.

    Example:

    >>> import os, tempfile, pathlib, keras, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> class ReplaceLog(keras.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         if epoch == 0:
    ...             copy = path.with_name("copy.csv")
    ...             copy.write_text(path.read_text())
    ...             os.replace(copy, path)
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> guard = LiveLogGuard(path)
    >>> x = np.ones((2, 1), np.float32)
    >>> _ = model.fit(x, x, epochs=3, verbose=0,
    ...               callbacks=[keras.callbacks.CSVLogger(path), guard, ReplaceLog()])
    >>> [line.split(",")[0] for line in path.read_text().splitlines()], guard.repairs > 0
    (['epoch', '0', '1', '2'], True)
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        self.repairs = 0
        self._fd = None

    def on_train_begin(self, logs=None):
        self.repairs = 0
        self._fd = os.open(self.path, os.O_RDONLY)

    def on_epoch_end(self, epoch, logs=None):
        self._check()

    def on_train_end(self, logs=None):
        self._check()
        os.close(self._fd)
        self._fd = None

    def _check(self):
        try:
            same = os.path.samestat(os.fstat(self._fd), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if not same:
            size = os.fstat(self._fd).st_size
            write_text_atomic(self.path, os.pread(self._fd, size, 0).decode())
            self.repairs += 1
