import os
import sys

console = os.fdopen(os.dup(2), "w")  # Snakemake's terminal, before the log takes stderr

from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

import logging
from pathlib import Path

from reproduce.data.download import DownloadError, fetch_dataset_file
from reproduce.data.verify import lock_file_path

spec = snakemake.params.spec
dest = Path(snakemake.output[0])
try:
    fetch_dataset_file(
        spec.urls,
        dest,
        size=spec.size,
        sha256=spec.sha256,
        lock_file=None if spec.sha256 else lock_file_path(dest),
        dataset=spec.name,
    )
except DownloadError as exc:  # the message is the whole story: no traceback
    logging.getLogger("download").error("%s", exc)
    print(f"Error in rule download: {exc}", file=console, flush=True)
    sys.exit(1)
