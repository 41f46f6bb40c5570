from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.report.supp_table3 import write_supp_table3

write_supp_table3(snakemake.input.evaluations, snakemake.output.md, snakemake.output.csv)
