"""compute.compile_cache: a training job on the CPU loads the programs an earlier job of its
kind compiled (reproduce.train.compile_cache).

The reference for a loaded program is the compile it replaces: a run in a process with an
empty cache against the same run in a process that loaded every program, on each backend,
log and weights bit for bit. Then the ways a cache goes bad: a damaged entry, a folder that
cannot be written, another CPU.
"""

import csv
import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from reproduce.train import compile_cache
from reproduce.train.compile_cache import (SIDECAR, CompileCache, cache_root, machine_key,
                                           use_compile_cache)

from test_backend_jax import backend_script, finished, needs_jax
from test_training_jax import saved_weights

HERE = Path(__file__).parent
SETTINGS = {"model": "shallow", "width": 16, "max_epochs": 3, "momentum_saturation_epochs": 2,
            "steps_per_execution": 30, "train_monitor_rows": 1000, "threads": 1,
            "standardize": "zscore"}


def train(backend, shards, run_dir, cache_home, monkeypatch) -> str:
    """``tests/train_once.py`` in a fresh process on ``backend`` with the user's cache
    folder ``cache_home``; its stderr."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    proc = backend_script(backend, HERE / "train_once.py", shards, run_dir, json.dumps(SETTINGS))
    finished(proc)
    return proc.stderr.read().decode()


def numbers(run_dir):
    """The run's log without its wall times, and its final weights."""
    with open(Path(run_dir) / "log.csv") as f:
        log = [{k: v for k, v in row.items() if k != "wall_time"} for row in csv.DictReader(f)]
    return log, saved_weights(run_dir)


def entries(cache_home):
    """{entry name: bytes} of every shared entry under ``cache_home``."""
    return {p.name: p.read_bytes() for p in (Path(cache_home) / "reproduce-higgs").rglob("*")
            if p.is_file() and not p.name.endswith(SIDECAR)}


def assert_same_numbers(a, b):
    log_a, weights_a = numbers(a)
    log_b, weights_b = numbers(b)
    assert log_a == log_b
    assert all(np.array_equal(x, y) for x, y in zip(weights_a, weights_b, strict=True))


@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=needs_jax)])
def test_loaded_programs_give_the_numbers_of_a_compile(backend, sample_shards, tmp_path,
                                                        monkeypatch):
    home = tmp_path / "cache"
    train(backend, sample_shards, tmp_path / "compiled", home, monkeypatch)
    kept = entries(home)
    assert kept, "the first job kept none of its programs"
    folder = next(Path(home).rglob(f"*{SIDECAR}")).parent
    assert folder.parent.name == machine_key(backend)
    assert folder.name == "tests-train_once"
    log = train(backend, sample_shards, tmp_path / "loaded", home, monkeypatch)
    assert f"{len(kept)} compiled programs loaded" in log
    assert entries(home) == kept, "the second job compiled a program again"
    assert_same_numbers(tmp_path / "compiled", tmp_path / "loaded")


def test_a_damaged_entry_is_compiled_again(sample_shards, tmp_path, monkeypatch):
    home = tmp_path / "cache"
    train("tensorflow", sample_shards, tmp_path / "first", home, monkeypatch)
    kept = entries(home)
    damaged = sorted((home / "reproduce-higgs").rglob("*.pb"))[0]
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    log = train("tensorflow", sample_shards, tmp_path / "second", home, monkeypatch)
    assert "is damaged" in log and damaged.name in log
    assert f"{len(kept) - 1} compiled programs loaded" in log
    # replaced by its compile (a compile's bytes need not repeat: its numbers do)
    assert entries(home).keys() == kept.keys()
    assert hashlib.sha256(damaged.read_bytes()).hexdigest() == Path(
        f"{damaged}{SIDECAR}").read_text(), "the damaged entry was not replaced"
    assert_same_numbers(tmp_path / "first", tmp_path / "second")


