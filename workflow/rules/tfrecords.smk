rule tfrecords:
    """Convert the CSV.gz into TFRecord shards per split (train/valid/test, in file order)
    plus the training split's per-feature statistics."""
    input:
        source_file,
    output:
        manifest=str(TFRECORDS.manifest),
        statistics=str(TFRECORDS.statistics),
    log:
        f"{RESULTS}/logs/tfrecords/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tfrecords/{{dataset}}.tsv"
    params:
        spec=lambda w: dataset_spec(w.dataset),
        conversion=config["conversion"],
    threads: 2
    script:
        "../scripts/tfrecords.py"
