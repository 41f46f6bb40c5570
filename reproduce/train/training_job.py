"""What every training job of the workflow does around its training (the ``train`` and
``train_pack`` rules' scripts): the device it was given, its GPU slot, and how it ends.

``training_job`` hides the GPUs where the CPU is intended (``compute.device: cpu``), takes a
GPU slot and pins the process to it before the backend starts, stops when the job was given
a GPU its backend cannot see (``reproduce.train.device``), and turns the two planned stops
into the job's exit status: 1 for the GPU not seen, 3 for "continuing in the next job"
(``reproduce.train.job_budget``), each with one line on the terminal.
"""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def training_job(*, device: str, gpus, gpu_lock_dir, gpu_resource: int, backend: str, notify):
    """Run the body as one training job.

    Args:
        device: ``compute.device`` (auto, cpu or gpu).
        gpus: ``compute.gpus`` (auto or a count): the GPU slots to share out.
        gpu_lock_dir: the folder of the slots' lock files.
        gpu_resource: the GPUs the job's resources ask for (0 or 1).
        backend: ``compute.backend``, whose view of the GPUs is checked.
        notify: function writing one line for the user's terminal.
    """
    from reproduce.backend import visible_gpus
    from reproduce.train.device import GPUNotVisible, check_gpu_request, hide_gpus
    from reproduce.train.gpu_slots import count_gpus, gpu_slot, pin_process_to_gpu
    from reproduce.train.job_budget import JobTimeLimitReached

    if device == "cpu":
        hide_gpus()
    n_gpus = 0 if device == "cpu" else count_gpus(gpus)
    with gpu_slot(n_gpus, gpu_lock_dir) as slot:
        pin_process_to_gpu(slot)  # before the backend starts
        try:
            check_gpu_request(device, gpu_resource, lambda: visible_gpus(backend),
                              backend=backend)
            yield
        except GPUNotVisible as exc:
            print(f"error: {exc}", file=sys.stderr)
            notify(f"stopped: {exc}")
            sys.exit(1)
        except JobTimeLimitReached as exc:
            print(f"{exc}", file=sys.stderr)
            notify(str(exc))
            sys.exit(3)
