if PACKS:

    ruleorder: train_pack > train

    rule train_pack:
        """Every run of one (dataset, network) as one packed program on one GPU slot;
        each run's outputs exactly as the train rule writes them. Resumes from the pack's
        last completed epoch when rerun after a kill."""
        input:
            manifest=rules.tfrecords.output.manifest,
            statistics=rules.tfrecords.output.statistics,
        output:
            metrics=pack_outputs(str(NETWORK_RUN.metrics)),
            log=pack_outputs(str(NETWORK_RUN.log)),
            scores=pack_outputs(str(NETWORK_RUN.scores)),
            model=pack_outputs(str(NETWORK_RUN.model)),
            best=pack_outputs(str(NETWORK_RUN.best)),
        wildcard_constraints:
            network="|".join(PACKED_NETWORKS),
        log:
            f"{RESULTS}/logs/train_pack/{{dataset}}/{{network}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/train_pack/{{dataset}}/{{network}}.tsv"
        params:
            # outside the outputs, as the train rule's
            state=pack_outputs(str(NETWORK_RUN.state)),
            progress=pack_outputs(str(NETWORK_RUN.progress)),
            pack_state=f"{RESULTS}/packs/{{dataset}}/{{network}}/state",
            feature_sets=[f for f in config["feature_sets"] for _ in config["seeds"]],
            seeds=[s for _ in config["feature_sets"] for s in config["seeds"]],
            spec=lambda w: dataset_spec(w.dataset),
            training=config["training"],
            evaluated_weights=config["evaluation"]["weights"],
            gpus=config["compute"]["gpus"],
            gpu_lock_dir=".snakemake/gpu-slots",
            device=config["compute"]["device"],
            max_job_minutes=max_job_minutes(),
        threads: config["compute"]["train_threads"]
        retries: pack_retries()
        resources:
            # one GPU per pack, unless the CPU is intended (the slurm-cpu profile sets 0)
            gpu=0 if config["compute"]["device"] == "cpu" else 1,
            mem_mb=lambda w: train_mem_mb(w) + round(data_mb(w.dataset, 4)),
            runtime=pack_job_minutes,
        script:
            "../scripts/train_pack.py"
