"""Where a long run stands, from its files alone: ``python -m reproduce status``.

Reads, for every run folder ``<results>/<dataset>/runs/<model>-<features>-seed<seed>/``, the
live CSV log (``progress/log.csv``, Keras's CSVLogger), the training state
(``state/state.json``, rewritten atomically after every epoch) and, once the run is done,
``metrics.json``. Nothing here locks, opens for writing or asks Snakemake: it works while
the jobs write (locally or on a cluster's shared file system) and never slows them. A line
still being appended, a state caught in its swap, a run with no epoch yet, or files of an
older or newer version of the package (with or without the ``stopping`` and ``finished``
keys) give a row that says so, never an error.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from reproduce.estimate import bdt_seconds, duration, makespan
from reproduce.layout import RUN_NAME, RunFiles, evaluation_file
from reproduce.model_registry import BDT
from reproduce.run_log import read_log
from reproduce.runs_plan import planned_runs
from reproduce.train.device import device_summary

RATE_WINDOW = 10  # epochs/hour from the wall time of the last (up to) 10 epochs
STALLED_AFTER = 3.0  # a run with no epoch for 3 epoch-times (and 10 min) may be dead


class NoResults(Exception):
    """The results folder does not exist."""


@dataclass
class RunStatus:
    """What the files of one run say."""

    dataset: str
    name: str
    model: str
    rows: list = field(default_factory=list)  # complete log lines, as dicts of floats
    state: dict | None = None
    metrics: dict | None = None
    notes: list = field(default_factory=list)
    log_age: float | None = None  # seconds since the log was last written
    evaluated: bool = False  # the evaluate rule's file exists

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    @property
    def epochs(self) -> int:
        """Epochs done: metrics.json's once finished, else the log's complete lines (the
        log is written just before the state, and it is what the row shows), else the state's."""
        if self.metrics and "epochs_trained" in self.metrics:
            return int(self.metrics["epochs_trained"])
        if self.rows or not self.state:
            return len(self.rows)
        return int(self.state.get("epochs_completed", 0))

    def epochs_per_hour(self) -> float | None:
        """From the log's ``wall_time`` (training time, across resumes), last epochs."""
        times = [r["wall_time"] for r in self.rows if math.isfinite(r.get("wall_time", math.nan))]
        if not times:
            return None
        k = min(RATE_WINDOW, len(times) - 1)
        if k == 0:
            return 3600.0 / times[0] if times[0] > 0 else None
        span = times[-1] - times[-1 - k]
        return 3600.0 * k / span if span > 0 else None

    def stopping(self) -> dict:
        return ((self.state or {}).get("callbacks") or {}).get("stopping") or {}


def read_rows(path: Path) -> tuple[list[dict], str | None]:
    """Complete rows of a CSV log being appended to, as dicts of floats: ``(rows, note)``.

    Read by :func:`reproduce.run_log.read_log`: a last line without its newline (being
    written) is left out, as is any row whose field count does not match the header (the
    note counts them); an empty or non-numeric value is NaN. A log that cannot be read gives
    no rows and a note, never an error.
    """
    try:
        log = read_log(path)
    except (OSError, UnicodeDecodeError) as exc:
        return [], f"log unreadable ({exc})"
    return log.floats(), f"{log.skipped} malformed log line(s) skipped" if log.skipped else None


