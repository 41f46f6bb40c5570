"""CSV.gz -> TFRecord conversion speed and memory, and the reader's throughput.

Builds (once, cached under benchmarks/out/) a file in the exact HIGGS layout by resampling
the lines of the embedded real sample, then measures in the same run:

  * ``gzip -dc FILE > /dev/null`` (the floor: decompression alone),
  * ``write_tfrecord_shards`` on the same file (in a child process, for its peak RSS),
  * the reader: shuffled batches of 100 from the written shards, rows/s.

Prints a Markdown table; the target is conversion / gzip <= 1.3 and reader >= 2M rows/s
(consumed inside the graph, as Keras's compiled training loop consumes it).

    python benchmarks/conversion.py [--rows 2000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "data" / "higgs-sample.csv.gz"


def build_file(rows: int, out: Path) -> Path:
    path = out / f"higgs-layout-{rows}.csv.gz"
    if path.exists():
        return path
    with gzip.open(SAMPLE, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as raw:
        gz = subprocess.Popen(["gzip", "-6", "-c"], stdin=subprocess.PIPE, stdout=raw)
        for start in range(0, rows, 100_000):
            picks = rng.integers(0, len(lines), min(100_000, rows - start))
            gz.stdin.write(b"".join(lines[i] for i in picks))
        gz.stdin.close()
        assert gz.wait() == 0
    os.replace(tmp, path)
    return path


CHILD = """
import json, sys, time
from reproduce.datasets import get_dataset
from reproduce.data.tfrecords import write_tfrecord_shards
rows = int(sys.argv[3])
spec = get_dataset("HIGGS", {"rows": rows, "splits": {"train": [0, rows - 2 * (rows // 20)],
        "valid": [rows - 2 * (rows // 20), rows - rows // 20], "test": [rows - rows // 20, rows]}})
t = time.perf_counter()
write_tfrecord_shards(sys.argv[1], sys.argv[2], spec)
# VmHWM, not ru_maxrss: Linux carries the parent's peak RSS across fork+exec into ru_maxrss
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
              if line.startswith("VmHWM:"))
print(json.dumps({"seconds": time.perf_counter() - t, "rss_mb": hwm_kb / 1024}))
"""


def convert(path: Path, out: Path, rows: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(out), str(rows)],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gunzip_seconds(path: Path) -> float:
    t = time.perf_counter()
    subprocess.run(f"gzip -dc '{path}' > /dev/null", shell=True, check=True)
    return time.perf_counter() - t


def reader_rows_per_second(shards: Path) -> dict:
    """Rows/s of both readers, consumed inside the graph (as Keras's compiled loop does)."""
    import tensorflow as tf

    from reproduce.data.tf_reader import read_split, shuffled_batches
    from reproduce.train.block_steps import epoch_blocks

    def consume(ds):
        t = time.perf_counter()
        rows = int(ds.reduce(tf.constant(0), lambda n, b: n + tf.size(b[1])))
        return rows / (time.perf_counter() - t)

    x, y = read_split(shards, "train")
    return {"stream": consume(shuffled_batches(shards, "train", batch_size=100, seed=0)),
            "memory": consume(epoch_blocks(x, y, seed=0, first_epoch=0, last_epoch=1,
                                           batch_size=100, block_size=100))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    path = build_file(args.rows, out)
    size = path.stat().st_size
    gz, conv, rss, reader = [], [], [], []
    for _ in range(args.repeats):
        gz.append(gunzip_seconds(path))
        result = convert(path, out / "shards", args.rows)
        conv.append(result["seconds"])
        rss.append(result["rss_mb"])
        reader.append(reader_rows_per_second(out / "shards"))
    g, c = statistics.median(gz), statistics.median(conv)
    print(f"# conversion of {args.rows:,} rows in the HIGGS layout ({size / 1e6:,.0f} MB gz), "
          f"{os.cpu_count()} CPUs, median of {args.repeats}\n")
    print("| step | seconds | rows/s | ratio to gzip -dc | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    print(f"| gzip -dc > /dev/null | {g:.1f} | {args.rows / g:,.0f} | 1.00 | |")
    print(f"| write_tfrecord_shards | {c:.1f} | {args.rows / c:,.0f} | {c / g:.2f} | "
          f"{max(rss):,.0f} MB |")
    for key, label in (("stream", "reader: shuffled batches of 100 from the shards"),
                       ("memory", "reader: exact per-epoch permutation, in memory")):
        r = statistics.median(x[key] for x in reader)
        print(f"| {label} | {args.rows * 0.9 / r:.1f} | {r:,.0f} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
