"""Save everything a resumed run needs after every epoch, atomically; restore it safely."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path

import keras

from reproduce.atomic_files import write_json_atomic
from reproduce.layout import STATE_FILE, STATE_SWAP_SUFFIX


class CorruptStateError(RuntimeError):
    """A saved training state that cannot be resumed; the message says what to do."""


class TrainingStateCheckpoint(keras.callbacks.Callback):
    """Own a run's saved state: write it after each epoch, check and restore it on resume.

    After each epoch it writes ``<directory>/model.keras`` (weights and the optimizer's
    state: step counter, momentum, velocities) and ``state.json`` (the completed epochs,
    the optimizer steps, the wall time so far, the run's ``fingerprint``, the state of
    the stateful callbacks, the ``versions`` of the libraries that trained it
    (``library_versions``) and the ``carried_fields`` a caller set). The files are written to ``<directory>.tmp`` and swapped in
    with renames, so a kill at any moment leaves either the previous epoch's complete state
    or this one's. Like Keras's ``BackupAndRestore``, this one class both saves and
    restores, and an instance takes everything through its constructor: ``load`` finishes
    an interrupted swap and checks what it reads, ``restore`` loads the model and checks the
    optimizer's step counter against the completed epochs, ``record`` adds facts to
    ``state.json`` (how training ended, that the run finished), ``set_aside`` moves it to a
    name that says when and why it was superseded (``discard`` deletes it).
    Those four need only ``directory``: a run reads its saved state before it builds the
    callbacks (the model, the epoch to start from and the callbacks' states come from it),
    then fits with the instance that has the rest.

    The ``fingerprint`` (a JSON-able dict of every setting and input that changes the
    numbers) is stored with the state; the caller compares it before resuming, so a state
    is never reused for a run it did not come from.

    Args:
        directory: where the state lives (``pathlib.Path`` or str).
        fingerprint: dict stored with every save.
        callback_states: ``{name: zero-argument function returning a JSON-able dict}``,
            called at the end of every epoch (e.g. ``stopper.get_state``).
        elapsed: zero-argument function returning the wall time so far, in seconds.
        extra_state: function of the completed epochs returning more JSON-able fields
            for ``state.json`` (e.g. the minibatch order's generator state), or None.

    Example:

    >>> import tempfile, keras, numpy as np
    >>> from reproduce.train.callbacks import EpochBudget, EpochWallTime
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01), "mse")
    >>> budget, wall_time = EpochBudget(2), EpochWallTime()
    >>> folder = tempfile.mkdtemp() + "/state"
    >>> state = TrainingStateCheckpoint(folder, {"model": "tiny", "seed": 1},
    ...                                 {"stopping": budget.get_state}, wall_time.elapsed)
    >>> x = np.ones((2, 1), np.float32)  # one batch: one step per epoch
    >>> _ = model.fit(x, x, epochs=10, verbose=0, callbacks=[budget, wall_time, state])
    >>> saved = TrainingStateCheckpoint(folder).load()
    >>> saved["epochs_completed"], saved["callbacks"]["stopping"]["epochs_seen"]
    (2, 2)
    >>> restored = TrainingStateCheckpoint(folder).restore(saved, steps_per_epoch=1)
    >>> int(restored.optimizer.iterations.numpy())
    2
    """

    def __init__(self, directory, fingerprint: dict | None = None,
                 callback_states: dict | None = None, elapsed=None, extra_state=None):
        super().__init__()
        self.directory = Path(directory)
        self.fingerprint = fingerprint or {}
        self.callback_states = dict(callback_states or {})
        self.elapsed = elapsed or (lambda: 0.0)
        self.extra_state = extra_state or (lambda epochs_completed: {})
        self.carried_fields = {}  # more fields for every save (e.g. an earlier run's facts)

    def _corrupt(self, what: str) -> CorruptStateError:
        return CorruptStateError(
            f"{self.directory}: the saved training state cannot be resumed: {what}. "
            f"Delete the folder {self.directory} (and the run's progress folder) "
            f"to start this run afresh.")

    def load(self) -> dict | None:
        """The saved ``state.json`` as a dict, checked; None if there is no saved state.

        Finishes a swap that a kill interrupted (the complete state is then in ``.old``).
        Raises CorruptStateError naming the folder when the state cannot be read.
        """
        old = self.directory.with_name(self.directory.name + STATE_SWAP_SUFFIX)
        if not self.directory.exists() and old.exists():
            os.replace(old, self.directory)
        shutil.rmtree(self.directory.with_name(self.directory.name + ".tmp"),
                      ignore_errors=True)
        if not self.directory.exists():
            return None
        path = self.directory / STATE_FILE
        if not path.exists():
            raise self._corrupt("state.json is missing")
        try:
            state = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._corrupt(f"state.json is not valid JSON ({exc})") from None
        completed = state.get("epochs_completed") if isinstance(state, dict) else None
        if not isinstance(completed, int) or completed < 1:
            raise self._corrupt("state.json has no positive integer 'epochs_completed'")
        if not (self.directory / "model.keras").exists():
            raise self._corrupt("model.keras is missing")
        return state

    def restore(self, state: dict, steps_per_epoch: int) -> keras.Model:
        """Load the saved model (with its optimizer) and check its step counter.

        Args:
            state: what ``load`` returned.
            steps_per_epoch: optimizer steps in one epoch of this run.
        """
        from reproduce.train import keras_objects  # noqa: F401  (registers the package's objects)

        try:
            model = keras.models.load_model(self.directory / "model.keras")
        except Exception as exc:  # noqa: BLE001  (Keras raises many types for bad files)
            raise self._corrupt(f"model.keras cannot be loaded ({type(exc).__name__}: "
                                f"{str(exc)[:200]})") from None
        steps = int(model.optimizer.iterations.numpy())
        expected = state["epochs_completed"] * steps_per_epoch
        if steps != expected or state.get("steps", steps) != steps:
            raise self._corrupt(
                f"state.json says {state['epochs_completed']} epochs were completed, which "
                f"is {expected:,} optimizer steps, but the saved optimizer has taken "
                f"{steps:,}")
        return model

    def record(self, **fields) -> None:
        """Add ``fields`` to the saved ``state.json`` (atomically)."""
        path = self.directory / STATE_FILE
        state = json.loads(path.read_text())
        write_json_atomic(path, state | fields)

    def set_aside(self, reason: str, companions=()) -> Path | None:
        """Move the saved state to ``<directory>.superseded-<UTC time>-<reason>`` (never
        over an earlier one), with the ``companions`` that exist (the run's CSV log, best
        weights, metrics: paths moved in under their names); return the new folder, or None
        if there is no saved state."""
        if not self.directory.exists():
            return None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        stem = f"{self.directory.name}.superseded-{stamp}-{reason}"
        target, n = self.directory.with_name(stem), 1
        while target.exists():
            target, n = self.directory.with_name(f"{stem}-{n}"), n + 1
        os.replace(self.directory, target)
        for path in map(Path, companions):
            if path.exists() and not (target / path.name).exists():
                os.replace(path, target / path.name)
        return target

    def discard(self) -> None:
        """Delete the saved state (a run that starts afresh)."""
        for suffix in ("", ".tmp", STATE_SWAP_SUFFIX):
            shutil.rmtree(self.directory.with_name(self.directory.name + suffix),
                          ignore_errors=True)

    def on_epoch_end(self, epoch, logs=None):
        tmp = self.directory.with_name(self.directory.name + ".tmp")
        old = self.directory.with_name(self.directory.name + STATE_SWAP_SUFFIX)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save(tmp / "model.keras")
        state = {"epochs_completed": epoch + 1,
                 "steps": int(self.model.optimizer.iterations.numpy()),
                 "wall_time": self.elapsed(), "fingerprint": self.fingerprint,
                 "callbacks": {name: get() for name, get in self.callback_states.items()},
                 "versions": library_versions()}
        write_json_atomic(tmp / STATE_FILE,
                          state | self.carried_fields | self.extra_state(epoch + 1))
        shutil.rmtree(old, ignore_errors=True)
        if self.directory.exists():
            os.replace(self.directory, old)
        os.replace(tmp, self.directory)
        shutil.rmtree(old, ignore_errors=True)


def library_versions() -> dict:
    """The versions that decide a training's numbers: Python, Keras and its backend's
    packages (TensorFlow, or jax and jaxlib), numpy (stored with every saved state); on JAX
    nothing of TensorFlow is imported."""
    import numpy as np

    from reproduce.backend import backend_versions

    versions = backend_versions()
    return {"python": platform.python_version(), "keras": versions.pop("keras"),
            "keras_backend": versions.pop("backend"), **versions, "numpy": np.__version__}


def version_differences(saved: dict, now: dict) -> dict:
    """``{library: {"saved": version, "now": version}}`` for each library whose version
    differs (a state saved before versions were recorded: ``saved`` None).

    Example:

    >>> version_differences({"keras": "3.1.0", "numpy": "2.0"}, {"keras": "3.2.0", "numpy": "2.0"})
    {'keras': {'saved': '3.1.0', 'now': '3.2.0'}}
    """
    saved = saved or {}
    return {name: {"saved": saved.get(name), "now": version}
            for name, version in now.items() if saved.get(name) != version}
