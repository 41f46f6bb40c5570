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
