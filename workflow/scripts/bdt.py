from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from pathlib import Path

from reproduce.bdt import train_bdt

train_bdt(
    Path(snakemake.input.manifest).parent,
    Path(snakemake.output.metrics).parent,
    spec=snakemake.params.spec,
    feature_set=snakemake.wildcards.features,
    seed=int(snakemake.wildcards.seed),
    threads=snakemake.threads,
    **snakemake.params.bdt,
)