def read_json(path: Path) -> tuple[dict | None, str | None]:
    """A JSON file that may be missing or (against the writers' atomic renames) partial."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path.parent.name}/{path.name} unreadable ({type(exc).__name__})"
    if not isinstance(data, dict):
        return None, f"{path.parent.name}/{path.name} is not a JSON object"
    return data, None


# The keys of metrics.json and state.json this table reads, by path, with their type; a
# value of another type (a file edited by hand, or of another version) is left out with a
# note, as if the key were missing. Parents come before their children.
METRICS_TYPES = {("epochs_trained",): int, ("stopping",): dict, ("stopping", "stopped_by"): str,
                 ("settings",): dict}
STATE_TYPES = {("epochs_completed",): int, ("callbacks",): dict,
               ("callbacks", "stopping"): dict, ("callbacks", "stopping", "summary"): str,
               ("callbacks", "stopping", "rule"): str}


def drop_mistyped(record: dict | None, types: dict, label: str) -> str | None:
    """Remove from ``record`` (in place) the values of ``types``' keys that have another
    type; return a note naming them and the file ``label``, or None.

    Example:

    >>> record = {"epochs_trained": "five", "stopping": {"stopped_by": "authors"}}
    >>> drop_mistyped(record, METRICS_TYPES, "run/metrics.json")
    'run/metrics.json: epochs_trained (str, expected int) ignored'
    >>> record
    {'stopping': {'stopped_by': 'authors'}}
    """
    wrong = []
    for path, kind in types.items():
        parent = record
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        value = parent[path[-1]]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            del parent[path[-1]]
            wrong.append(f"{'.'.join(path)} ({type(value).__name__}, expected {kind.__name__})")
    return f"{label}: {', '.join(wrong)} ignored" if wrong else None


def read_run(folder: Path, dataset: str) -> RunStatus:
    match = RUN_NAME.match(folder.name)
    run = RunStatus(dataset, folder.name, match.group("model") if match else folder.name)
    files = RunFiles.in_folder(folder)
    log = files.live_log
    if not log.exists():
        log = files.log
    run.rows, note = read_rows(log)
    if log.exists():
        try:
            run.log_age = time.time() - log.stat().st_mtime
        except OSError:
            pass
    # The state folder is swapped with renames after each epoch: in the gap, state.old holds it.
    for state_file in (files.state_file, files.swapped_state_file):
        run.state, state_note = read_json(state_file)
        if run.state is not None or state_note:
            break
    run.metrics, metrics_note = read_json(files.metrics)
    state_types = drop_mistyped(run.state, STATE_TYPES, "state/state.json")
    metrics_types = drop_mistyped(run.metrics, METRICS_TYPES, f"{folder.name}/metrics.json")
    if metrics_types:
        metrics_types += " (edited by hand? delete it: the workflow remakes it)"
    run.evaluated = evaluation_file(folder.parent.parent.parent, dataset, folder.name).exists()
    run.notes = [n for n in (note, state_note, metrics_note, state_types, metrics_types) if n]
    return run


def results_folders(root: Path) -> list[Path]:
    """The results folders under ``root`` that hold runs: ``root`` itself when it has
    ``<dataset>/runs/<run>/`` folders, and each folder below it that has (a preset's
    ``results/demo/``, ``results/smoke/``), sorted; ``[]`` when there are none."""
    def has_runs(folder: Path) -> bool:
        return any(p.is_dir() for p in folder.glob("*/runs/*"))

    if not root.is_dir():
        return []
    found = [root] if has_runs(root) else []
    return found + sorted(p for p in root.iterdir() if p.is_dir() and has_runs(p))


def scan(results: Path) -> list[RunStatus]:
    """Every run folder under ``results/<dataset>/runs/``, sorted by data set and name."""
    if not results.is_dir():
        raise NoResults(f"no results folder {results}/ (nothing has run yet, or pass "
                        f"--results DIR / the run's --config)")
    runs = []
    for folder in sorted(results.glob("*/runs/*")):
        if folder.is_dir():
            runs.append(read_run(folder, folder.parent.parent.name))
    return runs


def max_epochs_of(run: RunStatus, config: dict | None, finished: list[RunStatus]) -> int | None:
    """The cap of a run: the config given, or a finished run's settings."""
    if config:
        return int(config["training"]["max_epochs"])
    for other in finished:
        value = ((other.metrics or {}).get("settings") or {}).get("max_epochs")
        if isinstance(value, int):
            return value
    return None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def run_row(run: RunStatus, cap: int | None) -> tuple[list[str], float | None]:
    """The table row of ``run`` and its remaining seconds (None: unknown; 0: done)."""
    last = run.rows[-1] if run.rows else {}
    losses = [r.get("val_loss", math.nan) for r in run.rows]
    finite = [(v, i) for i, v in enumerate(losses) if math.isfinite(v)]
    best = min(finite)[1] + 1 if finite else None
    rate = run.epochs_per_hour()
    stop = run.stopping()
    if run.finished:
        how = (run.metrics.get("stopping") or {})
        stopped = how.get("stopped_by") or ("max_epochs" if not run.metrics.get("stopped_early")
                                            else "early stopping")
        auc = run.metrics.get("test_auc")
        what = (f"{'done' if run.evaluated else 'trained, not evaluated yet'}: {stopped}"
                + (f", test AUC {auc:.4f}" if isinstance(auc, float) else "")
                + f"; {device_summary(run.metrics.get('device'))}")
        remaining, eta = 0.0, "done"
    elif (run.state or {}).get("training_ended") or (run.state or {}).get("finished"):
        what, remaining, eta = "training done; scoring the test split", 0.0, "minutes"
    else:
        what = stop.get("summary") or (f"max_epochs {cap}" if cap else "max_epochs ?")
        if not run.rows:
            remaining, eta = None, "starting (no epoch logged yet)"
        elif cap is None or rate is None:
            remaining, eta = None, "?"
        else:
            remaining = max(cap - run.epochs, 0) / rate * 3600
            # only the authors' rule is sure to run to the cap; the others may stop sooner
            eta = ("" if stop.get("rule") == "authors" else "<= ") + duration(remaining)
            epoch_s = 3600 / rate
            if run.log_age is not None and run.log_age > max(STALLED_AFTER * epoch_s, 600):
                eta += f" (no epoch for {duration(run.log_age)}: stalled or killed?)"
    epoch = f"{run.epochs}/{cap}" if cap else str(run.epochs)
    row = [f"{run.dataset}/{run.name}", epoch, _fmt(last.get("learning_rate"), ".3g"),
           _fmt(last.get("momentum"), ".4f"), _fmt(last.get("val_loss"), ".5f"),
           _fmt(last.get("val_auc"), ".4f"), str(best) if best else "-", what,
           _fmt(rate, ",.1f"), eta]
    if run.notes:
        row[-1] += " [" + "; ".join(run.notes) + "]"
    return row, remaining


