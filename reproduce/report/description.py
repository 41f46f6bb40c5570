"""How the runs were made, from the settings each run recorded in its metrics.json: data and
split, networks, recipe, stopping, minibatch order, evaluated weights, seeds, the BDT and
the versions (``describe_runs``), and the texts of those settings that the table and the
captions reuse.

What a setting's value means (a stopping rule, a standardization, the evaluated weights)
is read through :func:`setting_meaning` only, from the settings' one home
(``reproduce.train.settings``; standardizations from ``reproduce.data.tfrecords``).
"""

from __future__ import annotations

import pandas as pd

from reproduce.data.tfrecords import STANDARDIZATIONS
from reproduce.datasets import FEATURE_LABELS
from reproduce.model_registry import model_label
from reproduce.train.device import device_summary
from reproduce.train.settings import EVALUATED_WEIGHTS, STOPPING_RULES

# training.stopping's words with the rule's name in front, as the description table shows it
STOPPING_DESCRIPTION = {name: f"{name}: {meaning}" for name, meaning in STOPPING_RULES.items()}
# {setting: {value: what it means}}, the one place the report looks a meaning up.
SETTING_MEANINGS = {"evaluated_weights": EVALUATED_WEIGHTS, "stopping": STOPPING_DESCRIPTION,
                    "standardize": STANDARDIZATIONS}


def setting_meaning(setting: str, value, default=None):
    """What ``value`` of a recorded ``setting`` means, or ``default`` when it is unknown.

    Example:

    >>> setting_meaning("evaluated_weights", "final")
    'the weights when training ended'
    >>> setting_meaning("stopping", "patience_42", "patience_42")
    'patience_42'
    """
    return SETTING_MEANINGS[setting].get(value, default)


def grouped(runs: pd.DataFrame, value) -> str:
    """``value(row)`` over the runs: one text if all agree, else each with its models."""
    texts: dict[str, list[str]] = {}
    for r in runs.itertuples():
        text = value(r)
        if text is None:
            continue
        names = texts.setdefault(str(text), [])
        if model_label(r.model) not in names:
            names.append(model_label(r.model))
    if len(texts) <= 1:
        return next(iter(texts), "not recorded")
    return "; ".join(f"{text} ({', '.join(names)})" for text, names in texts.items())


def setting(key, fmt="{}"):
    """A ``grouped`` value: the recorded setting ``key`` formatted with ``fmt``."""
    def value(r):
        v = r.settings.get(key)
        return None if v is None else fmt.format(v)
    return value


def weights_text(name: str) -> str:
    """The meaning of an ``evaluated_weights`` entry (names joined by commas)."""
    return " and ".join(setting_meaning("evaluated_weights", n.strip(), n)
                        for n in name.split(","))


def _standardize_text(r) -> str | None:
    method = r.settings.get("standardize")
    if method is None:
        return None
    return f"standardize: {method} ({setting_meaning('standardize', method, 'unknown')})"


def _splits_text(splits) -> str | None:
    if not splits:
        return None
    names = {"train": "training", "valid": "validation", "test": "test"}
    return "; ".join(f"{names.get(k, k)} rows {a:,}-{b:,} ({b - a:,} events)"
                     for k, (a, b) in splits.items())


def momentum_text(r) -> str | None:
    """The momentum schedule a network recorded."""
    s = r.settings
    if "initial_momentum" not in s:
        return None
    return (f"{s['initial_momentum']:g} -> {s['final_momentum']:g} linearly over "
            f"{s['momentum_saturation_epochs']} epochs")


def learning_rate_text(r) -> str | None:
    """The learning-rate schedule a network recorded."""
    s = r.settings
    if "learning_rate" not in s:
        return None
    factor = s.get("decay_factor", s.get("learning_rate_decay_factor"))
    schedule = s.get("learning_rate_schedule", "per_batch").replace("_", " ")
    return (f"{s['learning_rate']:g}, divided by {factor:.10g} per batch (applied "
            f"{schedule}), floor {s.get('learning_rate_floor', 0):g}")


def _stopping_text(r) -> str:
    rule = setting_meaning("stopping", r.stopping_rule, r.stopping_rule)
    s = r.settings
    text = f"{rule}; cap {s.get('max_epochs')} epochs"
    if r.stopping_rule in ("paper_text", "pylearn2"):
        text += (f", patience {s.get('stopping_patience', s.get('patience'))}, relative "
                 f"improvement {s.get('min_relative_improvement'):g}")
    return text


def _evaluated_weights_text(r) -> str:
    return f"{r.evaluated_weights} ({setting_meaning('evaluated_weights', r.evaluated_weights)})"


