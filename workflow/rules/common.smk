from pathlib import Path

from reproduce.datasets import get_dataset
from reproduce.model_names import MODEL_NAME_PATTERN
from reproduce.paper_values import SUPP_TABLE3

RESULTS = config["results"]
FIGURES = config["figures"]
RUN = "{model}-{features}-seed{seed}"


wildcard_constraints:
    dataset="HIGGS|SUSY",
    model=f"{MODEL_NAME_PATTERN}|bdt",
    network=MODEL_NAME_PATTERN,
    features="low|high|complete",
    seed=r"\d+",


def dataset_spec(dataset):
    return get_dataset(dataset, config["dataset_overrides"].get(dataset))


def train_rows(dataset):
    start, end = dataset_spec(dataset).splits["train"]
    return end - start


def source_file(wildcards):
    return f"resources/{wildcards.dataset}/{dataset_spec(wildcards.dataset).filename}"


def network_runs(pattern):
    """``pattern`` expanded over every network run of the config."""
    paths = []
    for dataset in config["datasets"]:
        paths += expand(
            pattern,
            dataset=dataset,
            model=config["models"].get(dataset, []),
            features=config["feature_sets"],
            seed=config["seeds"],
        )
    return paths


def all_runs(pattern):
    """``pattern`` expanded over every run: the networks and, if enabled, the BDT. The
    BDT runs once per feature set (first seed): without subsampling, scikit-learn's
    histogram boosting does not depend on the seed, so replicas would be identical."""
    paths = network_runs(pattern)
    if config["bdt"]["enabled"]:
        paths += expand(
            pattern,
            dataset=config["datasets"],
            model=["bdt"],
            features=config["feature_sets"],
            seed=config["seeds"][:1],
        )
    return paths


def fig8_runs(dataset):
    """Fig. 8 compares DN on low-level with NN on high-level inputs (first seed)."""
    models, feats = config["models"].get(dataset, []), config["feature_sets"]
    if dataset != "HIGGS" or not {"deep", "shallow"} <= set(models):
        return []
    if not {"low", "high"} <= set(feats):
        return []
    seed = config["seeds"][0]
    return [
        f"{RESULTS}/{dataset}/runs/deep-low-seed{seed}/test_scores.npz",
        f"{RESULTS}/{dataset}/runs/shallow-high-seed{seed}/test_scores.npz",
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


# The live log of a training in progress (reproduce.training.PROGRESS_DIR; the partial
# report's workflow test writes it there through that constant).
LIVE_LOG = "progress/log.csv"


def report_runs():
    """Every run of the config as the report reads it: identity and files (the same
    expansion as the report's inputs, so the report never parses folder names)."""
    run_dir = f"{RESULTS}/{{dataset}}/runs/{RUN}"
    columns = {
        "key": all_runs("{dataset}\t{model}\t{features}\t{seed}"),
        "metrics": all_runs(f"{run_dir}/metrics.json"),
        "evaluation": all_runs(f"{RESULTS}/{{dataset}}/evaluation/{RUN}.json"),
        "log": all_runs(f"{run_dir}/log.csv"),
        "progress_log": all_runs(f"{run_dir}/{LIVE_LOG}"),
    }
    runs = []
    for values in zip(*columns.values()):
        run = dict(zip(columns, values))
        dataset, model, features, seed = run.pop("key").split("\t")
        if model == "bdt":  # no per-epoch log
            run["log"] = run["progress_log"] = None
        runs.append(dict(run, dataset=dataset, model=model, feature_set=features, seed=seed))
    return runs
