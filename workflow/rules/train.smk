import math
import os
from types import SimpleNamespace

from reproduce.train.job_budget import jobs_needed

CLUSTER_JOB_MINUTES = 1440  # compute.max_job_minutes: auto under a cluster executor


def max_job_minutes():
    """compute.max_job_minutes with auto resolved: CLUSTER_JOB_MINUTES when jobs go to a
    cluster (this process submits them, or runs inside a SLURM job), else None."""
    value = config["compute"]["max_job_minutes"]
    if value != "auto":
        return value
    on_cluster = not workflow.local_exec or "SLURM_JOB_ID" in os.environ
    return CLUSTER_JOB_MINUTES if on_cluster else None


def train_job_minutes(wildcards):
    """The runtime a training job asks for: its estimate, capped at max_job_minutes."""
    cap = max_job_minutes()
    minutes = train_minutes(wildcards)
    return minutes if cap is None else max(1, min(minutes, math.ceil(cap)))


def train_retries():
    """Resubmissions of a training: one per further job its longest run spans under the
    cap, plus one for a failure; None (the profile's retries) when every run fits in one
    job or there is no cap."""
    cap = max_job_minutes()
    if cap is None:
        return None
    longest = max((train_minutes(SimpleNamespace(dataset=r.dataset, network=r.model))
                   for r in runs_plan.network_runs(config)), default=0)
    jobs = jobs_needed(longest, cap)
    return jobs if jobs > 1 else None


rule train:
    """One network of the paper: (dataset, model, feature set, seed). Resumes from its last
    completed epoch when rerun after a kill."""
    input:
        manifest=rules.tfrecords.output.manifest,
        statistics=rules.tfrecords.output.statistics,
    output:
        metrics=str(NETWORK_RUN.metrics),
        log=str(NETWORK_RUN.log),
        scores=str(NETWORK_RUN.scores),
        model=str(NETWORK_RUN.model),
        best=str(NETWORK_RUN.best),
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{network}}-{{features}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{dataset}}/{{network}}-{{features}}-seed{{seed}}.tsv"
    params:
        # outside the outputs, which Snakemake deletes when a job fails: a killed training
        # resumes from its state
        state=str(NETWORK_RUN.state),
        progress=str(NETWORK_RUN.progress),
        spec=lambda w: dataset_spec(w.dataset),
        training=config["training"],
        evaluated_weights=config["evaluation"]["weights"],
        gpus=config["compute"]["gpus"],
        gpu_lock_dir=".snakemake/gpu-slots",
        device=config["compute"]["device"],
        max_job_minutes=max_job_minutes(),
    threads: config["compute"]["train_threads"]
    retries: train_retries()
    resources:
        # a GPU per training, unless the CPU is intended (the slurm-cpu profile sets 0)
        gpu=0 if config["compute"]["device"] == "cpu" else 1,
        mem_mb=train_mem_mb,
        runtime=train_job_minutes,
    script:
        "../scripts/train.py"
