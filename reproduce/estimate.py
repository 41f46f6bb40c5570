"""What a configured run will cost, before anything runs: ``python -m reproduce estimate``.

Each distinct network of the config (model variant x input width) is timed here
(``reproduce.estimate_timing``), through the package's own training path on the config's
``compute.backend`` (``training_network``, the backend's block steps and blocks, the
per-batch learning-rate schedule): a few hundred real SGD steps on random data of the network's input width, on the GPU if the backend sees one,
on ``compute.train_threads`` CPU threads otherwise (on JAX, every core). Validation scoring
(``evaluate`` at the validation batch size) and the per-epoch state checkpoint are timed
too. The rest (download, conversion, BDT, memory) is scaled from the rates measured once
below.

The plan assumes each training runs ``training.max_epochs`` epochs: exactly so under the
``authors`` stopping rule; for ``pylearn2`` and ``paper_text`` the stop depends on the data,
and the cap is the figure to plan an allocation with.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import time

from reproduce.datasets import DATASETS, get_dataset
from reproduce.estimate_timing import time_network, time_pack
from reproduce.model_registry import parse_model_name

# ---- Rates measured once, with their provenance (the only constants of the estimate) ----
# All from the full-scale rehearsal on the project's 2-core development VM (no GPU): the
# real DAG on an 11,000,000-row file in the UCI layout served over 127.0.0.1
# (benchmarks/full_scale.py; its table is in benchmarks/README.md).
MEASURED_ON = ("a 2-core VM (no GPU): the full-scale rehearsal of 11M rows "
               "(benchmarks/full_scale.py) and the estimate of docs/performance.md")
# download rule: 3.3 GB over loopback HTTP in 11 s, sha256 check included
DOWNLOAD_BYTES_PER_SECOND = 3.3e9 / 11
# tfrecords rule: 11M rows in 47 s (40 s inside write_tfrecord_shards)
CONVERSION_ROWS_PER_SECOND = 11e6 / 47
# bdt rule: about 1.9 s per tree on 10M training rows (500 trees: ~16 min per feature set)
BDT_SECONDS_PER_TREE_PER_ROW = 1.9 / 10e6
# Seconds per 10M-row epoch (SGD + validation and train monitor) that this estimate printed
# for Table 1 on the quiet 2-core VM (load 0.3, 2026-11-30; docs/performance.md, "The
# estimate for Table 1", tested equal): shown beside the timings made here, for comparison.
# (A whole one-epoch train job, with TensorFlow's start-up, reading 11M rows, test scoring
# and the saves, took 126-163 s deep and 21-36 s shallow in the rehearsal: not an epoch.)
# The rehearsal's peak RSS was up to 4.6 GB (deep, complete features): the memory used here.
REFERENCE_EPOCH_SECONDS = {"deep": (67.3, 69.5), "shallow": (4.4, 7.4)}
TRAINING_PEAK_RSS_BYTES = 4.6e9
TRAINING_PEAK_RSS_ROWS = 11_000_000
# Bytes per value of a .csv.gz in the UCI layout, for a file whose size is not published
# (SUSY): HIGGS.csv.gz's published size over its 11M x 29 values.
GZ_BYTES_PER_VALUE = DATASETS["HIGGS"].size / (DATASETS["HIGGS"].rows * 29)
# compute.pack: a pack of R runs costs R unpacked runs of the network divided by packing's
# speed-up. CPU: measured by benchmarks/packed_throughput.py on the 2-core VM, a pack of 15
# against 15 runs one after another at the package's blocks of 1000 (2026-12-03, median of
# 3 pairs; compute.pack: auto does not pack on the CPU, by_network does). GPU: the pack is
# timed on it (time_pack); the packing design's target (a pack of 15 at about the cost of 2
# runs, 7.5x) is the assumption used only where no timing is given.
PACK_SPEEDUP_CPU = {"shallow": 1.22, "deep": 1.18}
PACK_SPEEDUP_GPU = 7.5
# Not measured, an assumption stated where it is used: a sustained download from UCI.
ASSUMED_INTERNET_BYTES_PER_SECOND = 10e6

def planned_epochs(training: dict, dropout: bool) -> tuple[int, str]:
    """(epochs to plan for, the assumption in words) under ``training.stopping``."""
    cap = training["max_epochs"]
    rule = training.get("stopping", "authors")
    patience = training["dropout_patience" if dropout else "patience"]
    saturation = training["momentum_saturation_epochs"]
    if rule == "authors":
        return cap, (f"authors: trains the full training.max_epochs = {cap} epochs (the "
                     f"authors' instruction for reproducing the paper's numbers)")
    if rule == "pylearn2":
        earliest = min(patience + saturation, cap)
        return cap, (f"pylearn2: stops about {saturation} epochs after the validation loss "
                     f"stagnates (the authors' deep runs went ~1000 epochs); depends on the "
                     f"data: at the earliest {earliest}, planned at the cap "
                     f"training.max_epochs = {cap}")
    earliest = min(max(saturation, patience) + 1, cap)
    return cap, (f"{rule}: stops once momentum has saturated (epoch {saturation}) and the "
                 f"validation loss has not improved by a factor "
                 f"{training['min_relative_improvement']:g} for {patience} epochs; depends on "
                 f"the data: at the earliest {earliest}, planned at the cap "
                 f"training.max_epochs = {cap}")


def makespan(durations: list[float], slots: int) -> float:
    """Wall time of independent jobs on ``slots`` equal slots, longest job first, each to
    the slot that frees up first (LPT scheduling, as a job scheduler would run them)."""
    loads = [0.0] * slots
    for d in sorted(durations, reverse=True):
        loads[loads.index(min(loads))] += d
    return max(loads)


def bdt_seconds(config: dict, dataset: str) -> float:
    """One BDT of ``dataset`` at ``bdt.max_iter`` trees, at the measured rate per tree."""
    spec = get_dataset(dataset, config["dataset_overrides"].get(dataset))
    return config["bdt"]["max_iter"] * BDT_SECONDS_PER_TREE_PER_ROW * split_rows(spec)["train"]


def split_rows(spec) -> dict:
    return {name: end - start for name, (start, end) in spec.splits.items()}


def duration(seconds: float) -> str:
    """``42 s``, ``3.5 min``, ``7.2 h``, ``3.1 days``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@dataclasses.dataclass
