from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.train.bdt import train_bdt

train_bdt(
    snakemake.input.manifest,
    scores_path=snakemake.output.scores,
    metrics_path=snakemake.output.metrics,
    spec=snakemake.params.spec,
    feature_set=snakemake.wildcards.features,
    seed=int(snakemake.wildcards.seed),
    threads=snakemake.threads,
    **snakemake.params.bdt,
)
