rule bdt:
    """The BDT baseline on the same splits and feature set (scikit-learn
    HistGradientBoostingClassifier, early stopping on the validation split)."""
    input:
        manifest=rules.tfrecords.output.manifest,
    output:
        scores=f"{RESULTS}/{{dataset}}/runs/bdt-{{features}}-seed{{seed}}/test_scores.npz",
        metrics=f"{RESULTS}/{{dataset}}/runs/bdt-{{features}}-seed{{seed}}/metrics.json",
    log:
        f"{RESULTS}/logs/bdt/{{dataset}}/bdt-{{features}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/bdt/{{dataset}}/bdt-{{features}}-seed{{seed}}.tsv"
    params:
        spec=lambda w: dataset_spec(w.dataset),
        bdt={k: v for k, v in config["bdt"].items() if k != "enabled"},
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=lambda w: 12000 if w.dataset == "HIGGS" else 6000,
        runtime=720,
    conda:
        "../envs/reproduce.yaml"
    script:
        "../scripts/bdt.py"
