"""Send a Snakemake job's Python logging, stdout and stderr (TensorFlow's too) to its log.

The terminal the job was started from keeps one channel: ``to_terminal`` writes a line
there (a finished training's summary), through a copy of the original stderr made before
the redirection. A job that fails with an exception also says so there: the exception's
message (which names the file, line or config key at fault) and the log that holds its
traceback. Snakemake's quiet terminal (``profiles/default``) prints no rule block with the
log's path, so without it a failed job would show only "CalledProcessError".
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

_terminal_fd: int | None = None  # a duplicate of the job's original stderr


def log_to_file(path) -> None:
    """Append everything the job prints, and INFO-level logging, to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    global _terminal_fd
    if _terminal_fd is None:
        _terminal_fd = os.dup(2)
        os.set_inheritable(_terminal_fd, False)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.excepthook = _failure_to_terminal(path)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


MAX_MESSAGE_CHARS = 4000


def failure_message(exc: BaseException, log_path) -> str:
    """The lines a failed job writes to the terminal: the exception and where its
    traceback is.

    >>> print(failure_message(ValueError("config key seeds: empty"), "logs/train/x.log"))
    error: ValueError: config key seeds: empty
      (the job's log, with the traceback: logs/train/x.log)
    """
    message = str(exc).strip() or "(no message)"
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + " [...]"
    return (f"error: {type(exc).__name__}: {message}\n"
            f"  (the job's log, with the traceback: {log_path})")


def _failure_to_terminal(log_path: Path):
    def hook(exc_type, exc, tb):
        sys.__excepthook__(exc_type, exc, tb)  # the traceback, to the log
        if _terminal_fd is not None and not issubclass(exc_type, KeyboardInterrupt):
            try:
                os.write(_terminal_fd, (failure_message(exc, log_path) + "\n").encode())
            except OSError:
                pass
    return hook


def to_terminal(line: str) -> None:
    """Write ``line`` to the terminal the job started from (its stderr before
    ``log_to_file``), and to the log; without ``log_to_file``, to stderr only."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    if _terminal_fd is not None:
        os.write(_terminal_fd, (line + "\n").encode())
