rule bdt:
    """The BDT baseline on the same splits and feature set (scikit-learn
    HistGradientBoostingClassifier, early stopping on the validation split)."""
    input:
        manifest=rules.tfrecords.output.manifest,
    output:
        scores=str(BDT_RUN.scores),
        metrics=str(BDT_RUN.metrics),
    log:
        f"{RESULTS}/logs/bdt/{{dataset}}/bdt-{{features}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/bdt/{{dataset}}/bdt-{{features}}-seed{{seed}}.tsv"
    params:
        spec=lambda w: dataset_spec(w.dataset),
        bdt={k: v for k, v in config["bdt"].items() if k != "enabled"},
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=bdt_mem_mb,
        runtime=720,
    script:
        "../scripts/bdt.py"
