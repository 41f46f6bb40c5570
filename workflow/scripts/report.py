from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.report import write_report

write_report(snakemake.input.evaluations, snakemake.input.logs, snakemake.params.figures)
