import time

STARTED = time.monotonic()  # the job's time budget counts from here

from reproduce.rule_logging import log_to_file, to_terminal

log_to_file(snakemake.log[0])

from reproduce.backend import select_backend

BACKEND = snakemake.config["compute"]["backend"]
select_backend(BACKEND)  # before anything imports Keras

import sys

from reproduce.backend import visible_gpus
from reproduce.layout import RunFiles, TFRecordFiles
from reproduce.model_registry import parse_model_name
from reproduce.train.device import GPUNotVisible, check_gpu_request, hide_gpus
from reproduce.train.gpu_slots import count_gpus, gpu_slot, pin_process_to_gpu
from reproduce.train.job_budget import JobTimeLimitReached, job_deadline
from reproduce.train.packed_training import train_pack
from reproduce.train.settings import settings_for

w, out, params = snakemake.wildcards, snakemake.output, snakemake.params
pack_name = f"{w.dataset}/{w.network} pack"


def notify(message):
    to_terminal(f"train_pack {pack_name}: {message}")


settings = settings_for(w.network, params.training, threads=snakemake.threads)
runs = [RunFiles(metrics=m, log=l, scores=s, model=k, best=b, state=st, progress=p)
        for m, l, s, k, b, st, p in zip(out.metrics, out.log, out.scores, out.model, out.best,
                                        params.state, params.progress, strict=True)]
if params.device == "cpu":
    hide_gpus()
n_gpus = 0 if params.device == "cpu" else count_gpus(params.gpus)
with gpu_slot(n_gpus, params.gpu_lock_dir) as slot:
    pin_process_to_gpu(slot)  # one GPU per pack, before the backend starts
    try:
        check_gpu_request(params.device, snakemake.resources.get("gpu", 0),
                          lambda: visible_gpus(BACKEND))
        metrics = train_pack(
            TFRecordFiles(manifest=snakemake.input.manifest,
                          statistics=snakemake.input.statistics),
            runs,
            spec=params.spec,
            model=parse_model_name(w.network)["model"],
            feature_sets=params.feature_sets,
            seeds=params.seeds,
            settings=settings,
            pack_state=params.pack_state,
            evaluated_weights=params.evaluated_weights,
            deadline=job_deadline(params.max_job_minutes, STARTED),
        )
    except GPUNotVisible as exc:
        print(f"error: {exc}", file=sys.stderr)
        notify(f"stopped: {exc}")
        sys.exit(1)
    except JobTimeLimitReached as exc:
        print(f"{exc}", file=sys.stderr)
        notify(str(exc))
        sys.exit(3)
aucs = ", ".join(f"{m['test_auc']:.4f}" for m in metrics)
notify(f"{len(runs)} runs trained, test AUCs {aucs}")
