"""GPU slot assignment with a simulated GPU count, across real concurrent processes."""

import json
import os
import signal
import subprocess
import sys
import time


from reproduce.train.gpu_slots import count_gpus, gpu_slot

HOLDER = """
import json, os, sys, time
from reproduce.train.gpu_slots import gpu_slot, pin_process_to_gpu
with gpu_slot(int(sys.argv[1]), sys.argv[2], poll=0.02) as slot:
    pin_process_to_gpu(slot)
    start = time.time()
    time.sleep(float(sys.argv[3]))
    print(json.dumps({"slot": slot, "start": start, "end": time.time(),
                      "visible": os.environ["CUDA_VISIBLE_DEVICES"]}))
"""


def run_holder(n_gpus, lock_dir, seconds, env=None):
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(n_gpus), str(lock_dir),
                             str(seconds)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(env or {})))


def test_concurrent_jobs_never_share_a_gpu(tmp_path):
    procs = [run_holder(2, tmp_path, 0.6) for _ in range(5)]
    records = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert {r["slot"] for r in records} == {0, 1}
    for slot in (0, 1):
        spans = sorted((r["start"], r["end"]) for r in records if r["slot"] == slot)
        for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
            assert s1 >= e0  # one job at a time on each GPU
    assert all(r["visible"] == str(r["slot"]) for r in records)


def test_killed_job_frees_its_slot(tmp_path):
    victim = run_holder(1, tmp_path, 60)
    time.sleep(1.0)
    waiting = run_holder(1, tmp_path, 0.1)
    time.sleep(0.5)
    assert waiting.poll() is None  # the only slot is held
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    record = json.loads(waiting.communicate(timeout=30)[0])
    assert record["slot"] == 0


def test_slots_map_onto_existing_visible_devices(tmp_path):
    proc = run_holder(2, tmp_path, 0.0, env={"CUDA_VISIBLE_DEVICES": "4,7"})
    assert json.loads(proc.communicate(timeout=30)[0])["visible"] == "4"


def test_no_gpu_means_cpu(tmp_path, monkeypatch):
    with gpu_slot(0, tmp_path) as slot:
        assert slot is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,2,3")
    assert count_gpus("auto") == 3
    assert count_gpus(2) == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert count_gpus("auto") == 0


def test_timeout_when_all_slots_held(tmp_path):
    with gpu_slot(1, tmp_path):
        proc = subprocess.run([sys.executable, "-c",
                               "import sys\nfrom reproduce.train.gpu_slots import gpu_slot\n"
                               f"with gpu_slot(1, {str(tmp_path)!r}, poll=0.05, timeout=0.3):\n"
                               "    pass"], capture_output=True, text=True)
    assert proc.returncode != 0 and "no free GPU slot" in proc.stderr