class Plan:
    """What ``plan`` measured and scaled: the parts ``render`` prints for any ``--jobs``."""

    rows: list          # table rows, one per (data set, network, feature set)
    lines: list         # data, BDT and memory lines
    notes: set          # the stopping assumptions
    run_seconds: list   # one entry per network training
    bdt_seconds: list   # one entry per BDT
    data_seconds: float  # download and conversion, all data sets
    device: str
    steps_timed: list
    seconds: float = 0.0  # how long the timing took
    load: float = 0.0     # the 1-minute load average when the timing began
    epoch_seconds: dict = dataclasses.field(default_factory=dict)  # (data set, network, features)


def plan(config: dict) -> Plan:
    """Time every distinct network of the validated ``config`` and scale the rest."""
    from reproduce.train.backend_setup import configure_backend

    started = time.perf_counter()
    load = os.getloadavg()[0]
    configure_backend(0, config["compute"]["train_threads"])
    result = Plan([], [], set(), [], [], 0.0, "", [])
    timings = {}
    for name in config["datasets"]:
        spec = get_dataset(name, config["dataset_overrides"].get(name))
        result.lines.append(plan_data(spec, result))
        for network in config["models"].get(name, []):
            plan_network(config, spec, network, timings, result)
        if config["bdt"]["enabled"]:
            result.lines.append(plan_bdt(config, spec, result))
        peak = TRAINING_PEAK_RSS_BYTES * spec.rows / TRAINING_PEAK_RSS_ROWS
        result.lines.append(
            f"{name}: memory per training job about {peak / 1e9:.1f} GB (scaled by rows from "
            f"{TRAINING_PEAK_RSS_BYTES / 1e9:.1f} GB measured for {TRAINING_PEAK_RSS_ROWS:,} rows)")
    result.device = (next(iter(timings.values())).device if timings
                     else "no network in the config")
    result.steps_timed = sorted({t.steps_timed for t in timings.values()})
    result.seconds = time.perf_counter() - started
    result.load = load
    return result


def plan_data(spec, result: Plan) -> str:
    """Add the download and conversion of ``spec`` to ``result``; their line."""
    size = spec.size or spec.rows * len(spec.columns) * GZ_BYTES_PER_VALUE
    download = size / DOWNLOAD_BYTES_PER_SECOND
    convert = spec.rows / CONVERSION_ROWS_PER_SECOND
    result.data_seconds += download + convert
    return (f"{spec.name}: download {size / 1e9:.2f} GB"
            f"{'' if spec.size else ' (estimated size)'}: "
            f"{duration(download)} at the rate measured over loopback, "
            f"{duration(size / ASSUMED_INTERNET_BYTES_PER_SECOND)} at an assumed 10 MB/s from "
            f"UCI; conversion of {spec.rows:,} rows: {duration(convert)}")


