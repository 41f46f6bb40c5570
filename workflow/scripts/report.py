from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.report.report import write_report

write_report(snakemake.params.runs, snakemake.params.figures,
             captions_dir=snakemake.params.captions, train_curve=snakemake.params.train_curve)
