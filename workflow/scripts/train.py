import time

STARTED = time.monotonic()  # the job's time budget counts from here

from reproduce.rule_logging import log_to_file, to_terminal

log_to_file(snakemake.log[0])

from reproduce.train.compile_cache import start_training_backend

# before anything imports Keras: the backend, and on the CPU the programs compiled by
# earlier jobs of this kind
w = snakemake.wildcards
BACKEND = start_training_backend(snakemake.config["compute"],
                                 f"{w.dataset}-{w.network}-{w.features}")

from reproduce.layout import RunFiles, TFRecordFiles
from reproduce.model_registry import parse_model_name
from reproduce.train.job_budget import job_deadline
from reproduce.train.settings import settings_for
from reproduce.train.training import train_run
from reproduce.train.training_job import training_job

w, out, params = snakemake.wildcards, snakemake.output, snakemake.params
run_name = f"{w.dataset}/{w.network}-{w.features}-seed{w.seed}"


def notify(message):
    to_terminal(f"train {run_name}: {message}")


settings = settings_for(w.network, params.training, threads=snakemake.threads)
with training_job(device=params.device, gpus=params.gpus, gpu_lock_dir=params.gpu_lock_dir,
                  gpu_resource=snakemake.resources.get("gpu", 0), backend=BACKEND,
                  notify=notify):
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
notify(f"{metrics['epochs_trained']} epochs, test AUC {metrics['test_auc']:.4f} "
       f"({metrics['evaluated_weights']} weights), {metrics['wall_time_s'] / 60:.1f} min")
