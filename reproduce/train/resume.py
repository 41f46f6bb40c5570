"""Whether a saved training state belongs to this run: its fingerprint, and the resume plan.

A run's fingerprint holds everything that changes its numbers, the data by its content (the
rows, in order: the manifest's ``rows_sha256``, not how they were sharded); a saved state is
resumed when its fingerprint equals the run's, or differs only in when training stops or in
what the evaluation measures and the saved epochs are still this run's (``resume_plan``). A
cap below the saved epochs is served from the saved state, saying so; a state that will not
be resumed is set aside by the caller, never deleted. A resumed run's CSV log is cut back to
the saved epochs (``keep_log_epochs``), so the log and the state never disagree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from reproduce.atomic_files import write_text_atomic
from reproduce.datasets import DatasetSpec
from reproduce.run_log import read_log
from reproduce.train.settings import TrainingSettings

# Settings that only decide when training stops. A saved state whose fingerprint differs
# from the run's only in these can be extended (or found finished) instead of discarded.
STOPPING_KEYS = ("max_epochs", "stopping", "patience", "dropout_patience",
                 "min_relative_improvement")
# Settings that never change the numbers: the block size (each minibatch is one SGD step
# whatever the block; tests/test_block_steps.py) and the thread count.
NON_NUMERIC_KEYS = ("steps_per_execution", "threads")
# Settings that change what is measured, never the weights: the logged AUC's thresholds
# (the test AUC is scikit-learn's, exact) and the batch of the validation and test scoring
# (the validation loss only to float rounding). A saved state whose fingerprint differs in
# these is evaluated again instead of trained again.
EVALUATION_KEYS = ("auc_thresholds", "validation_batch_size")


def run_fingerprint(*, spec: DatasetSpec, manifest: dict, model: str, feature_set: str,
                    seed: int, settings: TrainingSettings, backend: str | None = None) -> dict:
    """Everything that changes a run's numbers: the data (each split's rows' sha256 from
    the manifest, or for a manifest written before it the shards' sha256; the split), the
    network, the seed, every numeric setting and the Keras backend (``backend``; None: the
    one this process runs, ``compute.backend``); for the dropout runs also the dropout layer
    (``reproduce.train.dropout.DROPOUT_LAYER``).

    The backend is there because the backends' generators differ: the same seed gives other
    initial weights, dropout masks and ``per_seed`` orders on JAX than on TensorFlow, so a
    state saved on one backend is never continued on the other."""
    from reproduce.train.dropout import DROPOUT_LAYER

    dropout = {"dropout_layer": DROPOUT_LAYER} if settings.dropout else {}
    return dropout | {
        "backend": backend or _keras_backend(),
        "dataset": spec.name,
        "splits": {k: v["range"] for k, v in manifest["splits"].items()},
        **data_content(manifest),
        "model": model, "feature_set": feature_set, "seed": int(seed),
        "settings": {k: v for k, v in dataclasses.asdict(settings).items()
                     if k not in NON_NUMERIC_KEYS},
    }


def _keras_backend() -> str:
    import keras

    return keras.backend.backend()


def data_content(manifest: dict) -> dict:
    """``{"rows_sha256": {split: sha256}}`` (the rows, in order, as the conversion hashed
    them), or ``{"shards_sha256": [...]}`` for a manifest without it."""
    splits = manifest["splits"]
    if all("rows_sha256" in split for split in splits.values()):
        return {"rows_sha256": {name: split["rows_sha256"] for name, split in splits.items()}}
    return {"shards_sha256": sorted(s["sha256"] for split in splits.values()
                                    for s in split["shards"])}


def fingerprint_sha256(fingerprint: dict) -> str:
    """The sha256 of the fingerprint's canonical JSON (``metrics.json``'s
    ``fingerprint_sha256``)."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()


def fingerprint_differences(saved: dict | None, current: dict) -> list[str]:
    """The keys (``settings.max_epochs``, ``shards_sha256`` ...) whose values differ. A saved
    fingerprint without ``backend`` was written before there was a choice: TensorFlow's."""
    saved = {"backend": "tensorflow"} | saved if saved else {}
    diff = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diff += [f"{key}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            diff.append(key)
    return diff


def resume_plan(saved: dict, fingerprint: dict, logged_losses: list[float], rule,
                settings: TrainingSettings) -> tuple[str, str]:
    """Decide what to do with a saved state: ("resume" | "serve" | "afresh", the reason).

    A state is resumed when its fingerprint equals the run's. When they differ only in
    the settings that decide when training stops (``STOPPING_KEYS``) or that only change
    the evaluation (``EVALUATION_KEYS``), the saved epochs are still this run's epochs: the
    run continues (or is found finished and evaluated again) if the new rule, replayed over
    the logged validation losses, would not have stopped before the last saved epoch. A
    ``max_epochs`` below the saved epochs is "serve": the saved weights are evaluated, and
    the run's record says they are of more epochs than the cap. Anything else is "afresh"
    (the caller sets the saved state aside).
    """
    diff = fingerprint_differences(saved.get("fingerprint"), fingerprint)
    if not diff:
        return "resume", "same settings and data"
    kept = STOPPING_KEYS + EVALUATION_KEYS
    same_epochs = all(k.startswith("settings.") and k.split(".", 1)[1] in kept for k in diff)
    if not same_epochs or settings.early_stopping_patience or settings.stop_on_threshold:
        return "afresh", ("the saved state was produced by other settings or data "
                          f"({', '.join(diff)} differ)")
    done = saved["epochs_completed"]
    if done > settings.max_epochs:
        return "serve", (f"the saved state has {done} epochs, more than max_epochs "
                         f"{settings.max_epochs}: its weights (after epoch {done}) are "
                         f"evaluated, not trained again")
    stop = rule.replay(logged_losses)
    if stop is not None and stop < done - 1:
        return "afresh", (f"the {settings.stopping} rule would have stopped after epoch "
                          f"{stop + 1}, but the saved state has {done} epochs")
    return "resume", f"only {', '.join(diff)} changed: continuing the saved epochs"


def keep_log_epochs(path: Path, epochs: int, state_dir: Path) -> list[dict]:
    """Cut the CSV log at ``path`` to the rows of epochs ``0 .. epochs-1`` (each once, in
    order) and return them; raise CorruptStateError naming both folders if one is missing."""
    log = read_log(path)
    by_epoch = {int(r["epoch"]): r for r in log.rows
                if r.get("epoch", "").isdigit() and int(r["epoch"]) < epochs}
    if sorted(by_epoch) != list(range(epochs)):
        missing = sorted(set(range(epochs)) - set(by_epoch))
        raise _log_gap(path, epochs, missing, state_dir)
    rows = [by_epoch[e] for e in range(epochs)]
    if rows:
        lines = [",".join(log.header)] + [",".join(r[k] for k in log.header) for r in rows]
        write_text_atomic(path, "\n".join(lines) + "\n")
    return rows


def _log_gap(path, epochs, missing, state_dir):
    from reproduce.train.callbacks import CorruptStateError

    return CorruptStateError(
        f"{path}: the saved training state has {epochs} epochs but the CSV log lacks "
        f"epoch(s) {', '.join(str(e + 1) for e in missing[:10])}. Delete "
        f"{state_dir} and {Path(path).parent} to start this run afresh.")
