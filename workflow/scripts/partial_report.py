from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.backend import select_backend

select_backend(snakemake.config["compute"]["backend"])  # before anything imports Keras

from reproduce.report.report import write_partial_report

write_partial_report(snakemake.params.runs, snakemake.params.files,
                     train_curve=snakemake.params.train_curve,
                     run_name=snakemake.params.run_name)
