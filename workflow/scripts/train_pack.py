import time

STARTED = time.monotonic()  # the job's time budget counts from here

from reproduce.rule_logging import log_to_file, to_terminal

log_to_file(snakemake.log[0])

from reproduce.train.compile_cache import start_training_backend

# before anything imports Keras: the backend, and on the CPU the programs compiled by
# earlier jobs of this kind
w = snakemake.wildcards
BACKEND = start_training_backend(snakemake.config["compute"],
                                 f"{w.dataset}-{w.network}-pack")

from reproduce.layout import RunFiles, TFRecordFiles
from reproduce.model_registry import parse_model_name
from reproduce.train.job_budget import job_deadline
from reproduce.train.packed_training import train_pack
from reproduce.train.settings import settings_for
from reproduce.train.training_job import training_job

w, out, params = snakemake.wildcards, snakemake.output, snakemake.params
pack_name = f"{w.dataset}/{w.network} pack"


def notify(message):
    to_terminal(f"train_pack {pack_name}: {message}")


settings = settings_for(w.network, params.training, threads=snakemake.threads)
runs = [RunFiles(metrics=m, log=l, scores=s, model=k, best=b, state=st, progress=p)
        for m, l, s, k, b, st, p in zip(out.metrics, out.log, out.scores, out.model, out.best,
                                        params.state, params.progress, strict=True)]
with training_job(device=params.device, gpus=params.gpus, gpu_lock_dir=params.gpu_lock_dir,
                  gpu_resource=snakemake.resources.get("gpu", 0), backend=BACKEND,
                  notify=notify):
    metrics = train_pack(
        TFRecordFiles(manifest=snakemake.input.manifest, statistics=snakemake.input.statistics),
        runs,
        spec=params.spec,
        model=parse_model_name(w.network)["model"],
        feature_sets=params.feature_sets,
        seeds=params.seeds,
        settings=settings,
        pack_state=params.pack_state,
        evaluated_weights=params.evaluated_weights,
        deadline=job_deadline(params.max_job_minutes, STARTED),
        notify=notify,
    )
aucs = ", ".join(f"{m['test_auc']:.4f}" for m in metrics)
notify(f"{len(runs)} runs trained, test AUCs {aucs}")
