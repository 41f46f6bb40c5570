from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.report.feature_distributions import plot_feature_distributions

plot_feature_distributions(
    snakemake.input.manifest,
    snakemake.params.spec,
    snakemake.output.low,
    snakemake.output.high,
    run_name=snakemake.params.run_name,
)