def _epochs_text(runs: pd.DataFrame) -> str:
    parts = []
    for (label, stopped_by), rows in runs.groupby(
            [runs.model.map(model_label), "stopped_by"], sort=False):
        epochs = sorted(int(e) for e in rows.epochs_trained if e is not None and not pd.isna(e))
        span = f"{epochs[0]}" if epochs[0] == epochs[-1] else f"{epochs[0]}-{epochs[-1]}"
        parts.append(f"{label}: {span} epochs, stopped by {stopped_by} ({len(rows)} "
                     f"run{'s' if len(rows) > 1 else ''})")
    return "; ".join(parts)


def _parameters_text(runs: pd.DataFrame) -> str:
    counts = runs.drop_duplicates(["model", "feature_set"])
    return ("; ".join(f"{model_label(r.model)} {FEATURE_LABELS[r.feature_set]} "
                      f"{int(r.trainable_parameters):,}" for r in counts.itertuples()
                      if r.trainable_parameters and not pd.isna(r.trainable_parameters))
            or "not recorded")


def _versions_text(runs: pd.DataFrame) -> str:
    versions: dict[str, list[str]] = {}
    for record in runs.versions:
        for name, version in record.items():
            versions.setdefault(name, [])
            if str(version) not in versions[name]:
                versions[name].append(str(version))
    return (", ".join(f"{name} {' / '.join(v)}" for name, v in versions.items())
            or "not recorded")


def _device_text(runs: pd.DataFrame) -> str:
    """Where the runs trained (``reproduce.train.device.device_summary``), each device with
    the models that used it; "not recorded" for runs of older versions."""
    if "device" not in runs:
        return "not recorded"
    return grouped(runs, lambda r: device_summary(r.device) if isinstance(r.device, dict)
                   else None)


def _distinct(values) -> str:
    seen = list(dict.fromkeys(str(v) for v in values))
    return " | ".join(seen)


def bdt_method(bdt_runs: pd.DataFrame) -> str:
    """The BDT's library and settings as its metrics.json recorded them."""
    settings = [dict(s) for s in bdt_runs.settings if isinstance(s, dict)]
    if not settings:
        return ""
    library = _distinct([s.get("library", "unknown library") for s in settings])
    knobs = _distinct([", ".join(f"{k} {v}" for k, v in s.items() if k != "library")
                       for s in settings])
    return f"{library} ({knobs})"


def bdt_fit_text(bdt_runs: pd.DataFrame) -> str:
    """How the BDT rows were fitted: library, settings, trees kept."""
    trees = sorted({int(t) for t in bdt_runs.trees if t is not None and not pd.isna(t)})
    kept = f" ({', '.join(map(str, trees))} trees kept)" if trees else ""
    return (f"{bdt_method(bdt_runs)}, one fit per feature set, early stopping on the "
            f"validation split{kept}; the paper's BDT was TMVA's, settings not published.")


def _network_items(nets: pd.DataFrame) -> list[tuple[str, str]]:
    """The description's items for the networks of one data set."""
    def seeds(r):
        return ", ".join(str(s) for s in sorted(set(nets[nets.model == r.model].seed)))

    return [
        ("trainable parameters", _parameters_text(nets)),
        ("minibatch", grouped(nets, setting("batch_size", "{} examples"))),
        ("learning rate", grouped(nets, learning_rate_text)),
        ("momentum", grouped(nets, momentum_text)),
        ("weight decay", grouped(nets, setting("weight_decay", "{:g} x sum W^2"))),
        ("dropout", grouped(nets, setting("dropout", "{}"))),
        ("inputs", grouped(nets, _standardize_text)),
        ("stopping rule", grouped(nets, _stopping_text)),
        ("epochs trained", _epochs_text(nets)),
        ("minibatch order", grouped(nets, lambda r: r.batch_order)),
        ("evaluated weights", grouped(nets, _evaluated_weights_text)),
        ("seeds", grouped(nets, seeds)),
    ]


def describe_runs(runs: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """How the finished runs of each data set were made, from their metrics.json: data and
    split, networks, recipe, stopping, minibatch order, evaluated weights, seeds, the BDT
    and the versions. ``{dataset: [(item, text), ...]}``; settings that differ between
    runs are listed with the models that used each."""
    described = {}
    for dataset, part in runs.groupby("dataset", sort=False):
        nets = part[part.model != "bdt"]
        bdt = part[part.model == "bdt"]
        items = [("data", f"{dataset}; " + grouped(part, lambda r: _splits_text(r.splits))
                  + f"; {grouped(part, lambda r: f'{r.test_events:,} test events')}")]
        if not nets.empty:
            items += _network_items(nets)
        if not bdt.empty:
            items.append(("BDT", bdt_fit_text(bdt)))
        items.append(("device", _device_text(part)))
        items.append(("versions", _versions_text(part)))
        described[dataset] = items
    return described


def description_markdown(described: dict) -> str:
    """``describe_runs``'s items as one Markdown list per data set."""
    lines = []
    for dataset, items in described.items():
        lines += [f"## How the {dataset} runs were made (from each run's metrics.json)", ""]
        lines += [f"- {item}: {text}" for item, text in items] + [""]
    return "\n".join(lines)
