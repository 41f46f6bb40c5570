rule train:
    """One network of the paper: (dataset, model, feature set, seed). Resumes from its last
    completed epoch when rerun after a kill."""
    input:
        manifest=rules.tfrecords.output.manifest,
        statistics=rules.tfrecords.output.statistics,
    output:
        metrics=f"{RESULTS}/{{dataset}}/runs/{{network}}-{{features}}-seed{{seed}}/metrics.json",
        log=f"{RESULTS}/{{dataset}}/runs/{{network}}-{{features}}-seed{{seed}}/log.csv",
        scores=f"{RESULTS}/{{dataset}}/runs/{{network}}-{{features}}-seed{{seed}}/test_scores.npz",
        model=f"{RESULTS}/{{dataset}}/runs/{{network}}-{{features}}-seed{{seed}}/model.keras",
        best=f"{RESULTS}/{{dataset}}/runs/{{network}}-{{features}}-seed{{seed}}/best.weights.h5",
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{network}}-{{features}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{dataset}}/{{network}}-{{features}}-seed{{seed}}.tsv"
    params:
        spec=lambda w: dataset_spec(w.dataset),
        training=config["training"],
        gpus=config["compute"]["gpus"],
        gpu_lock_dir=".snakemake/gpu-slots",
    threads: config["compute"]["train_threads"]
    resources:
        gpu=1,
        mem_mb=lambda w: 8000 if w.dataset == "HIGGS" else 5000,  # 10M x 28 float32 in memory, twice
        runtime=lambda w: 4320 if w.network.startswith("deep") else 1440,
    conda:
        "../envs/reproduce.yaml"
    script:
        "../scripts/train.py"
