from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.backend import select_backend

select_backend(snakemake.config["compute"]["backend"])  # before anything imports Keras

from reproduce.layout import ReportFiles
from reproduce.report.report import write_report

out = snakemake.output
write_report(
    snakemake.params.runs,
    ReportFiles(
        table_md=out.table_md, table_csv=out.table_csv, table_tex=out.table_tex,
        table_html=out.table_html, learning_curves=out.learning_curves,
        schedules=out.schedules, roc=out.roc, roc_by_feature_set=out.roc_by_feature_set,
        summary=out.summary, captions=snakemake.params.captions,
    ),
    train_curve=snakemake.params.train_curve,
    run_name=snakemake.params.run_name,
)
