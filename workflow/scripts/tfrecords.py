from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from pathlib import Path

from reproduce.tfrecords import write_tfrecord_shards

write_tfrecord_shards(
    snakemake.input[0],
    Path(snakemake.output.manifest).parent,
    snakemake.params.spec,
    **snakemake.params.conversion,
)