def test_a_cache_that_cannot_be_written_costs_nothing_but_the_compile(tmp_path, caplog):
    shared, private = tmp_path / "shared", tmp_path / "private"
    private.mkdir()
    (private / "program").write_bytes(b"compiled")
    shared.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING):
        assert CompileCache(shared / "kind", private).publish() == 0
    assert "not written" in caplog.text
    assert not private.exists()


def test_publish_keeps_only_what_the_job_compiled(tmp_path):
    shared, private = tmp_path / "shared", tmp_path / "private"
    shared.mkdir()
    private.mkdir()
    (shared / "old").write_bytes(b"old program")
    (shared / f"old{SIDECAR}").write_text(
        "6b56f3ac1c1c4d9d06b38fa3c5ee9c0e1d9c4b67a7f0a0a8c21d1b7e7b0bfe34")  # not its sha256
    (shared / "good").write_bytes(b"good program")
    (shared / f"good{SIDECAR}").write_text(hashlib.sha256(b"good program").hexdigest())
    (shared / "unrecorded").write_bytes(b"written by a job that was killed")
    cache = CompileCache(shared, private)
    assert cache.load() == 1
    assert sorted(p.name for p in private.iterdir()) == ["good"]
    (private / "new").write_bytes(b"new program")
    assert cache.publish() == 1
    assert (shared / "new").read_bytes() == b"new program"
    assert (shared / f"new{SIDECAR}").read_text() == hashlib.sha256(b"new program").hexdigest()
    assert (shared / "good").read_bytes() == b"good program"
    assert not any(p.name.startswith(".") for p in shared.iterdir()), "a temporary name left"
    assert cache.publish() == 0  # once: at the job's end


def test_another_cpu_gets_another_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("processor\t: 0\nmodel name\t: Example CPU\nflags\t\t: fpu sse2 avx2\n"
                 "processor\t: 1\nmodel name\t: Example CPU\nflags\t\t: fpu sse2 avx2\n")
    b.write_text("processor\t: 0\nmodel name\t: Example CPU\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert machine_key("tensorflow", a) != machine_key("tensorflow", b)
    assert machine_key("tensorflow", a) != machine_key("jax", a)
    c = tmp_path / "c"
    c.write_text("processor\t: 0\nmodel name\t: Example CPU\nflags\t\t: avx2 fpu sse2\n")
    assert machine_key("tensorflow", a) == machine_key("tensorflow", c)  # the same flags


def test_settings_and_where_the_backend_is_pointed(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root("auto") == tmp_path / "reproduce-higgs" / "compiled"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root("auto") == Path.home() / ".cache" / "reproduce-higgs" / "compiled"
    with pytest.raises(ValueError, match="compute.compile_cache"):
        cache_root("")
    environ = {"TF_XLA_FLAGS": "--tf_xla_persistent_cache_directory=/old --tf_xla_auto_jit=0"}
    assert use_compile_cache("auto", "tensorflow", "k", on_cpu=False, environ=environ) is None
    assert use_compile_cache("none", "tensorflow", "k", on_cpu=True, environ=environ) is None
    assert environ["TF_XLA_FLAGS"].startswith("--tf_xla_persistent_cache_directory=/old")
    cache = use_compile_cache(str(tmp_path / "c"), "tensorflow", "HIGGS/deep low", on_cpu=True,
                              environ=environ)
    try:
        assert cache.shared == tmp_path / "c" / machine_key("tensorflow") / "HIGGS_deep_low"
        assert environ["TF_XLA_FLAGS"] == (
            f"--tf_xla_auto_jit=0 --tf_xla_persistent_cache_directory={cache.private}")
        jax_env = {}
        compile_cache._point_backend_at("jax", cache.private, jax_env)
        assert jax_env["JAX_COMPILATION_CACHE_DIR"] == str(cache.private)
        assert jax_env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    finally:
        cache.publish()
    assert not os.path.exists(cache.private)
