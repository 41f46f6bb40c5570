from pathlib import Path

from reproduce.datasets import get_dataset

RESULTS = config["results"]
FIGURES = config["figures"]


wildcard_constraints:
    dataset="HIGGS|SUSY",
    model="shallow|deep|shallow_dropout|deep_dropout",
    features="low|high|complete",
    seed=r"\d+",


def dataset_spec(dataset):
    return get_dataset(dataset, config["dataset_overrides"].get(dataset))


def source_file(wildcards):
    return f"resources/{wildcards.dataset}/{dataset_spec(wildcards.dataset).filename}"


def run_dir(w):
    return f"{RESULTS}/{w.dataset}/runs/{w.model}-{w.features}-seed{w.seed}"


def all_runs(pattern):
    return expand(
        pattern,
        dataset=config["datasets"],
        model=config["models"],
        features=config["feature_sets"],
        seed=config["seeds"],
    )