def table(rows: list[list[str]]) -> str:
    header = ["run", "epoch", "learning rate", "momentum", "val loss", "val AUC", "best epoch",
              "what will stop it", "epochs/hour", "ETA"]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                     for r in [header] + rows)


def status_command(results: Path, config: dict | None = None) -> str:
    """The status table of ``results`` and the workflow's ETA, as text.

    ``config`` (optional): the run's validated config, to count the runs not started yet
    and to know the epoch cap before any run has finished.
    """
    runs = scan(results)
    finished = [r for r in runs if r.finished]
    out = [f"# {results}/: {len(runs)} run folder(s), {len(finished)} finished"]
    rows, left = [], {}
    for run in runs:
        if run.model == BDT:
            continue
        try:
            row, left[run.name, run.dataset] = run_row(run, max_epochs_of(run, config, finished))
        except (TypeError, ValueError, AttributeError, KeyError) as exc:  # never an error
            row, left[run.name, run.dataset] = unreadable_row(run, exc), None
        rows.append(row)
    rows += [bdt_row(run) for run in runs if run.model == BDT]
    out += ["", table(rows)] if rows else ["No run has started yet."]
    unfinished = [r for r in runs if not r.finished]
    if config is None:
        return "\n".join(out + eta_without_config(unfinished, left))
    return "\n".join(out + eta_of_the_plan(runs, left, config))


