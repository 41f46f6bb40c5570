"""Save everything a resumed run needs after every epoch, atomically."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import keras

from ..atomic_files import write_json_atomic


class TrainingStateCheckpoint(keras.callbacks.Callback):
    """After each epoch, write ``<directory>/model.keras`` and ``state.json`` atomically.

    ``model.keras`` holds the weights and the optimizer's state (step counter, momentum,
    velocities); ``state.json`` holds the number of completed epochs, the wall time so far
    and the state of the stateful callbacks. The files are written to ``<directory>.tmp``
    and swapped in with renames, so a kill at any moment leaves either the previous epoch's
    complete state or this one's (``recover`` finishes an interrupted swap).

    Args:
        directory: where the state lives (``pathlib.Path`` or str).
        callback_states: ``{name: zero-argument function returning a JSON-able dict}``,
            called at the end of every epoch (e.g. ``stopper.get_state``).
        elapsed: zero-argument function returning the wall time so far, in seconds.

    Example:

    >>> state = TrainingStateCheckpoint("run/state", {"stop": stopper.get_state},
    ...                                 elapsed=wall_time.elapsed)
    >>> model.fit(x, y, epochs=100, callbacks=[stopper, wall_time, state])
    >>> TrainingStateCheckpoint.load("run/state")["epochs_completed"]
    """

    def __init__(self, directory, callback_states: dict | None = None, elapsed=None):
        super().__init__()
        self.directory = Path(directory)
        self.callback_states = dict(callback_states or {})
        self.elapsed = elapsed or (lambda: 0.0)

    @staticmethod
    def recover(directory) -> None:
        """Finish a swap a kill interrupted: the complete state is then in ``.old``."""
        directory = Path(directory)
        old = directory.with_name(directory.name + ".old")
        if not directory.exists() and old.exists():
            os.replace(old, directory)
        shutil.rmtree(directory.with_name(directory.name + ".tmp"), ignore_errors=True)

    @staticmethod
    def load(directory) -> dict | None:
        """The saved ``state.json`` as a dict, or None if there is no saved state."""
        path = Path(directory) / "state.json"
        return json.loads(path.read_text()) if path.exists() else None

    def on_epoch_end(self, epoch, logs=None):
        tmp = self.directory.with_name(self.directory.name + ".tmp")
        old = self.directory.with_name(self.directory.name + ".old")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save(tmp / "model.keras")
        state = {"epochs_completed": epoch + 1, "wall_time": self.elapsed(),
                 "callbacks": {name: get() for name, get in self.callback_states.items()}}
        write_json_atomic(tmp / "state.json", state)
        shutil.rmtree(old, ignore_errors=True)
        if self.directory.exists():
            os.replace(self.directory, old)
        os.replace(tmp, self.directory)
        shutil.rmtree(old, ignore_errors=True)
