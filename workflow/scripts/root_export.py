from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.report.root_export import write_root_scores

write_root_scores(snakemake.params.runs, snakemake.output[0], snakemake.params.first_test_rows)
