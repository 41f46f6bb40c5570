"""GPU slot check on a machine with real NVIDIA GPUs (not collected by pytest).

``tests/test_gpu_slots.py`` checks the lock-file slots with a simulated GPU count. This
script checks the two parts that need real hardware: ``count_gpus("auto")`` against the
driver's ``nvidia-smi -L``, and that the ``CUDA_VISIBLE_DEVICES`` set by
``pin_process_to_gpu`` is what the CUDA runtime then shows to a training process (one
device, the slot's GPU, read back by its UUID). It also runs more jobs than GPUs at once and
checks that no two hold the same GPU at the same time, and that a job killed with SIGKILL
frees its GPU. Uses TensorFlow if importable, else PyTorch, to ask the CUDA runtime.

    python tests/gpu/check_gpu_slots.py      # prints a report, exits 1 on a failed check
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from reproduce.train.gpu_slots import count_gpus  # noqa: E402

JOB = """
import json, os, sys, time
sys.path.insert(0, {root!r})
from reproduce.train.gpu_slots import gpu_slot, pin_process_to_gpu
with gpu_slot(int(sys.argv[1]), sys.argv[2], poll=0.05) as slot:
    pin_process_to_gpu(slot)
    start = time.time()
    try:
        import tensorflow as tf
        names = [d.name for d in tf.config.list_physical_devices("GPU")]
        runtime = "tensorflow"
        uuid = None
    except ImportError:
        import torch
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        runtime = "torch"
        uuid = str(torch.cuda.get_device_properties(0).uuid) if names else None
        torch.ones(1, device="cuda").sum().item()   # a real kernel on the slot's GPU
    time.sleep(float(sys.argv[3]))
    print(json.dumps({{"slot": slot, "visible": os.environ["CUDA_VISIBLE_DEVICES"],
                      "runtime": runtime, "devices": names, "uuid": uuid,
                      "start": start, "end": time.time()}}), flush=True)
"""


def job(n_gpus, lock_dir, seconds):
    return subprocess.Popen([sys.executable, "-c", JOB.format(root=str(ROOT)), str(n_gpus),
                             str(lock_dir), str(seconds)], stdout=subprocess.PIPE, text=True)


def main() -> int:
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            failures.append(what)

    try:
        smi = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        print("nvidia-smi not found: this check needs a machine with NVIDIA GPUs")
        return 2
    print(smi.strip())
    uuids = [line.split("UUID: ")[1].rstrip(")") for line in smi.splitlines() if "UUID: " in line]
    n = count_gpus("auto")
    check(n == len(uuids) and n > 0, f"count_gpus('auto') = {n}, nvidia-smi lists {len(uuids)}")

    with tempfile.TemporaryDirectory() as lock_dir:
        jobs = [job(n, lock_dir, 1.0) for _ in range(n + 2)]
        records = [json.loads(p.communicate(timeout=300)[0]) for p in jobs]
        for r in records:
            print(f"  slot {r['slot']}: CUDA_VISIBLE_DEVICES={r['visible']} "
                  f"{r['runtime']} sees {r['devices']} {r['uuid'] or ''}")
        check(all(len(r["devices"]) == 1 for r in records),
              "each job sees exactly one GPU")
        check(all(r["uuid"] is None or r["uuid"].replace("GPU-", "") in
                  uuids[r["slot"]].replace("GPU-", "") for r in records),
              "the GPU a job sees is the slot's GPU (UUID)")
        overlaps = 0
        for slot in range(n):
            spans = sorted((r["start"], r["end"]) for r in records if r["slot"] == slot)
            overlaps += sum(s1 < e0 for (_, e0), (s1, _) in zip(spans, spans[1:]))
        check(overlaps == 0, f"{n + 2} jobs on {n} GPU(s): never two on one GPU at once")

        victim = job(n, lock_dir, 600)
        time.sleep(3)
        waiting = [job(n, lock_dir, 0.1) for _ in range(n)]
        time.sleep(3)
        held = sum(w.poll() is None for w in waiting)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        done = [json.loads(w.communicate(timeout=300)[0]) for w in waiting]
        check(held >= 1 and len(done) == n,
              "a job killed with SIGKILL frees its GPU for a waiting job")
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
