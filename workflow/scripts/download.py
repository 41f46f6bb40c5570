from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from pathlib import Path

from reproduce.download import fetch_dataset_file

spec = snakemake.params.spec
dest = Path(snakemake.output[0])
fetch_dataset_file(
    spec.urls,
    dest,
    size=spec.size,
    sha256=spec.sha256,
    lock_file=None if spec.sha256 else dest.with_name(dest.name + ".lock.json"),
)
