from pathlib import Path

from reproduce import runs_plan
from reproduce.datasets import DATASETS, FEATURE_SETS, get_dataset
from reproduce.layout import (
    RUN,
    ReportFiles,
    RunFiles,
    TFRecordFiles,
    evaluation_file,
    run_folder,
    tfrecord_folder,
)
from reproduce.model_registry import BDT, MODEL_NAME_PATTERN, slurm_minutes
from reproduce.paper_values import SUPP_TABLE3
from reproduce.train.gpu_slots import count_gpus

RESULTS = config["results"]
FIGURES = config["figures"]

# Every path of a stage, from reproduce.layout (the one home of the file names).
TFRECORDS = TFRecordFiles.in_folder(tfrecord_folder(RESULTS, "{dataset}"))
NETWORK_RUN = RunFiles.in_folder(
    run_folder(RESULTS, "{dataset}", "{network}-{features}-seed{seed}")
)
BDT_RUN = RunFiles.in_folder(run_folder(RESULTS, "{dataset}", "bdt-{features}-seed{seed}"))
ANY_RUN = RunFiles.in_folder(run_folder(RESULTS, "{dataset}", RUN))
EVALUATION = str(evaluation_file(RESULTS, "{dataset}", RUN))
REPORT = ReportFiles.in_folder(FIGURES, f"{RESULTS}/report/captions")


wildcard_constraints:
    dataset="|".join(DATASETS),
    model=f"{MODEL_NAME_PATTERN}|{BDT}",
    network=MODEL_NAME_PATTERN,
    features="|".join(FEATURE_SETS),
    seed=r"\d+",


def dataset_spec(dataset):
    return get_dataset(dataset, config["dataset_overrides"].get(dataset))


def train_rows(dataset):
    start, end = dataset_spec(dataset).splits["train"]
    return end - start


def data_mb(dataset, bytes_per_value):
    """Megabytes of the whole file held as a matrix of ``bytes_per_value`` numbers."""
    spec = dataset_spec(dataset)
    return spec.rows * len(spec.columns) * bytes_per_value / 1e6


def train_mem_mb(wildcards):
    """A training holds the three splits in float32 and tf.data's copy of the training
    rows: about five float32 copies of the file, plus TensorFlow (1.5 GB)."""
    return round(1500 + data_mb(wildcards.dataset, 4) * 5)


def bdt_mem_mb(wildcards):
    """scikit-learn's boosting reads float32, converts to float64 and bins: about four
    float64 copies of the file, plus the interpreter (2 GB)."""
    return round(2000 + data_mb(wildcards.dataset, 8) * 4)


def train_minutes(wildcards):
    """The SLURM time limit of a training (reproduce.model_registry.slurm_minutes)."""
    return slurm_minutes(
        wildcards.network, config["training"]["max_epochs"], train_rows(wildcards.dataset)
    )


def source_file(wildcards):
    return f"resources/{wildcards.dataset}/{dataset_spec(wildcards.dataset).filename}"


def expand_runs(pattern, runs):
    """``pattern`` expanded over ``runs`` (reproduce.runs_plan.PlannedRun), in their order."""
    return expand(
        pattern,
        zip,
        dataset=[run.dataset for run in runs],
        model=[run.model for run in runs],
        features=[run.features for run in runs],
        seed=[run.seed for run in runs],
    )


def network_runs(pattern):
    """``pattern`` expanded over every network run of the config."""
    return expand_runs(pattern, runs_plan.network_runs(config))


def all_runs(pattern):
    """``pattern`` expanded over every run: the networks and, if enabled, the BDTs
    (reproduce.runs_plan.planned_runs)."""
    return expand_runs(pattern, runs_plan.planned_runs(config))


def fig8_runs(dataset):
    """Fig. 8 compares DN on low-level with NN on high-level inputs (first seed), for a
    data set whose registry entry names the masses to plot."""
    models, feats = config["models"].get(dataset, []), config["feature_sets"]
    if not dataset_spec(dataset).mass_features:
        return []
    if not {"deep", "shallow"} <= set(models) or not {"low", "high"} <= set(feats):
        return []
    seed = config["seeds"][0]
    return [
        str(RunFiles.in_folder(run_folder(RESULTS, dataset, f"{model}-{f}-seed{seed}")).scores)
        for model, f in (("deep", "low"), ("shallow", "high"))
    ]


def supp_table3_runs(pattern):
    """Supp. Table 3's networks on HIGGS (first seed): widths 300..10000, 2..5 hidden layers."""
    same_as_table1 = {"shallow_w300": "shallow", "deep_h4": "deep"}
    return expand(
        pattern,
        dataset="HIGGS",
        model=[same_as_table1.get(m, m) for m in SUPP_TABLE3],
        features=config["feature_sets"],
        seed=config["seeds"][:1],
    )


