import os

from reproduce.rule_logging import log_to_file

terminal = os.fdopen(os.dup(2), "w")  # the job's own stderr, before it goes to the log
log_to_file(snakemake.log[0])

from reproduce.backend import select_backend

select_backend(snakemake.config["compute"]["backend"])  # before anything imports Keras

from reproduce.layout import RunFiles, TFRecordFiles
from reproduce.model_registry import parse_model_name
from reproduce.train.gpu_slots import count_gpus, gpu_slot, pin_process_to_gpu
from reproduce.train.settings import settings_for
from reproduce.train.run_lock import RunLockedError
from reproduce.train.training import train_run

w, out = snakemake.wildcards, snakemake.output


def notify(message):
    print(f"train {w.dataset}/{w.network}-{w.features}-seed{w.seed}: {message}",
          file=terminal, flush=True)


settings = settings_for(w.network, snakemake.params.training, threads=snakemake.threads)
try:
    with gpu_slot(count_gpus(snakemake.params.gpus), snakemake.params.gpu_lock_dir) as slot:
        pin_process_to_gpu(slot)  # before TensorFlow starts in train_run
        train_run(
            TFRecordFiles(manifest=snakemake.input.manifest,
                          statistics=snakemake.input.statistics),
            RunFiles(metrics=out.metrics, log=out.log, scores=out.scores, model=out.model,
                     best=out.best, state=snakemake.params.state,
                     progress=snakemake.params.progress),
            spec=snakemake.params.spec,
            model=parse_model_name(w.network)["model"],
            feature_set=w.features,
            seed=int(w.seed),
            settings=settings,
            evaluated_weights=snakemake.params.evaluated_weights,
            notify=notify,
        )
except RunLockedError as exc:
    notify(str(exc))
    raise
