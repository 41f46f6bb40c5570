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
from reproduce.train.run_lock import RunLockedError
from reproduce.train.settings import settings_for
from reproduce.train.training import train_run

w, out, params = snakemake.wildcards, snakemake.output, snakemake.params
run_name = f"{w.dataset}/{w.network}-{w.features}-seed{w.seed}"


def notify(message):
    to_terminal(f"train {run_name}: {message}")


settings = settings_for(w.network, params.training, threads=snakemake.threads)
if params.device == "cpu":
    hide_gpus()
n_gpus = 0 if params.device == "cpu" else count_gpus(params.gpus)
with gpu_slot(n_gpus, params.gpu_lock_dir) as slot:
    pin_process_to_gpu(slot)  # before the backend starts in train_run
    try:
        check_gpu_request(params.device, snakemake.resources.get("gpu", 0),
                          lambda: visible_gpus(BACKEND))
        metrics = train_run(
            TFRecordFiles(manifest=snakemake.input.manifest,
                          statistics=snakemake.input.statistics),
            RunFiles(metrics=out.metrics, log=out.log, scores=out.scores, model=out.model,
                     best=out.best, state=params.state, progress=params.progress),
            spec=params.spec,
            model=parse_model_name(w.network)["model"],
            feature_set=w.features,
            seed=int(w.seed),
            settings=settings,
            evaluated_weights=params.evaluated_weights,
            notify=notify,
            deadline=job_deadline(params.max_job_minutes, STARTED),
        )
    except RunLockedError as exc:
        notify(str(exc))
        raise
    except GPUNotVisible as exc:
        print(f"error: {exc}", file=sys.stderr)
        notify(f"stopped: {exc}")
        sys.exit(1)
    except JobTimeLimitReached as exc:
        print(f"{exc}", file=sys.stderr)
        notify(str(exc))
        sys.exit(3)
notify(f"{metrics['epochs_trained']} epochs, test AUC {metrics['test_auc']:.4f} "
       f"({metrics['evaluated_weights']} weights), {metrics['wall_time_s'] / 60:.1f} min")
