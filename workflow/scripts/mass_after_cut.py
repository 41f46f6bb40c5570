from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.report.mass_after_cut import plot_mass_after_cut

plot_mass_after_cut(
    snakemake.input.manifest,
    snakemake.params.spec,
    deep_low_scores=snakemake.input.scores[0],
    shallow_high_scores=snakemake.input.scores[1],
    path=snakemake.output[0],
    metrics=snakemake.input.metrics,
    run_name=snakemake.params.run_name,
)
