localrules:
    download,


rule download:
    """Fetch the data set's .csv.gz (https, file:// or a local path), verified by size and
    sha256; resumes interrupted transfers and falls back through the mirrors. Offline, it
    fails within seconds and its log says how to supply the file by hand."""
    output:
        "resources/{dataset}/{filename}",
    log:
        "logs/download/{dataset}/{filename}.log",
    message:
        "Downloading {wildcards.filename} ({wildcards.dataset}); if it fails, {log} says "
        "how to supply the file by hand"
    wildcard_constraints:
        filename=r"[^/\\]+",
    benchmark:
        f"{RESULTS}/benchmarks/download/{{dataset}}/{{filename}}.tsv"
    params:
        spec=lambda w: dataset_spec(w.dataset),
    script:
        "../scripts/download.py"
