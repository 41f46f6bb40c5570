localrules:
    download,


rule download:
    """Fetch the data set's .csv.gz (https, file:// or a local path), verified by size and
    sha256; resumes interrupted transfers and falls back through the mirrors."""
    output:
        "resources/{dataset}/{filename}",
    log:
        "logs/download/{dataset}/{filename}.log",
    params:
        spec=lambda w: dataset_spec(w.dataset),
    conda:
        "../envs/reproduce.yaml"
    script:
        "../scripts/download.py"
