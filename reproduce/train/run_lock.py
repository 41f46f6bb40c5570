"""One training at a time per run folder: an exclusive lock held while a run writes there.

Two workflows that share one ``results`` folder (two working folders pointing at the same
absolute path) would otherwise train the same run at once, each overwriting the other's
state and log. ``run_lock`` takes an ``fcntl.flock`` on ``<run folder>/training.lock`` for
the whole training and writes its holder (pid, host, start time) into it; a second
training of the same run refuses at once, naming the folder and the holder. The lock is the
kernel's, so it goes with its process: a training killed with SIGKILL leaves no stale lock
(the file stays, unlocked). On NFS, Linux maps ``flock`` to the server's byte-range locks.

Example:

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with run_lock(folder / "training.lock"):
...     (folder / "training.lock").read_text().startswith("pid ")
True
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

LOCK_FILE = "training.lock"


class RunLockedError(RuntimeError):
    """Another process is training this run; the message names the folder and the holder."""


@contextlib.contextmanager
def run_lock(path):
    """Hold an exclusive lock on ``path`` (created if absent) for the ``with`` block.

    Raises:
        RunLockedError: another process holds it (the message names the run folder and
            the holder's pid and host, as it wrote them).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 1000, 0).decode(errors="replace").strip() or "holder unknown"
        os.close(fd)
        raise RunLockedError(
            f"{path.parent}: another training of this run is writing there ({holder}; "
            f"lock {path}). Two workflows share this results folder: let that one finish, "
            f"or give this workflow its own 'results' folder.") from None
    try:
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()} since {stamp}\n"
                  .encode(), 0)
        yield path
    finally:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
