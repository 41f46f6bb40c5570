"""The runs a config asks for, in one list: the workflow expands its file patterns over it
(``workflow/rules/common.smk``) and ``python -m reproduce status`` counts the runs not
started yet from it.

Example:

>>> config = {"datasets": ["HIGGS"], "models": {"HIGGS": ["deep"]}, "feature_sets": ["low"],
...           "seeds": [1, 2], "bdt": {"enabled": True}}
>>> [run.name for run in planned_runs(config)]
['deep-low-seed1', 'deep-low-seed2', 'bdt-low-seed1']
"""

from __future__ import annotations

import dataclasses

from reproduce.layout import run_name
from reproduce.model_registry import BDT


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One run of the config: the wildcards of its files.

    Attributes:
        dataset: the data set's name (``HIGGS``).
        model: a network's name from ``reproduce.model_registry`` or ``bdt``.
        features: the feature set (``low``, ``high``, ``complete``).
        seed: the run's seed.
    """

    dataset: str
    model: str
    features: str
    seed: int

    @property
    def name(self) -> str:
        """The run's folder name: ``deep-complete-seed1``."""
        return run_name(self.model, self.features, self.seed)

    @property
    def is_network(self) -> bool:
        return self.model != BDT


def network_runs(config: dict) -> list[PlannedRun]:
    """Every network run of ``config``: per data set, its models x feature sets x seeds
    (the seed varying fastest)."""
    return [PlannedRun(dataset, model, features, seed)
            for dataset in config["datasets"]
            for model in config["models"].get(dataset, [])
            for features in config["feature_sets"]
            for seed in config["seeds"]]


def bdt_runs(config: dict) -> list[PlannedRun]:
    """The BDT runs of ``config`` (none unless ``bdt.enabled``): once per data set and
    feature set, with the first seed. Without subsampling, scikit-learn's histogram boosting
    does not depend on the seed, so replicas would be identical."""
    if not config["bdt"]["enabled"]:
        return []
    return [PlannedRun(dataset, BDT, features, config["seeds"][0])
            for dataset in config["datasets"] for features in config["feature_sets"]]


def planned_runs(config: dict) -> list[PlannedRun]:
    """Every run of ``config``: the networks, then the BDTs."""
    return network_runs(config) + bdt_runs(config)


@dataclasses.dataclass(frozen=True)
class PlannedPack:
    """The network runs of one (data set, network) trained as one pack
    (``compute.pack``, ``reproduce.train.packed_training``).

    Attributes:
        dataset: the data set's name.
        model: the network's name.
        runs: its runs (feature sets x seeds, in ``network_runs``' order).
    """

    dataset: str
    model: str
    runs: tuple


def packing_on(config: dict, n_gpus: int) -> bool:
    """Whether ``compute.pack`` packs on a machine with ``n_gpus`` GPUs visible
    (``reproduce.train.settings.PACKING``: ``auto`` packs on a GPU only), on either
    backend (``compute.backend``). ``auto`` never packs where the CPU is intended
    (``compute.device: cpu``).

    >>> packing_on({"compute": {"pack": "auto"}}, 0), packing_on({"compute": {"pack": "auto"}}, 1)
    (False, True)
    >>> packing_on({"compute": {"pack": "by_network", "backend": "jax"}}, 0)
    True
    >>> packing_on({"compute": {"pack": "auto", "device": "cpu"}}, 1)
    False
    """
    compute = config.get("compute", {})
    setting = compute.get("pack", "auto")
    on_gpu = n_gpus > 0 and compute.get("device", "auto") != "cpu"
    return setting == "by_network" or (setting == "auto" and on_gpu)


def packable_network(config: dict, network: str) -> bool:
    """Whether the runs of ``network`` can share one pack: no dropout, and the one shared
    batch stream (``training.batch_order: shared``)."""
    from reproduce.model_registry import network_settings

    shared = config.get("training", {}).get("batch_order", "shared") == "shared"
    return shared and not network_settings(network)["dropout"]


def planned_packs(config: dict, n_gpus: int) -> list[PlannedPack]:
    """The packs of ``config`` when packing is on (else none): one per (data set, packable
    network), holding all its runs; the other runs train one job each.

    Example:

    >>> config = {"datasets": ["HIGGS"], "models": {"HIGGS": ["deep", "deep_dropout"]},
    ...           "feature_sets": ["low", "high"], "seeds": [1], "compute": {"pack": "by_network"}}
    >>> [(p.model, [r.name for r in p.runs]) for p in planned_packs(config, 0)]
    [('deep', ['deep-low-seed1', 'deep-high-seed1'])]
    """
    if not packing_on(config, n_gpus):
        return []
    packs = {}
    for run in network_runs(config):
        if packable_network(config, run.model):
            packs.setdefault((run.dataset, run.model), []).append(run)
    return [PlannedPack(dataset, model, tuple(runs)) for (dataset, model), runs in packs.items()]
