"""A training longer than one job's time limit: stop after the last epoch that fits.

A cluster caps each job's runtime (``compute.max_job_minutes``). A training that needs
longer stops cleanly after the last epoch that fits in its job (the training state is saved
after every epoch), and its job exits non-zero with "continuing in the next job", so that
its outputs are not marked complete and Snakemake resubmits it (the rule's ``retries``);
the next job resumes from that epoch, with the weights an uninterrupted run would have.
The callback that stops the fit is ``reproduce.train.stop_before_job_ends``; this module
imports neither Keras nor TensorFlow (the workflow's rules read it when they are parsed).
"""

from __future__ import annotations

import math
import os
import subprocess
import time

RESERVE_FRACTION = 0.1  # of the job's time, kept for start-up, evaluation and saving
RESERVE_MAX_S = 600.0  # at most 10 minutes of it


class JobTimeLimitReached(Exception):
    """The training stopped before its end because the next epoch would not fit in the
    job's time; it continues in the next job."""

    def __init__(self, epochs: int):
        self.epochs = epochs
        super().__init__(f"stopped after epoch {epochs}: the next epoch would not fit in "
                         f"this job's time (compute.max_job_minutes); the state is saved, "
                         f"continuing in the next job")


def training_budget_s(max_job_minutes: float | None) -> float | None:
    """Seconds a job's training may run: the job's minutes less a reserve (10%, at most 10
    minutes) for start-up and the evaluation; None: no limit.

    Example:

    >>> training_budget_s(None), training_budget_s(1440), training_budget_s(1)
    (None, 85800.0, 54.0)
    """
    if max_job_minutes is None:
        return None
    total = float(max_job_minutes) * 60.0
    return total - min(RESERVE_FRACTION * total, RESERVE_MAX_S)


def parse_slurm_time(text: str) -> float | None:
    """Seconds of a SLURM duration ``[days-]hours:minutes:seconds`` (or ``minutes:seconds``,
    ``minutes``); None for ``UNLIMITED``, ``INVALID`` or anything else.

    Example:

    >>> parse_slurm_time("1-02:03:04"), parse_slurm_time("05:00"), parse_slurm_time("UNLIMITED")
    (93784.0, 300.0, None)
    """
    text = text.strip()
    days, _, clock = text.rpartition("-")
    try:
        parts = [float(p) for p in clock.split(":")]
        day_count = float(days) if days else 0.0
    except ValueError:
        return None
    if not 1 <= len(parts) <= 3:
        return None
    if len(parts) == 1:
        parts = [0.0, parts[0], 0.0]  # a bare number is minutes
    while len(parts) < 3:
        parts.insert(0, 0.0)
    hours, minutes, seconds = parts
    return day_count * 86400 + hours * 3600 + minutes * 60 + seconds


def slurm_seconds_left(environ=None) -> float | None:
    """Seconds until this SLURM job's time limit (``squeue -o %L``), None outside SLURM or
    when squeue does not say."""
    environ = os.environ if environ is None else environ
    job = environ.get("SLURM_JOB_ID")
    if not job:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%L"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_slurm_time(out.stdout) if out.returncode == 0 and out.stdout.strip() else None


def job_deadline(max_job_minutes: float | None, started: float, environ=None) -> float | None:
    """The ``time.monotonic()`` by which this job's training must end: ``started`` plus
    ``training_budget_s``, and, in a SLURM job, no later than its own time limit less the
    same reserve (the job started before this process: Snakemake's start-up counts); None
    without a cap."""
    budget = training_budget_s(max_job_minutes)
    if budget is None:
        return None
    deadline = started + budget
    left = slurm_seconds_left(environ)
    if left is not None:
        reserve = float(max_job_minutes) * 60.0 - budget
        deadline = min(deadline, time.monotonic() + left - reserve)
    return deadline


def jobs_needed(training_minutes: float, max_job_minutes: float | None) -> int:
    """Jobs a training of ``training_minutes`` spans under the cap (1 without one).

    Example:

    >>> jobs_needed(3000, 1440), jobs_needed(60, 1440), jobs_needed(3000, None)
    (3, 1, 1)
    """
    if max_job_minutes is None:
        return 1
    return max(1, math.ceil(training_minutes / training_budget_s(max_job_minutes) * 60))