def unreadable_row(run: RunStatus, exc: Exception) -> list[str]:
    """The row of a run whose files hold values this table cannot read."""
    return [f"{run.dataset}/{run.name}", str(len(run.rows)), "-", "-", "-",
            "-", "-", f"files not readable ({type(exc).__name__}: {exc}): check "
            f"{run.name}/metrics.json and state/state.json", "-", "?"]


def bdt_row(run: RunStatus) -> list[str]:
    """The table row of a BDT run: it writes no progress files, only its metrics at the end."""
    auc = (run.metrics or {}).get("test_auc")
    what = ((f"done, test AUC {auc:.4f}" if isinstance(auc, float) else "done")
            if run.finished else "BDT (no progress files: running or waiting)")
    return [f"{run.dataset}/{run.name}", "-", "-", "-", "-", "-", "-", what, "-",
            "done" if run.finished else "?"]


def eta_without_config(unfinished: list[RunStatus], left: dict) -> list[str]:
    """The lines after the table without a config: the runs in progress only."""
    known = [left[r.name, r.dataset] for r in unfinished
             if left.get((r.name, r.dataset)) is not None]
    out = ["", "Runs not started yet: unknown (pass the run's --configfile/--config to "
           "count them)."]
    if unfinished:
        out.append(f"The runs in progress with an ETA end in at most "
                   f"{duration(max(known)) if known else '?'}; "
                   f"{len(unfinished) - len(known)} without one; the workflow's ETA is "
                   f"unknown without the config.")
    return out


class _ExpectedSeconds:
    """Seconds a run without its own rate yet (or not started) takes: as long as the runs of
    its model timed so far (median seconds per epoch), to the cap; a BDT as estimated."""

    def __init__(self, networks: list[RunStatus], config: dict):
        self.config = config
        self.cap = int(config["training"]["max_epochs"])
        self.per_epoch: dict = {}
        for run in networks:
            if rate := run.epochs_per_hour():
                self.per_epoch.setdefault((run.dataset, run.model), []).append(3600 / rate)

    def __call__(self, dataset: str, name: str, epochs_done: int = 0) -> float | None:
        match = RUN_NAME.match(name)
        model = match.group("model") if match else name
        if model == BDT:
            return bdt_seconds(self.config, dataset)
        times = sorted(self.per_epoch.get((dataset, model), []))
        return max(self.cap - epochs_done, 0) * times[len(times) // 2] if times else None


def eta_of_the_plan(runs: list[RunStatus], left: dict, config: dict) -> list[str]:
    """The lines after the table with a config: the runs not started and the workflow's ETA."""
    expected = _ExpectedSeconds([r for r in runs if r.model != BDT], config)
    unfinished = [r for r in runs if not r.finished]
    present = {(r.dataset, r.name) for r in runs}
    planned = [(run.dataset, run.name) for run in planned_runs(config)]
    waiting = [p for p in planned if p not in present]
    pending = [left.get((r.name, r.dataset)) for r in unfinished]
    pending = [p if p is not None else expected(r.dataset, r.name, r.epochs)
               for p, r in zip(pending, unfinished)]
    pending += [expected(dataset, name) for dataset, name in waiting]
    unknown = sorted({RUN_NAME.match(n).group("model") for (d, n), p
                      in zip([(r.dataset, r.name) for r in unfinished] + waiting, pending)
                      if p is None and RUN_NAME.match(n)})
    slots = max(len(unfinished), 1)  # a run folder exists from the job's start
    span = duration(makespan([p for p in pending if p is not None], slots))
    out = ["", f"Runs not started yet: {len(waiting)} of {len(planned)} planned."]
    if unknown:
        out.append(f"Workflow ETA: unknown until a run of {', '.join(unknown)} has logged an "
                   f"epoch (the rest: up to {span} with {slots} run(s) at a time, as now).")
    else:
        out.append(f"Workflow ETA: at most {span} with {slots} run(s) at a time, as now "
                   f"(every network to the cap of {expected.cap} epochs, BDTs at the "
                   f"estimate's rate; the report not counted).")
    return out
