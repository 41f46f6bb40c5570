"""The device a run records, and the stop of a job given a GPU that its backend cannot see."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import make_workflow_copy
from reproduce.train.device import (CHECK_GPU, CHECK_JAX_GPU, DEVICE_SETTINGS, INSTALL_GPU,
                                    INSTALL_JAX_GPU, GPUNotVisible, check_gpu_request,
                                    gpu_requested)
from test_backend_jax import needs_jax

HERE = os.path.dirname(__file__)
RUN = "results/smoke/HIGGS/runs/shallow-high-seed1"


def lscpu_model() -> str | None:
    """The CPU's model as util-linux's lscpu reports it (an independent reader)."""
    if shutil.which("lscpu") is None:
        return None
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return None


def no_gpu():
    return []


@pytest.mark.parametrize("environ, resource, requested", [
    ({}, 1, False),                                  # local: the resource counts slots only
    ({"SLURM_JOB_ID": "7"}, 1, True),                # a SLURM job with gpu=1
    ({"SLURM_JOB_ID": "7"}, 0, False),               # a SLURM job without a GPU
    ({"CUDA_VISIBLE_DEVICES": "0"}, 0, True),
    ({"CUDA_VISIBLE_DEVICES": "GPU-5f1c,GPU-77ab"}, 0, True),
    ({"CUDA_VISIBLE_DEVICES": ""}, 1, False),
    ({"CUDA_VISIBLE_DEVICES": "-1"}, 1, False),
])
def test_gpu_requested(environ, resource, requested):
    assert gpu_requested(resource, environ) is requested


def test_check_gpu_request_stops_with_what_to_do():
    with pytest.raises(GPUNotVisible) as err:
        check_gpu_request("auto", 1, no_gpu, {"SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "0"})
    text = str(err.value)
    assert 'pip install -e ".[gpu]"' in text and INSTALL_GPU in text
    assert "tf.config.list_physical_devices('GPU')" in text and CHECK_GPU in text
    assert "compute.device: cpu" in text
    # the install line comes before the check
    assert text.index(INSTALL_GPU) < text.index(CHECK_GPU)
    check_gpu_request("cpu", 1, no_gpu, {"SLURM_JOB_ID": "7"})  # CPU intended: no stop
    check_gpu_request("auto", 1, no_gpu, {})  # nothing given: the CPU
    check_gpu_request("auto", 1, lambda: ["NVIDIA H200"], {"CUDA_VISIBLE_DEVICES": "0"})
    with pytest.raises(GPUNotVisible, match="compute.device is gpu"):
        check_gpu_request("gpu", 0, no_gpu, {})
    with pytest.raises(ValueError, match="compute.device"):
        check_gpu_request("tpu", 0, no_gpu, {})


def test_a_jax_job_is_told_to_install_jax_with_cuda_not_tensorflow():
    """compute.backend: jax on a GPU node whose JAX is the CPU build (the `.[jax]` extra):
    the message names JAX's GPU install and check, not TensorFlow's."""
    with pytest.raises(GPUNotVisible) as err:
        check_gpu_request("auto", 0, no_gpu, {"CUDA_VISIBLE_DEVICES": "0"}, backend="jax")
    text = str(err.value)
    assert 'pip install -e ".[jax-gpu]"' in text and INSTALL_JAX_GPU in text
    assert "jax.devices('gpu')" in text and CHECK_JAX_GPU in text
    assert "tensorflow" not in text.lower()
    assert text.index(INSTALL_JAX_GPU) < text.index(CHECK_JAX_GPU)
    assert "compute.device: cpu" in text


def test_device_settings_are_the_schema_enum():
    import yaml

    schema = yaml.safe_load(open(os.path.join(HERE, "..", "workflow", "schemas",
                                              "config.schema.yaml")))
    device = schema["properties"]["compute"]["properties"]["device"]
    assert device["enum"] == list(DEVICE_SETTINGS)


@pytest.fixture(scope="module")
def cpu_run(sample_shards, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("device-run")
    settings = {"max_epochs": 1, "steps_per_execution": 30, "threads": 2, "model": "shallow"}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "train_once.py"),
                           str(sample_shards), str(run_dir), json.dumps(settings)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((run_dir / "metrics.json").read_text())


def test_cpu_run_records_its_device(cpu_run):
    device = cpu_run["device"]
    assert device["kind"] == "cpu" and device["threads"] == 2
    assert device["backend"] == "tensorflow" and device["cpu_count"] == os.cpu_count()
    expected = lscpu_model()
    if expected is None:
        pytest.skip("no lscpu to read the CPU model independently")
    assert device["cpu_model"] == expected


@pytest.mark.slow
def test_gpu_given_but_unseen_stops_unless_cpu_is_intended(tmp_path):
    """CUDA_VISIBLE_DEVICES=0 on a machine whose TensorFlow sees no GPU: the training stops
    with the install and check lines; with compute.device: cpu it trains on the CPU."""
    folder = make_workflow_copy(tmp_path)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="0")
    from reproduce.backend import visible_gpus

    if visible_gpus("tensorflow"):
        pytest.skip("TensorFlow sees a GPU here")
    target = f"{RUN}/metrics.json"
    # unpacked (with a GPU counted, compute.pack: auto would train the runs as packs)
    (folder / "gpu.yaml").write_text("compute: {pack: none}\n")
    cmd = [sys.executable, "-m", "snakemake", "-c1", target, "--config", "preset=smoke"]
    proc = subprocess.run(cmd + ["--configfile", "gpu.yaml"], cwd=folder, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    log = (folder / "results/smoke/logs/train/HIGGS/shallow-high-seed1.log").read_text()
    assert INSTALL_GPU in log and CHECK_GPU in log, log[-3000:]
    assert "stopped: this job was given a GPU" in proc.stderr  # the terminal's one line
    assert not (folder / target).exists()

    (folder / "cpu.yaml").write_text("compute: {device: cpu}\n")  # auto: no packs on the CPU
    run = subprocess.run(cmd + ["--configfile", "cpu.yaml"], cwd=folder, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((folder / target).read_text())
    assert metrics["device"]["kind"] == "cpu"
    assert "train HIGGS/shallow-high-seed1: " in run.stderr and "test AUC" in run.stderr


@needs_jax
@pytest.mark.slow
def test_jax_job_given_a_gpu_it_cannot_see_stops_with_jaxs_install_line(tmp_path):
    """CUDA_VISIBLE_DEVICES=0 with compute.backend: jax on a machine whose JAX is the CPU
    build: the training stops before it trains, with JAX's install and check lines."""
    folder = make_workflow_copy(tmp_path)
    from reproduce.backend import visible_gpus

    if visible_gpus("jax"):
        pytest.skip("JAX sees a GPU here")
    (folder / "jax.yaml").write_text("compute: {pack: none, backend: jax}\n")
    target = f"{RUN}/metrics.json"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-c1", target, "--config",
                           "preset=smoke", "--configfile", "jax.yaml"], cwd=folder,
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES="0"),
                          capture_output=True, text=True)
    assert proc.returncode != 0
    log = (folder / "results/smoke/logs/train/HIGGS/shallow-high-seed1.log").read_text()
    assert INSTALL_JAX_GPU in log and CHECK_JAX_GPU in log, log[-3000:]
    assert INSTALL_GPU not in log and "stopped: this job was given a GPU" in proc.stderr
    assert not (folder / target).exists()


@needs_jax
def test_cpu_intended_trains_on_jax_even_where_the_environment_asks_for_cuda(tmp_path):
    """compute.device: cpu on JAX with JAX_PLATFORMS=cuda left in the environment (and a
    GPU named in CUDA_VISIBLE_DEVICES), Keras and JAX already imported as the train rule
    imports them: the job computes on the CPU instead of stopping at JAX's start."""
    code = (
        "from reproduce.backend import select_backend; select_backend('jax')\n"
        "import keras, jax\n"
        "from reproduce.train.training_job import training_job\n"
        f"with training_job(device='cpu', gpus='auto', gpu_lock_dir={str(tmp_path)!r}, "
        "gpu_resource=0, backend='jax', notify=print):\n"
        "    print('devices', [d.platform for d in jax.devices()],\n"
        "          float(keras.ops.sum(keras.ops.ones(3))))\n")
    env = dict(os.environ, JAX_PLATFORMS="cuda", CUDA_VISIBLE_DEVICES="0")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "devices ['cpu'] 3.0" in proc.stdout
