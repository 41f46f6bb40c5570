"""Full-scale rehearsal: the real DAG, from download to report, on a file of the UCI size.

Writes a file in the exact UCI HIGGS layout (no header, 29 values ``%.18e``, gzip) by
resampling the lines of the embedded real sample (``data/higgs-sample.csv.gz``), serves it
over HTTP on 127.0.0.1 with its size and sha256 as ``dataset_overrides``, and runs every rule
of the default config with one seed and one epoch per training: download (sha256 check),
TFRecords, 6 trainings, 3 BDTs, evaluations, feature plots, Fig. 8 and the report. Then
prints, per rule, wall time and peak memory from Snakemake's ``benchmark:`` files (for rules
without one, the wall time from Snakemake's own log, and no memory).

    python benchmarks/full_scale.py                          # 11,000,000 rows, 500 trees
    python benchmarks/full_scale.py --rows 1100000 --bdt-trees 20   # a 10x smaller rehearsal

The splits keep the paper's proportions (train 10/11, valid and test 1/22 each: 10M / 500k
/ 500k at full size). Everything goes to ``benchmarks/out/full_scale-<rows>/`` (the data
file is cached across runs; the workflow's outputs are deleted first unless ``--keep``).
Needs about 3 GB of disk per 11M rows for the source file, the same again for the
download, and 1.3 GB for the shards.
"""

from __future__ import annotations

import argparse
import csv
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import yaml

from conversion import build_file  # the resampler of the conversion benchmark (same folder)

from reproduce.atomic_files import sha256_of

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def serve(folder: Path) -> http.server.ThreadingHTTPServer:
    """A static HTTP server for ``folder`` on 127.0.0.1 (a free port), in a thread."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def rehearsal_config(url: str, path: Path, rows: int, trees: int) -> dict:
    """The default config with the served file, the paper's split proportions, one seed,
    one epoch per training and ``trees`` BDT trees."""
    held_out = rows // 22  # 500,000 of 11,000,000
    train_end = rows - 2 * held_out
    return {
        "dataset_overrides": {"HIGGS": {
            "urls": [url], "filename": "HIGGS.csv.gz", "size": path.stat().st_size,
            "sha256": sha256_of(path), "rows": rows,
            "splits": {"train": [0, train_end], "valid": [train_end, rows - held_out],
                       "test": [rows - held_out, rows]}}},
        "seeds": [1],
        "training": {"max_epochs": 1},
        "bdt": {"max_iter": trees},
    }


def workflow_copy(folder: Path) -> None:
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, folder / name)
    shutil.copytree(REPO / "workflow", folder / "workflow", dirs_exist_ok=True)


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")


def wall_times_from_log(log: Path) -> dict:
    """``{jobid: (rule, wildcards, seconds)}`` from Snakemake's log: the time stamps before
    a job's ``rule NAME:`` block and before its ``Finished jobid: N``."""
    starts, finished, stamp, rule, job = {}, {}, None, None, None
    for line in log.read_text().splitlines():
        line = line.strip()
        if m := _STAMP.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := re.match(r"^(?:local)?rule (\w+):$", line):
            rule, job = m.group(1), None
        elif (m := re.match(r"^jobid: (\d+)$", line)) and rule:
            job = m.group(1)
            starts[job] = [rule, "", stamp]
        elif line.startswith("wildcards:") and job in starts:
            starts[job][1] = line.split(":", 1)[1].strip()
        elif m := re.match(r"^Finished job(?:id:)? (\d+)", line):
            finished[m.group(1)] = stamp
    return {job: (rule, wc, (finished[job] - start).total_seconds())
            for job, (rule, wc, start) in starts.items() if job in finished}


def benchmark_rows(results: Path) -> list[dict]:
    """One row per ``benchmark:`` file under ``results/benchmarks/<rule>/``."""
    rows = []
    for path in sorted((results / "benchmarks").rglob("*.tsv")):
        rule = path.relative_to(results / "benchmarks").parts[0]
        with open(path) as f:
            record = next(csv.DictReader(f, delimiter="\t"))
        rows.append({"rule": rule, "job": path.stem, "seconds": float(record["s"]),
                     "max_rss_mb": float(record["max_rss"]) if record["max_rss"] != "-" else None})
    return rows


DAG_ORDER = ["download", "tfrecords", "train", "bdt", "evaluate", "feature_distributions",
             "mass_after_cut", "report"]


