"""The compiled programs of a training job kept for the next job of the same kind
(``compute.compile_cache``), on the CPU.

Every training job is a fresh process that compiles its programs with XLA (the block of
minibatches, the evaluations): about 3 to 4 seconds of a job on a 2-core CPU, a third of a
demo-sized run. The runs of one (data set, network, feature set) differ only in their seed,
so they compile the same programs; the backends can keep them on disk (TensorFlow's
``--tf_xla_persistent_cache_directory``, JAX's ``jax_compilation_cache_dir``) and load them
instead of compiling. A loaded program is the program a compile gives, and the numbers are
the same bit for bit (tests/test_compile_cache.py).

Neither backend's own folder is safe to share between jobs as it is: TensorFlow writes an
entry in place, so a job killed while writing leaves a cut entry, and TensorFlow stops
every later job that reads it rather than compiling again. So each job gets a private
folder in the system's temporary folder, filled with the shared entries whose sha256
matches the one recorded beside them; at the job's end the entries it compiled are put into
the shared folder, each written under a temporary name and renamed into place (an entry
appears whole or not at all). A damaged entry is skipped and compiled again; a cache that
cannot be read or written costs the compile time, never the job.

The shared folder is one per machine kind: the backend's compiler and its version, the
CPU's architecture, model and instruction-set flags (a program compiled for one CPU may not
run on another: a cluster's nodes can differ). Only jobs that train on the CPU use it; on a
GPU the compile is a small part of a job.

On TensorFlow an entry's key holds the traced function's number in its process, which every
epoch moves on: a program first traced after the epochs (the test scores' ``predict``) is
found only by a job that trained as many epochs, and in a process that trains several runs
one after another (tests/train_pack_once.py) a run's programs only by a process whose
earlier runs stopped where its did. A job of the workflow trains one run, or one pack, and
traces the rest before its first epoch; JAX's keys are the programs themselves.

    <root>/<backend>-<compiler version>-<machine>-<cpu hash>/<job kind>/<entry>
                                                                        <entry>.sha256
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import platform
import re
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from reproduce.train.device import cpuinfo_fields, model_name

LOG = logging.getLogger(__name__)

SETTINGS = {
    "auto": "$XDG_CACHE_HOME/reproduce-higgs/compiled (~/.cache/reproduce-higgs/compiled)",
    "none": "compile every program in every job",
}
CONFIG_KEY = "compute.compile_cache"
# the package whose compiler makes a backend's programs
COMPILERS = {"tensorflow": "tensorflow", "jax": "jaxlib"}
SIDECAR = ".sha256"


def cache_root(setting) -> Path | None:
    """The shared folder of ``compute.compile_cache``: ``auto`` (the user's cache folder),
    ``none`` (None: no cache) or a folder.

    Example:

    >>> cache_root("none") is None
    True
    >>> str(cache_root("/scratch/me/compiled"))
    '/scratch/me/compiled'
    """
    if setting is None or setting == "none":
        return None
    if setting == "auto":
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "reproduce-higgs" / "compiled"
    if not isinstance(setting, str) or not setting.strip():
        raise ValueError(f"{CONFIG_KEY}: expected auto, none or a folder, got {setting!r}")
    return Path(setting).expanduser()


def _cpu_description(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model and instruction-set flags (x86 ``flags``, Arm ``Features`` and
    ``CPU part``), each flag list sorted."""
    fields = cpuinfo_fields(cpuinfo)
    wanted = {key: " ".join(sorted(fields[key].split()))
              for key in ("flags", "Features", "CPU part") if key in fields}
    wanted["model name"] = model_name(fields)
    return "\n".join(f"{k}: {v}" for k, v in sorted(wanted.items()))


def machine_key(backend: str, cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The name of the shared folder for ``backend`` on this machine kind.

    Example (the hash is of the CPU's model and flags):

    >>> import re
    >>> bool(re.fullmatch(r"tensorflow-[0-9][^-]*-[^-]+-[0-9a-f]{12}", machine_key("tensorflow")))
    True
    """
    package = COMPILERS[backend]
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        version = "unknown"
    cpu = hashlib.sha256(_cpu_description(cpuinfo).encode()).hexdigest()[:12]
    return f"{backend}-{version}-{platform.machine() or 'unknown'}-{cpu}"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_whole(path: Path, data: bytes) -> None:
    """``data`` at ``path``, written under a temporary name and renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class CompileCache:
    """A job's private folder of compiled programs, filled from the shared folder of its
    kind; ``publish`` puts what the job compiled there (registered to run at exit)."""

    def __init__(self, shared: Path, private: Path):
        self.shared, self.private = Path(shared), Path(private)
        self.loaded: set[str] = set()
        self.published = False

    def load(self) -> int:
        """Copy every shared entry whose sha256 matches its record into the private folder;
        return how many."""
        try:
            records = sorted(self.shared.glob(f"*{SIDECAR}"))
        except OSError as exc:
            LOG.warning("compile cache %s not read: %s", self.shared, exc)
            return 0
        for record in records:
            entry = record.with_name(record.name[: -len(SIDECAR)])
            try:
                data, expected = entry.read_bytes(), record.read_text().strip()
            except OSError:
                continue
            if _digest(data) != expected:
                LOG.warning("compile cache: %s is damaged (its sha256 is not the one "
                            "recorded); compiling it again", entry)
                continue
            try:
                (self.private / entry.name).write_bytes(data)
            except OSError as exc:
                LOG.warning("compile cache: %s not loaded: %s", entry, exc)
                break
            self.loaded.add(entry.name)
        return len(self.loaded)

    def publish(self) -> int:
        """Put the entries compiled in this job into the shared folder; return how many.
        Never raises: a cache that cannot be written costs the next job its compile."""
        if self.published:
            return 0
        self.published = True
        count = 0
        try:
            # JAX's "-atime" files record accesses, for its own eviction, unused here
            new = [p for p in sorted(self.private.iterdir())
                   if p.is_file() and p.name not in self.loaded
                   and not p.name.startswith(".") and not p.name.endswith("-atime")]
            if new:
                self.shared.mkdir(parents=True, exist_ok=True)
            for path in new:
                data = path.read_bytes()
                _write_whole(self.shared / path.name, data)
                _write_whole(self.shared / f"{path.name}{SIDECAR}", _digest(data).encode())
                count += 1
        except OSError as exc:
            LOG.warning("compile cache %s not written: %s", self.shared, exc)
        finally:
            shutil.rmtree(self.private, ignore_errors=True)
        if count:
            LOG.info("compile cache: %d compiled programs kept in %s", count, self.shared)
        return count


def _point_backend_at(backend: str, folder: Path, environ) -> None:
    """Tell ``backend`` to load and keep its programs in ``folder``: before it has compiled
    anything (TensorFlow reads its XLA flags at its first compile, JAX its environment when
    imported, its config after)."""
    if backend == "tensorflow":
        flags = environ.get("TF_XLA_FLAGS", "")
        flags = re.sub(r"--tf_xla_persistent_cache_directory=\S*", "", flags).strip()
        environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={folder}".strip()
        return
    # Keras's programs compile in well under JAX's default threshold of one second
    values = {"jax_compilation_cache_dir": str(folder),
              "jax_persistent_cache_min_compile_time_secs": 0,
              "jax_persistent_cache_min_entry_size_bytes": 0,
              # else XLA's own caches go into the (per-job) folder, and into the programs' keys
              "jax_persistent_cache_enable_xla_caches": "none"}
    for name, value in values.items():
        environ[name.upper()] = str(value)
    if environ is os.environ and "jax" in sys.modules:
        for name, value in values.items():
            sys.modules["jax"].config.update(name, value)


def trains_on_cpu(device: str, gpus) -> bool:
    """Whether a job of ``compute.device`` and ``compute.gpus`` trains on the CPU: the CPU
    is intended, or there is no GPU to give it."""
    from reproduce.train.gpu_slots import count_gpus

    return device == "cpu" or count_gpus(gpus) == 0


def use_compile_cache(setting, backend: str, kind: str, *, on_cpu: bool,
                      environ=None) -> CompileCache | None:
    """Give this job the compiled programs of earlier jobs of its ``kind``; call it before
    the backend has compiled anything (in the job's script, before Keras is imported).

    Args:
        setting: ``compute.compile_cache`` (auto, none or a folder).
        backend: ``compute.backend``.
        kind: what the job trains, e.g. ``HIGGS-shallow-low`` (runs that differ only in
            their seed compile the same programs).
        on_cpu: whether the job trains on the CPU (only such jobs use the cache).
        environ: the environment to set (``os.environ``).

    Returns:
        The job's cache, whose ``publish`` runs at exit, or None when none is used.
    """
    environ = os.environ if environ is None else environ
    root = cache_root(setting)
    if root is None or not on_cpu:
        return None
    safe_kind = re.sub(r"[^A-Za-z0-9_.+-]+", "_", kind).strip("._") or "job"
    try:
        private = Path(tempfile.mkdtemp(prefix="reproduce-compiled-"))
    except OSError as exc:
        LOG.warning("compile cache not used: no temporary folder (%s)", exc)
        return None
    cache = CompileCache(root / machine_key(backend) / safe_kind, private)
    loaded = cache.load()
    _point_backend_at(backend, cache.private, environ)
    LOG.info("compile cache: %d compiled programs loaded from %s", loaded, cache.shared)
    atexit.register(cache.publish)
    return cache


def start_training_backend(compute: dict, kind: str) -> str:
    """The start of a training job's script, before Keras is imported: Keras's backend set to
    ``compute.backend``, and, on the CPU, the compiled programs of earlier jobs of ``kind``
    loaded (``compute.compile_cache``).

    Args:
        compute: the config's ``compute`` section (``backend``, ``compile_cache``,
            ``device``, ``gpus``).
        kind: what the job trains (``use_compile_cache``).

    Returns:
        The backend's name.
    """
    from reproduce.backend import select_backend

    backend = select_backend(compute["backend"])
    use_compile_cache(compute["compile_cache"], backend, kind,
                      on_cpu=trains_on_cpu(compute["device"], compute["gpus"]))
    return backend