def plan_network(config: dict, spec, network: str, timings: dict, result: Plan) -> None:
    """Time ``network`` (once per input width and block) and add its trainings of every
    feature set and seed to ``result``."""
    from reproduce.train.settings import settings_for

    training, n = config["training"], split_rows(spec)
    variant = parse_model_name(network)
    settings = settings_for(network, training, threads=config["compute"]["train_threads"])
    epochs, assumption = planned_epochs(training, variant["dropout"])
    result.notes.add(assumption)
    runs, jobs, block_seconds, columns = len(config["seeds"]), [], [], []
    for features in config["feature_sets"]:
        n_inputs = len(spec.feature_indices(features))
        key = (network, n_inputs, settings.block_size(n["train"]))
        if key not in timings:
            timings[key] = time_network(network, n_inputs, settings, n["train"])
        t = timings[key]
        block_seconds += [t.seconds_per_block] * runs
        columns += [list(spec.feature_indices(features))] * runs
        # the epoch's minibatches at the timed rate: an epoch's last, shorter block (and
        # its partial batch) costs its own steps, not a whole block's
        train_s = n["train"] / settings.batch_size * t.seconds_per_block / t.block_size
        # validation, and the train monitor's first rows of the training split
        monitor = min(settings.train_monitor_rows, n["train"])
        valid_s = ((n["valid"] + monitor) / t.scoring_rows_per_second
                   + t.evaluate_call_seconds * (2 if monitor else 1))
        epoch_s = train_s + valid_s + t.checkpoint_seconds
        per_run = epochs * epoch_s + t.compile_seconds + n["test"] / t.scoring_rows_per_second
        result.epoch_seconds[spec.name, network, features] = epoch_s
        jobs += [per_run] * runs
        result.rows.append(
            f"| {spec.name} | {network} | {features} ({n_inputs}) | {runs} | "
            f"{t.block_size * settings.batch_size / t.seconds_per_block:,.0f} | "
            f"{train_s:,.1f} + {valid_s:,.1f} + {t.checkpoint_seconds:.1f} = "
            f"{epoch_s:,.1f} | {reference_epoch(variant['model'])} | "
            f"{epochs:,} | {per_run / 3600:,.2f} | {runs * per_run / 3600:,.1f} |")

    def measured_speedup():  # on a GPU: the pack timed here against its runs' timings
        n_features = len(spec.feature_indices("complete"))
        return sum(block_seconds) / time_pack(network, columns, n_features, settings,
                                              n["train"])

    result.run_seconds += pack_jobs(config, network, jobs, t.device, result,
                                    measure=measured_speedup)


def pack_jobs(config: dict, network: str, runs: list[float], device: str,
              result: Plan, measure=None) -> list[float]:
    """The training jobs of ``network``'s runs (seconds each): one per run, or one pack of
    them all when ``compute.pack`` packs it: their sum over the pack's speed-up, on a GPU
    ``measure()`` (the pack timed on it, against its runs timed alone) where given, else
    ``PACK_SPEEDUP_*``.

    Example:

    >>> from reproduce.estimate import Plan
    >>> config = {"compute": {"pack": "by_network", "gpus": 0}, "training": {}}
    >>> plan = Plan([], [], set(), [], [], 0.0, "", [])
    >>> [round(s, 6) for s in pack_jobs(config, "deep", [118.0, 118.0], "CPU, 2 threads", plan)]
    [200.0]
    """
    from reproduce.runs_plan import packable_network, packing_on
    from reproduce.train.gpu_slots import count_gpus

    gpu = device.startswith("GPU")
    if not (packing_on(config, 1 if gpu else count_gpus(config["compute"]["gpus"]))
            and packable_network(config, network)):
        return runs
    family = parse_model_name(network)["model"]
    if gpu and measure is not None:
        speedup, source = measure(), "a pack of them timed on this GPU against one run"
    elif gpu:
        speedup = PACK_SPEEDUP_GPU
        source = "assumed, not yet measured on a GPU: benchmarks/gpu_packed.py measures it"
    else:
        speedup = PACK_SPEEDUP_CPU.get(family, 1.0)
        source = "measured on the CPU"
    result.notes.add(f"{network}: its {len(runs)} runs train as one pack (compute.pack), "
                     f"priced at {speedup:.3g}x the speed of unpacked runs ({source})")
    return [sum(runs) / speedup]


