import gzip
import hashlib
import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "higgs-sample.csv.gz"
# The file's own digest (an independent reference for the download tests); the registry's
# facts about the sample are checked against the file in tests/test_registry.py.
SAMPLE_SHA256 = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()


# pytest runs on four workers, each test file on one (pyproject's addopts: -n 4 --dist
# loadfile --no-loadscope-reorder: the files go out in this order). Four on two cores,
# because the SLURM and workflow tests spend much of their time waiting (CI used about 1.1
# of 2 cores with two workers, 1.67 with three, 1.71 with four: 30.9 and 29.9 min on the
# AMD EPYC VM, 2026-12-06, one run each). The slowest files start first, so that none is
# left for the end.
SLOWEST_FIRST = ["test_slurm.py", "test_report_workflow.py", "test_training_jax.py",
                 "test_packed_jax.py", "test_packed_tensorflow.py",
                 "test_packed_training.py", "test_workflow.py",
                 "test_training.py", "test_registry.py", "test_packed.py", "test_job_budget.py"]


def pytest_configure(config):
    """One folder of compiled programs (compute.compile_cache: auto) for the whole test
    run, shared by its workers and the processes they start, never the user's: the first
    training of each kind compiles, the later ones load (the numbers are the same bit for
    bit: tests/test_compile_cache.py)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:  # the controller, before the workers
        config._compile_cache = tempfile.mkdtemp(prefix="reproduce-tests-cache-")
        os.environ["XDG_CACHE_HOME"] = config._compile_cache


def pytest_unconfigure(config):
    if getattr(config, "_compile_cache", None):
        shutil.rmtree(config._compile_cache, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file is kept


@pytest.fixture(scope="session")
def sample_array():
    """The embedded sample parsed by numpy: an independent reference for the converter."""
    with gzip.open(SAMPLE, "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=np.float64).astype(np.float32)


@pytest.fixture(scope="session")
def sample_spec():
    from reproduce.datasets import get_dataset

    return get_dataset("HIGGS", {"source": "sample"})


@pytest.fixture(scope="session")
def sample_shards(tmp_path_factory, sample_spec):
    from reproduce.data.tfrecords import write_tfrecord_shards

    out = tmp_path_factory.mktemp("tfrecords")
    write_tfrecord_shards(SAMPLE, out, sample_spec, rows_per_shard=4000, rows_per_record=256)
    return out


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves files from ``server.files`` with Range support and scripted misbehaviour.

    ``server.behaviour[path]`` is a list consumed one request at a time; each entry is
    "ok", "cut:N" (send N bytes of the body, then drop the connection), "stall:S" (send
    200,000 bytes, then nothing for S seconds), "html",
    "500", "404", "norange" (ignore Range, send everything with 200) or "nolength:N" (no
    Content-Length header: send N bytes of the body, then close the connection).
    An entry starting "gzip-encoding" (alone, or followed by a space and one of the others)
    labels the file ``Content-Encoding: gzip`` and sends its bytes as they are, as a
    misconfigured server does for a ``.csv.gz``. ``server.accept_encodings`` records each
    request's Accept-Encoding header.
    """

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        server.accept_encodings.append(self.headers.get("Accept-Encoding"))
        plan = server.behaviour.get(self.path, [])
        action = plan.pop(0) if plan else "ok"
        encoded = action.startswith("gzip-encoding")
        if encoded:
            action = action[len("gzip-encoding"):].strip() or "ok"
        if action in ("500", "404"):
            self.send_error(int(action))
            return
        if action == "html":
            body = b"<!DOCTYPE html><html><body>Service unavailable</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and action != "norange":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        if encoded:
            self.send_header("Content-Encoding", "gzip")
        if action.startswith("nolength:"):  # HTTP/1.0: the body ends where the connection does
            self.end_headers()
            self.wfile.write(body[:int(action[9:])])
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if action.startswith("stall:"):  # send part of the body, then go silent
            self.wfile.write(body[:200_000])
            self.wfile.flush()
            import time

            time.sleep(float(action[6:]))
            return
        if action.startswith("cut:"):
            self.wfile.write(body[:int(action[4:])])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1 (Range requests, cut connections, HTML, 5xx)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.files, server.behaviour, server.requests = {}, {}, []
    server.accept_encodings = []
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def workflow_copy(tmp_path):
    """A copy of the workflow (Snakefile, workflow/, config, data) in a temporary folder."""
    return make_workflow_copy(tmp_path)


def make_workflow_copy(folder: Path) -> Path:
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, folder / name)
    for name in ("workflow", "data", "profiles"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, folder / name)
    return folder


def run_snakemake(workdir, *args, check=True, pythonpath=None):
    """``snakemake *args`` in ``workdir``; ``pythonpath``: a folder whose ``reproduce``
    package is imported instead of the checkout's (an installed copy)."""
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(pythonpath)) if pythonpath else None
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir,
                          capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}"
                             f"\n{proc.stderr[-4000:]}")
    return proc


def install_package(folder: Path) -> Path:
    """``pip install .`` of the package, not editable, into ``folder/site`` (from a copy of
    its sources, deleted afterwards, so nothing points back at the checkout)."""
    import subprocess
    import sys

    source, site = folder / "source", folder / "site"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):  # pyproject's license-files
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "reproduce", source / "reproduce",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(source)],
                   check=True, capture_output=True)
    shutil.rmtree(source)
    return site


@pytest.fixture(scope="session")
def local_smoke_run(tmp_path_factory):
    """The smoke preset run locally once per session (shared by the workflow tests), by
    the package installed like a library (``install_package``: not the checkout, not
    editable) from a copy of the workflow that holds no package. Its ``site`` folder is
    ``<run>/../install/site``. Under pytest-xdist the workers share one run: the first to
    need it makes it (under a file lock) in the session's common temporary folder."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the folder of every worker's basetemp
    root, done = base / "smoke-local", base / "smoke-local.done"
    with open(base / "smoke-local.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)  # a worker's failed attempt
            site = install_package(root / "install")
            folder = root / "work"
            folder.mkdir()
            make_workflow_copy(folder)
            run_snakemake(folder, "--cores", "2", "--config", "preset=smoke",
                          pythonpath=site)
            done.touch()
    return root / "work"
