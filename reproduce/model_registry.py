"""The models of the paper's tables, declared once (importable without Keras: the Snakefile
uses it).

A run's model is named by a family of ``NETWORKS`` (``shallow``, ``deep``) with optional
suffixes: ``_dropout`` (the NNdropOut/DNdropOut rows of Table 2), ``_w<width>`` and
``_h<hidden layers>`` (Supplementary Table 3). Everything else is derived from this
registry: the workflow's wildcard pattern, the config's check of ``models``, the table
labels, the SLURM runtimes. The BDT baseline is the one model that is not a network.

Adding a network family is one ``NetworkFamily`` entry in ``NETWORKS`` (and its builder in
``reproduce.train.models.hidden_layer_widths`` if it is not a stack of equal tanh layers).
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(frozen=True)
class NetworkFamily:
    """One family of the paper's networks.

    Attributes:
        label: the row label of the paper's tables ("NN", "DN").
        hidden_layers: hidden layers when the name does not say (``_h<n>``).
        min_hidden_layers, max_hidden_layers: the range a ``_h<n>`` suffix may ask for.
        minutes_per_10m_epoch: a generous SLURM time limit per epoch of 10M training rows on
            two CPU cores (a deep HIGGS epoch takes ~1.2 min there); the rule's runtime is
            this times the epochs and the rows.
    """

    label: str
    hidden_layers: int
    min_hidden_layers: int
    max_hidden_layers: int
    minutes_per_10m_epoch: float


NETWORKS = {
    "shallow": NetworkFamily(label="NN", hidden_layers=1, min_hidden_layers=1,
                             max_hidden_layers=1, minutes_per_10m_epoch=1),
    "deep": NetworkFamily(label="DN", hidden_layers=4, min_hidden_layers=2,
                          max_hidden_layers=6, minutes_per_10m_epoch=3),
}
DEFAULT_WIDTH = 300  # hidden units per layer in Tables 1 and 2 (the paper, Methods)
BDT = "bdt"
BDT_LABEL = "BDT"

MODEL_NAME_PATTERN = rf"({'|'.join(NETWORKS)})(_dropout)?(_w\d+)?(_h\d+)?"


def parse_model_name(name: str) -> dict:
    """``shallow``, ``deep_dropout``, ``shallow_w1000``, ``deep_h5`` ... -> its settings.

    Returns ``{"model", "dropout", "width", "depth"}``: the family, whether the top hidden
    layer is dropped, the hidden width (300 unless ``_w<n>``) and the number of hidden
    layers (the family's unless ``_h<n>``). Raises ValueError naming what is wrong.
    """
    match = re.fullmatch(MODEL_NAME_PATTERN, name)
    if not match:
        raise ValueError(
            f"model name {name!r}: expected a network family ({', '.join(NETWORKS)}), then "
            f"optionally _dropout, _w<width>, _h<hidden layers> (e.g. deep_dropout, "
            f"shallow_w1000, deep_h5)")
    base, dropout, width, depth = match.groups()
    family = NETWORKS[base]
    depth = int(depth[2:]) if depth else family.hidden_layers
    if not family.min_hidden_layers <= depth <= family.max_hidden_layers:
        raise ValueError(f"model name {name!r}: {base} nets have "
                         f"{family.min_hidden_layers}..{family.max_hidden_layers} hidden "
                         f"layers, got {depth}")
    width = int(width[2:]) if width else DEFAULT_WIDTH
    if width < 1:
        raise ValueError(f"model name {name!r}: the width must be at least 1")
    return {"model": base, "dropout": bool(dropout), "width": width, "depth": depth}


def model_label(name: str) -> str:
    """The paper's row label of a model: "BDT", "NN", "DNdropOut", "NN 1000", "DN 6 layers".

    Supp. Table 3 counts the output layer, so ``deep_h5`` is "DN 6 layers".
    """
    if name == BDT:
        return BDT_LABEL
    spec = parse_model_name(name)
    family = NETWORKS[spec["model"]]
    label = family.label + ("dropOut" if spec["dropout"] else "")
    if spec["width"] != DEFAULT_WIDTH:
        label += f" {spec['width']}"
    if spec["depth"] != family.hidden_layers:
        label += f" {spec['depth'] + 1} layers"
    return label


def table_order(name: str) -> tuple:
    """A sort key putting the BDT first, then the families in registry order, plain before
    dropout, then width and depth."""
    if name == BDT:
        return (-1,)
    spec = parse_model_name(name)
    return (list(NETWORKS).index(spec["model"]), spec["dropout"], spec["width"], spec["depth"])


def slurm_minutes(name: str, epochs: int, train_rows: int) -> int:
    """The SLURM time limit of one training: the family's minutes per 10M-row epoch times
    the epochs and the rows (wider or deeper nets scale by their weights), at least an hour."""
    spec = parse_model_name(name)
    family = NETWORKS[spec["model"]]
    scale = (spec["width"] / DEFAULT_WIDTH) ** 2 if spec["depth"] > 1 else spec["width"] / DEFAULT_WIDTH
    scale *= max(1.0, (spec["depth"] - 1) / max(1, family.hidden_layers - 1))
    return max(60, round(epochs * family.minutes_per_10m_epoch * max(1.0, scale)
                         * train_rows / 1e7))


def network_settings(name: str) -> dict:
    """The ``TrainingSettings`` fields a network's name sets: ``dropout``, ``width`` and
    ``depth`` (None where the name leaves the family's number of hidden layers)."""
    spec = parse_model_name(name)
    family = NETWORKS[spec["model"]]
    return {"dropout": spec["dropout"], "width": spec["width"],
            "depth": None if spec["depth"] == family.hidden_layers else spec["depth"]}


def model_labels(names) -> dict:
    """``{name: label}`` of the given model names, in the paper's table order."""
    return {name: model_label(name) for name in sorted(set(names), key=table_order)}
