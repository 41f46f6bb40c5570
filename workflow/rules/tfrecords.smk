rule tfrecords:
    """Convert the CSV.gz into TFRecord shards per split (train/valid/test, in file order)
    plus the training split's per-feature statistics."""
    input:
        source_file,
    output:
        manifest=f"{RESULTS}/{{dataset}}/tfrecords/manifest.json",
        statistics=f"{RESULTS}/{{dataset}}/tfrecords/statistics.json",
    log:
        f"{RESULTS}/logs/tfrecords/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tfrecords/{{dataset}}.tsv"
    params:
        spec=lambda w: dataset_spec(w.dataset),
        conversion=config["conversion"],
    threads: 2
    conda:
        "../envs/reproduce.yaml"
    script:
        "../scripts/tfrecords.py"
