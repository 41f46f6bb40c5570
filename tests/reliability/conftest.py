"""Shared pieces of the reliability suite: the real sample, small CSV files, real processes.

Every test in this folder injects one real fault (a cut connection, a killed process, a bad
line in a real gzip file, ...) into the real code path and checks what the package does.
The HTTP server (``http_server``) and the workflow helpers come from ``tests/conftest.py``
(this folder is a package, so its ``conftest`` does not shadow that one).
"""

import dataclasses
import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class Sample:
    """The embedded real HIGGS sample: path, bytes, sha256, its text lines."""

    path: Path
    data: bytes
    sha256: str
    lines: tuple


@pytest.fixture(scope="session")
def sample():
    """The embedded HIGGS sample, independently hashed with hashlib."""
    import hashlib

    path = REPO / "data" / "higgs-sample.csv.gz"
    data = path.read_bytes()
    lines = tuple(gzip.decompress(data).decode().splitlines())
    return Sample(path, data, hashlib.sha256(data).hexdigest(), lines)


@pytest.fixture
def write_csv_gz():
    """``write(path, lines, newline="\\n", members=1)``: a real gzip file of CSV lines, in
    ``members`` concatenated gzip members."""

    def write(path, lines, newline="\n", members=1):
        text = [line + newline for line in lines]
        step = -(-len(text) // members)
        with open(path, "wb") as out:
            for start in range(0, len(text), step):
                out.write(gzip.compress("".join(text[start:start + step]).encode()))
        return Path(path)

    return write


@pytest.fixture
def higgs_spec():
    """``spec(rows, splits)``: the HIGGS layout with ``rows`` rows and the given splits
    (default: 10 / 5 / rest)."""
    from reproduce.datasets import get_dataset

    def spec(rows=20, splits=None):
        splits = splits or {"train": [0, 10], "valid": [10, 15], "test": [15, rows]}
        return get_dataset("HIGGS", {"rows": rows, "splits": splits})

    return spec


@pytest.fixture
def spawn():
    """``spawn(args, cwd=None)``: a real process in its own process group (stdout and stderr
    piped together); every one still alive at the end of the test is SIGKILLed."""
    children = []

    def start(args, cwd=None):
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        children.append(proc)
        return proc

    yield start
    for proc in children:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def python_child(spawn):
    """``start(code)``: ``code`` run by a real Python process (see ``spawn``)."""
    return lambda code, cwd=None: spawn([sys.executable, "-c", code], cwd=cwd)


@pytest.fixture
def sigkill_when():
    """``sigkill_when(proc, condition, timeout=60)``: poll ``condition()`` until it holds,
    then SIGKILL ``proc``'s whole process group (as the OOM killer or a node failure would)."""

    def kill(proc, condition, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not condition():
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                raise AssertionError(f"the process ended before the fault:\n{out[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("the condition for the SIGKILL never held")
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL

    return kill


@pytest.fixture
def no_proxy(monkeypatch):
    """No HTTP proxy from the environment: host names are looked up by this machine."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