def rule_order(rule: str) -> tuple:
    """Rules in the order of the DAG; any other (a rule added later) after them."""
    return (DAG_ORDER.index(rule), "") if rule in DAG_ORDER else (len(DAG_ORDER), rule)


def rule_table(measured: list[dict], with_benchmark: set) -> str:
    """Per rule: jobs, wall time (each job: min-max, and summed), largest peak RSS."""
    lines = ["| rule | jobs | wall time per job | summed | peak RSS (largest) | measured by |",
             "|---|---:|---:|---:|---:|---|"]
    for rule in sorted({r["rule"] for r in measured}, key=rule_order):
        jobs = [r for r in measured if r["rule"] == rule]
        if not jobs:
            continue
        times = [r["seconds"] for r in jobs]
        span = (f"{times[0]:,.1f} s" if len(times) == 1
                else f"{min(times):,.1f}-{max(times):,.1f} s")
        rss = [r["max_rss_mb"] for r in jobs if r["max_rss_mb"] is not None]
        peak = f"{max(rss):,.0f} MB" if rss else "n/a"
        source = ("`benchmark:` files" if rule in with_benchmark
                  else "Snakemake's log (no `benchmark:`, 1 s resolution)")
        lines.append(f"| {rule} | {len(jobs)} | {span} | {sum(times):,.1f} s | {peak} | "
                     f"{source} |")
    return "\n".join(lines)


def tables(work: Path) -> str:
    """The per-rule and per-job tables of the rehearsal in ``work``."""
    measured = benchmark_rows(work / "results")
    with_benchmark = {r["rule"] for r in measured}
    for rule, wildcards, seconds in sorted(wall_times_from_log(work / "snakemake.out").values()):
        if rule not in with_benchmark and rule != "all":
            measured.append({"rule": rule, "job": wildcards or "-", "seconds": seconds,
                             "max_rss_mb": None})
    disk = sum(p.stat().st_size for p in work.rglob("*") if p.is_file())
    lines = [f"{disk / 1e9:.2f} GB written under {work}", "", rule_table(measured, with_benchmark),
             "", "Per job:", "", "| rule | job | wall time | peak RSS |", "|---|---|---:|---:|"]
    for r in sorted(measured, key=lambda r: (rule_order(r["rule"]), r["job"])):
        rss = f"{r['max_rss_mb']:,.0f} MB" if r["max_rss_mb"] is not None else "n/a"
        lines.append(f"| {r['rule']} | {r['job']} | {r['seconds']:,.1f} s | {rss} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=11_000_000,
                        help="rows of the generated file (default: the UCI 11,000,000)")
    parser.add_argument("--bdt-trees", type=int, default=500,
                        help="bdt.max_iter (default: the config's 500)")
    parser.add_argument("--cores", default="all")
    parser.add_argument("--keep", action="store_true", help="keep earlier outputs (resume)")
    parser.add_argument("--table-only", action="store_true",
                        help="print the tables of an earlier rehearsal of --rows, run nothing")
    args = parser.parse_args(argv)
    if args.table_only:
        print(tables(HERE / "out" / f"full_scale-{args.rows}"))
        return 0

    out = HERE / "out"
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    source = build_file(args.rows, out)
    build_s = time.perf_counter() - t0
    served = out / f"served-{args.rows}"
    served.mkdir(exist_ok=True)
    if not (served / "HIGGS.csv.gz").exists():
        os.link(source, served / "HIGGS.csv.gz")
    server = serve(served)
    url = f"http://127.0.0.1:{server.server_address[1]}/HIGGS.csv.gz"

    work = out / f"full_scale-{args.rows}"
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    workflow_copy(work)
    config = rehearsal_config(url, source, args.rows, args.bdt_trees)
    (work / "rehearsal.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"# {args.rows:,} rows ({source.stat().st_size / 1e9:.2f} GB gz, built or reused "
          f"in {build_s:.0f} s) served at {url}; {args.bdt_trees} BDT trees; "
          f"{os.cpu_count()} CPUs; workflow in {work}", flush=True)

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", args.cores,
                           "--configfile", "rehearsal.yaml"], cwd=work,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    total_s = time.perf_counter() - t0
    server.shutdown()
    (work / "snakemake.out").write_text(proc.stdout)
    if proc.returncode != 0:
        print(proc.stdout[-5000:])
        print(f"snakemake failed (exit {proc.returncode}); full output in {work}/snakemake.out")
        return 1

    print(f"\nsnakemake: {total_s:.0f} s end to end")
    print(tables(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
