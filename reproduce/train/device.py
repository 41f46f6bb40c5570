"""Which device a training job runs on, and the stop when it was given a GPU it cannot see.

``device_record`` is what a run's ``metrics.json`` records under ``device``: the CPU's model
(from ``/proc/cpuinfo``) and the threads the run used, or the GPU's name, the NVIDIA driver
and the CUDA version the backend was built with, and the Keras backend. ``device_summary``
writes it as one line (the status table, the report). ``check_gpu_request`` stops a job that
was given a GPU (``compute.device: auto``: the rule's ``gpu`` resource under SLURM, or a
``CUDA_VISIBLE_DEVICES`` naming a device) when the backend sees none, which is what a
CPU-only TensorFlow on a GPU node does, silently, without it.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

DEVICE_SETTINGS = {
    "auto": "a job given a GPU (SLURM's gpu resource, CUDA_VISIBLE_DEVICES) must see it; "
            "otherwise the CPU",
    "cpu": "train on the CPU: GPUs are hidden from the training, none is required",
    "gpu": "every training must see a GPU, or it stops",
}
CONFIG_KEY = "compute.device"
INSTALL_GPU = 'pip install -e ".[gpu]"'
CHECK_GPU = ("python -c \"import tensorflow as tf; "
             "print(tf.config.list_physical_devices('GPU'))\"")
INSTALL_JAX_GPU = 'pip install -e ".[jax-gpu]"'
CHECK_JAX_GPU = "python -c \"import jax; print(jax.devices('gpu'))\""
# per compute.backend: (what to install, the install line, the check line)
GPU_BUILDS = {"tensorflow": ("the GPU build of TensorFlow", INSTALL_GPU, CHECK_GPU),
              "jax": ("JAX with CUDA (compute.backend is jax)", INSTALL_JAX_GPU, CHECK_JAX_GPU)}


class GPUNotVisible(RuntimeError):
    """The job was given a GPU, or ``compute.device: gpu`` asks for one, and the backend
    sees none."""


def cpuinfo_fields(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, str]:
    """The fields of ``cpuinfo``'s first processor (Linux; empty elsewhere or unreadable):
    ``model name``, ``flags`` (x86), ``Features`` and ``CPU part`` (Arm), ...

    Example:

    >>> import tempfile, pathlib
    >>> info = pathlib.Path(tempfile.mkdtemp()) / "cpuinfo"
    >>> _ = info.write_text("processor\\t: 0\\nflags\\t: fpu sse2\\nprocessor\\t: 1\\nflags\\t: x\\n")
    >>> cpuinfo_fields(info)["flags"]
    'fpu sse2'
    """
    fields: dict[str, str] = {}
    try:
        lines = Path(cpuinfo).read_text(errors="replace").splitlines()
    except OSError:
        return fields
    for line in lines:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key and value and key not in fields:
            fields[key] = value
    return fields


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name: the first ``model name`` of ``cpuinfo``, else the platform's.

    Example:

    >>> import tempfile, pathlib
    >>> info = pathlib.Path(tempfile.mkdtemp()) / "cpuinfo"
    >>> _ = info.write_text("processor\\t: 0\\nmodel name\\t: Example CPU @ 2.00GHz\\n")
    >>> cpu_model(info)
    'Example CPU @ 2.00GHz'
    """
    return model_name(cpuinfo_fields(cpuinfo))


def model_name(fields: dict[str, str]) -> str:
    """The ``model name`` of ``cpuinfo_fields``'s ``fields``, else the platform's.

    >>> model_name({"model name": "Example CPU"})
    'Example CPU'
    """
    return fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"