def report_runs():
    """Every run of the config as the report reads it: identity and files (the same
    expansion as the report's inputs, so the report never parses folder names)."""
    columns = {
        "key": all_runs("{dataset}\t{model}\t{features}\t{seed}"),
        "metrics": all_runs(str(ANY_RUN.metrics)),
        "evaluation": all_runs(str(EVALUATION)),
        "log": all_runs(str(ANY_RUN.log)),
        "progress_log": all_runs(str(ANY_RUN.live_log)),
    }
    runs = []
    for values in zip(*columns.values()):
        run = dict(zip(columns, values))
        dataset, model, features, seed = run.pop("key").split("\t")
        if model == BDT:  # no per-epoch log
            run["log"] = run["progress_log"] = None
        runs.append(dict(run, dataset=dataset, model=model, feature_set=features, seed=seed))
    return runs


# ---- for train.smk
import math
import os
from types import SimpleNamespace

from reproduce.train.job_budget import jobs_needed

CLUSTER_JOB_MINUTES = 1440  # compute.max_job_minutes: auto under a cluster executor


def max_job_minutes():
    """compute.max_job_minutes with auto resolved: CLUSTER_JOB_MINUTES when jobs go to a
    cluster (this process submits them, or runs inside a SLURM job), else None."""
    value = config["compute"]["max_job_minutes"]
    if value != "auto":
        return value
    on_cluster = not workflow.local_exec or "SLURM_JOB_ID" in os.environ
    return CLUSTER_JOB_MINUTES if on_cluster else None


def train_job_minutes(wildcards):
    """The runtime a training job asks for: its estimate, capped at max_job_minutes."""
    return capped_job_minutes(train_minutes(wildcards))


def pack_minutes(wildcards):
    """The SLURM time limit of a pack: its runs' limits added (a GPU trains them faster)."""
    return train_minutes(wildcards) * len(config["feature_sets"]) * len(config["seeds"])


def pack_job_minutes(wildcards):
    """The runtime a pack's job asks for: its estimate, capped at max_job_minutes."""
    return capped_job_minutes(pack_minutes(wildcards))


def capped_job_minutes(minutes):
    cap = max_job_minutes()
    return minutes if cap is None else max(1, min(minutes, math.ceil(cap)))


def train_retries():
    """Resubmissions of a training: one per further job its longest run spans under the
    cap, plus one for a failure; None (the profile's retries) when every run fits in one
    job or there is no cap; 0 inside a SLURM job (a job step that restarted its training
    there would run into the job's time limit)."""
    return job_retries(max((train_minutes(SimpleNamespace(dataset=r.dataset, network=r.model))
                            for r in runs_plan.network_runs(config)), default=0))


def pack_retries():
    """``train_retries`` of the packs: one per further job the longest pack spans."""
    return job_retries(max((pack_minutes(SimpleNamespace(dataset=p.dataset, network=p.model))
                            for p in PACKS), default=0))


def job_retries(longest_minutes):
    if "SLURM_JOB_ID" in os.environ:
        return 0  # inside a job: resubmitting is the submitting process's, not a restart here
    cap = max_job_minutes()
    if cap is None:
        return None
    jobs = jobs_needed(longest_minutes, cap)
    return jobs if jobs > 1 else None


# ---- for train_pack.smk
# compute.pack (reproduce.train.settings.PACKING): when it is on, one job per pack trains
# every run of a (data set, network) (reproduce.runs_plan.planned_packs); the train rule then
# serves only the runs left unpacked (the dropout networks). rule all and the report read
# the same run files either way.
PACKS = runs_plan.planned_packs(config, count_gpus(config["compute"]["gpus"]))
PACKED_NETWORKS = sorted({pack.model for pack in PACKS})


def pack_outputs(pattern):
    """``pattern`` (a run file of NETWORK_RUN) over the pack's feature sets and seeds, the
    {dataset} and {network} wildcards kept."""
    return expand(pattern, features=config["feature_sets"], seed=config["seeds"],
                  allow_missing=True)


# ---- for report.smk
# The partial report's own folder: a partial report never overwrites the final one.
PARTIAL_REPORT = ReportFiles.in_folder(f"{FIGURES}/partial", f"{RESULTS}/report/partial")


def run_name():
    """What every table and figure calls this run: the preset, else the config files."""
    if config.get("preset", "none") not in (None, "none"):
        return f"{config['preset']} preset"
    return " + ".join(Path(f).name for f in workflow.configfiles) or "config.yaml"


def fig8_metrics(dataset):
    """The metrics.json of Fig. 8's two runs (what run the figure shows)."""
    return [str(RunFiles.in_folder(Path(p).parent).metrics) for p in fig8_runs(dataset)]
