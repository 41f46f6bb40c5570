from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.data.verify import verify_file_in_place
from reproduce.data.tfrecords import write_tfrecord_shards
from reproduce.layout import TFRecordFiles

spec = snakemake.params.spec
# The source may have been put under resources/ by hand (an offline machine): verify it.
verify_file_in_place(snakemake.input[0], size=spec.size, sha256=spec.sha256)
write_tfrecord_shards(
    snakemake.input[0],
    TFRecordFiles(manifest=snakemake.output.manifest, statistics=snakemake.output.statistics),
    spec,
    **snakemake.params.conversion,
)
