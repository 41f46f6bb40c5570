"""One training per GPU: lock-file slots that pick a free GPU for a job.

Snakemake does not assign GPU ids to jobs (snakemake issue #281): with ``resources: gpu=1``
and ``--resources gpu=N`` it only limits how many GPU jobs run at once. Each training job
(one run, or one pack of runs: ``compute.pack``, the ``train_pack`` rule) therefore takes a
slot here: it locks ``<lock_dir>/gpu<i>.lock`` with ``flock`` for the first
free ``i`` and sets ``CUDA_VISIBLE_DEVICES`` to that GPU before TensorFlow starts. The kernel
releases the lock when the process ends, however it ends, so a crashed or killed job always
frees its slot. If every slot is taken the job waits for one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)


def count_gpus(setting="auto") -> int:
    """GPUs to share out: an int from the config, or ``auto``: the entries of an existing
    ``CUDA_VISIBLE_DEVICES``, else ``nvidia-smi -L`` (0 if there is none)."""
    if setting != "auto":
        return int(setting)
    visible = _visible_devices()
    if visible is not None:
        return len(visible)
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


@contextlib.contextmanager
def gpu_slot(n_gpus: int, lock_dir, poll: float = 1.0, timeout: float | None = None):
    """Hold a free GPU slot for the duration of the block; yield its id (None: no GPU).

    Args:
        n_gpus: number of GPUs on this machine (0: run on the CPU, yield None).
        lock_dir: folder of the lock files, shared by all jobs of the workflow.
        poll: seconds between attempts while every slot is taken.
        timeout: give up with TimeoutError after this many seconds (None: wait forever).
    """
    if n_gpus <= 0:
        yield None
        return
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    while True:
        for gpu in range(n_gpus):
            handle = open(lock_dir / f"gpu{gpu}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()}\n")
                handle.flush()
                yield gpu
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        if timeout is not None and time.monotonic() - start > timeout:
            raise TimeoutError(f"no free GPU slot among {n_gpus} in {lock_dir} "
                               f"after {timeout:.0f} s")
        time.sleep(poll)


def _visible_devices():
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    return [d for d in value.split(",") if d.strip()]


def pin_process_to_gpu(slot: int | None) -> None:
    """Make only the GPU of ``slot`` visible to CUDA in this process (call before TensorFlow
    is imported). Slot ``i`` is the i-th entry of an existing ``CUDA_VISIBLE_DEVICES``, else
    GPU ``i``."""
    if slot is None:
        log.info("no GPU slot: training on the CPU")
        return
    visible = _visible_devices()
    device = visible[slot] if visible else str(slot)
    os.environ["CUDA_VISIBLE_DEVICES"] = device
    log.info("GPU slot %d: CUDA_VISIBLE_DEVICES=%s", slot, device)
