def train_rows(dataset):
    start, end = dataset_spec(dataset).splits["train"]
    return end - start


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
        evaluated_weights=config["evaluation"]["weights"],
        gpus=config["compute"]["gpus"],
        gpu_lock_dir=".snakemake/gpu-slots",
    threads: config["compute"]["train_threads"]
    resources:
        gpu=1,
        mem_mb=lambda w: 8000 if w.dataset == "HIGGS" else 5000,  # 10M x 28 float32 in memory, twice
        # minutes: max_epochs x a generous minute per 10M-row epoch (a deep HIGGS epoch takes
        # ~1.2 min on 2 CPU cores), x3 for the deep nets; at least an hour
        runtime=lambda w: max(60, round(config["training"]["max_epochs"]
                                        * (3 if w.network.startswith("deep") else 1)
                                        * train_rows(w.dataset) / 1e7)),
    conda:
        "../envs/reproduce.yaml"
    script:
        "../scripts/train.py"
