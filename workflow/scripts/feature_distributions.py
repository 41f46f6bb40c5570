from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from pathlib import Path

from reproduce.figures import plot_feature_distributions

plot_feature_distributions(
    Path(snakemake.input.manifest).parent,
    snakemake.params.spec,
    snakemake.output.low,
    snakemake.output.high,
)