def reference_epoch(model: str) -> str:
    """The measured seconds per 10M-row epoch of ``model``'s family, as "low-high s".

    Example:

    >>> reference_epoch("shallow"), reference_epoch("bdt")
    ('4.4-7.4 s', '')
    """
    low_high = REFERENCE_EPOCH_SECONDS.get(model)
    return f"{low_high[0]:g}-{low_high[1]:g} s" if low_high else ""


def plan_bdt(config: dict, spec, result: Plan) -> str:
    """Add the BDTs of ``spec`` (one per feature set) to ``result``; their line."""
    one = bdt_seconds(config, spec.name)
    result.bdt_seconds += [one] * len(config["feature_sets"])
    return (f"{spec.name}: BDT {len(config['feature_sets'])} x {config['bdt']['max_iter']} "
            f"trees on {split_rows(spec)['train']:,} rows: {duration(one)} each at most "
            f"(early stopping on the validation split may end it sooner)")


def render(result: Plan, config: dict, jobs: int) -> str:
    """The plan as text, with the wall time on ``jobs`` parallel slots."""
    training = config["training"]
    threads = config["compute"]["train_threads"]
    if result.device.endswith("(jax)"):  # JAX's CPU client takes every core
        threads = os.cpu_count() or 1
    gpu = result.device.startswith("GPU")
    steps = result.steps_timed or [0]
    network_hours = sum(result.run_seconds) / 3600
    everything = result.run_seconds + result.bdt_seconds
    parallel = makespan(everything, jobs) if everything else 0.0
    return "\n".join([
        f"# Cost estimate: {len(result.run_seconds)} network trainings and "
        f"{len(result.bdt_seconds)} BDTs",
        "",
        f"Timed on this machine in {result.seconds:.0f} s ({os.cpu_count()} CPUs; trainings on "
        f"{result.device}): {steps[0]}{'' if steps[0] == steps[-1] else f'-{steps[-1]}'} real "
        f"SGD steps per network (batch "
        f"{training['batch_size']}, random data of the input width), median block; validation "
        f"and test scoring with evaluate at batch {training['validation_batch_size']:,}."
        + (f" Load average {result.load:.1f} when it began: other processes shared the "
           f"{os.cpu_count()} CPUs, so these timings are pessimistic."
           if result.load > 0.5 * (os.cpu_count() or 1) else ""),
        "",
        "| data set | network | features (inputs) | runs | train ex/s | s per epoch: train + "
        "valid and train monitor + checkpoint | reference s per 10M-row epoch, 2-core VM | epochs "
        "planned | hours per run | hours, all runs |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *result.rows,
        "",
        ("Epochs: " + "; ".join(sorted(result.notes))) if result.notes
        else "Epochs: no network trainings.",
        "",
        *result.lines,
        "",
        f"Networks: {network_hours:,.1f} {'GPU-hours' if gpu else 'CPU job-hours'}"
        + ("" if gpu else f" ({network_hours * threads:,.1f} core-hours at {threads} threads "
           f"per job)")
        + f"; BDTs: {sum(result.bdt_seconds) / 3600:,.1f} CPU job-hours.",
        f"Wall time with --jobs {jobs} ({jobs} training slot{'s' if jobs > 1 else ''}, each a "
        f"{'GPU' if gpu else 'machine'} like this one): download and conversion "
        f"{duration(result.data_seconds)}, then trainings and BDTs {duration(parallel)} "
        f"(longest job {duration(max(everything, default=0))}): "
        f"{duration(result.data_seconds + parallel)} in all.",
        f"Measured rates used for download, conversion, BDT, memory and the reference epochs: "
        f"{MEASURED_ON}.",
    ])


def estimate_command(config: dict, jobs: int) -> str:
    """``python -m reproduce estimate``: the plan of the validated ``config`` as text.

    TensorFlow's and CUDA's start-up messages (written by native code to the process's
    stderr, whatever ``TF_CPP_MIN_LOG_LEVEL`` says) are held back; they are shown only if
    the timing fails.
    """
    from reproduce.backend import select_backend
    from reproduce.train.device import hide_gpus

    select_backend(config["compute"]["backend"])  # the backend the trainings will use
    if config["compute"].get("device") == "cpu":  # as the training jobs: on the CPU
        hide_gpus()
    with native_stderr_held():
        result = plan(config)
    return render(result, config, jobs)


@contextlib.contextmanager
def native_stderr_held():
    """Send file descriptor 2 (native libraries' stderr too) to a temporary file for the
    block; write what it caught to the real stderr only if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            caught.seek(0)
            os.write(2, caught.read())
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