def gpu_requested(gpu_resource: int, environ=None) -> bool:
    """Whether this job was given a GPU: a ``gpu`` resource above 0 in a SLURM job
    (``SLURM_JOB_ID`` set), or ``CUDA_VISIBLE_DEVICES`` naming a device (not empty, not -1).

    Example:

    >>> gpu_requested(0, {"CUDA_VISIBLE_DEVICES": "0"})
    True
    >>> gpu_requested(1, {})  # locally the gpu resource only counts slots
    False
    >>> gpu_requested(1, {"SLURM_JOB_ID": "42"}), gpu_requested(0, {"CUDA_VISIBLE_DEVICES": ""})
    (True, False)
    """
    environ = os.environ if environ is None else environ
    if gpu_resource > 0 and environ.get("SLURM_JOB_ID"):
        return True
    visible = [d.strip() for d in environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    return any(d and not d.startswith("-") for d in visible)


def gpu_missing_message(reason: str, backend: str = "tensorflow") -> str:
    """What a job that cannot see its GPU says: why, how to install the GPU build of its
    Keras ``backend``, how to check it, and the key that says CPU is intended."""
    what, install, check = GPU_BUILDS[backend]
    return (f"{reason}, but the Keras backend ({backend}) sees no GPU: this training would "
            f"run on the CPU. Install {what} in the environment the jobs run in:\n"
            f"    {install}\n"
            f"then check, on a GPU node, that it lists the GPU:\n"
            f"    {check}\n"
            f"If the CPU is intended, set {CONFIG_KEY}: cpu (config.yaml, or "
            f"--config compute='{{device: cpu}}').")


def check_gpu_request(setting: str, gpu_resource: int, visible_gpus, environ=None,
                      backend: str = "tensorflow") -> None:
    """Raise GPUNotVisible when a GPU is required here and ``visible_gpus()`` finds none.

    Args:
        setting: ``compute.device`` (a key of ``DEVICE_SETTINGS``).
        gpu_resource: the rule's ``gpu`` resource.
        visible_gpus: called (importing the backend) only when a GPU is required.
        environ: the environment (default ``os.environ``).
        backend: ``compute.backend``, whose GPU build the message says to install.
    """
    if setting not in DEVICE_SETTINGS:
        raise ValueError(f"{CONFIG_KEY}: expected one of {', '.join(DEVICE_SETTINGS)}, "
                         f"got {setting!r}")
    environ = os.environ if environ is None else environ
    if setting == "cpu":
        return
    if setting == "gpu":
        reason = f"{CONFIG_KEY} is gpu"
    elif gpu_requested(gpu_resource, environ):
        reason = (f"this job was given a GPU (CUDA_VISIBLE_DEVICES="
                  f"{environ.get('CUDA_VISIBLE_DEVICES', '')!r}, SLURM job "
                  f"{environ.get('SLURM_JOB_ID', '-')})")
    else:
        return
    if not visible_gpus():
        raise GPUNotVisible(gpu_missing_message(reason, backend))


def hide_gpus(environ=None) -> None:
    """Hide every GPU from CUDA in this process (``compute.device: cpu``); call it before
    the backend starts. JAX is also told to start on the CPU only (``JAX_PLATFORMS``, and
    its config where JAX is already imported): a ``JAX_PLATFORMS=cuda`` in the user's
    environment would otherwise stop the job at JAX's start instead of training on the CPU.
    """
    environ = os.environ if environ is None else environ
    environ["CUDA_VISIBLE_DEVICES"] = "-1"
    environ["JAX_PLATFORMS"] = "cpu"
    if environ is os.environ and "jax" in sys.modules:  # imported, its backend not started
        sys.modules["jax"].config.update("jax_platforms", "cpu")


def _nvidia_driver() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def _cuda_version(backend: str) -> str | None:
    """The CUDA the backend was built with (TensorFlow) or runs on (JAX: its GPU client's
    platform version, e.g. "cuda 12080"); None where it cannot say (a record, never an
    error)."""
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.sysconfig.get_build_info().get("cuda_version")
        import jax.extend.backend

        version = " ".join(str(jax.extend.backend.get_backend("gpu").platform_version).split())
        return version or None
    except (ImportError, RuntimeError, AttributeError):
        return None


def device_record(threads: int, backend: str | None = None) -> dict:
    """The ``device`` of a run's ``metrics.json``: ``kind`` ("cpu" or "gpu"), the CPU's
    ``cpu_model``, the ``threads`` it was given (0: the backend's choice) and the machine's
    ``cpu_count``; on a GPU its ``gpu`` name, ``driver`` and ``cuda``; the ``backend``."""
    from reproduce.backend import active_backend, visible_gpus

    backend = backend or active_backend() or os.environ.get("KERAS_BACKEND", "tensorflow")
    record = {"kind": "cpu", "cpu_model": cpu_model(), "threads": int(threads),
              "cpu_count": os.cpu_count(), "backend": backend}
    gpus = visible_gpus(backend)
    if gpus:
        record |= {"kind": "gpu", "gpu": gpus[0], "gpus_visible": len(gpus),
                   "driver": _nvidia_driver(), "cuda": _cuda_version(backend)}
    return record


def device_summary(record: dict | None) -> str:
    """One line for a ``device`` record (``"-"`` for a run that recorded none).

    Example:

    >>> device_summary({"kind": "cpu", "cpu_model": "Example CPU", "threads": 2,
    ...                 "backend": "tensorflow"})
    'CPU Example CPU, 2 threads (tensorflow)'
    >>> device_summary({"kind": "gpu", "gpu": "NVIDIA H200", "driver": "550.54",
    ...                 "cuda": "12.5", "backend": "tensorflow"})
    'GPU NVIDIA H200, driver 550.54, CUDA 12.5 (tensorflow)'
    """
    if not isinstance(record, dict) or "kind" not in record:
        return "-"
    backend = f" ({record['backend']})" if record.get("backend") else ""
    if record["kind"] == "gpu":
        parts = [f"GPU {record.get('gpu', '?')}"]
        parts += [f"driver {record['driver']}"] if record.get("driver") else []
        parts += [f"CUDA {record['cuda']}"] if record.get("cuda") else []
        return ", ".join(parts) + backend
    threads = record.get("threads") or "all"
    return f"CPU {record.get('cpu_model', '?')}, {threads} threads{backend}"
