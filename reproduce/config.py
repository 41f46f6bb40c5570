"""The workflow's configuration: presets, schema validation with defaults, sanity checks.

``load_config`` is called by the Snakefile before any job runs, with the workflow's folder
(its schema and presets) passed explicitly, so the package works installed anywhere. Every
error names the config key (``training.max_epochs: -3 is less than the minimum of 1``).
The schema holds types, ranges and descriptions; the data sets and models are checked
against the package's registries (``reproduce.datasets``, ``reproduce.model_registry``), and
the keys that must agree with each other or with the code after it: the output folders, the
learning-rate floor against the rate, a monitored name against the names a run logs.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

from reproduce.datasets import DATASETS, get_dataset
from reproduce.model_registry import parse_model_name
from reproduce.paper_values import AUC


def schema_path(workflow_dir) -> Path:
    """The config schema of a workflow folder (the one holding ``rules/``)."""
    return Path(workflow_dir) / "schemas" / "config.schema.yaml"


def presets_dir(workflow_dir) -> Path:
    """The presets folder of a workflow folder."""
    return Path(workflow_dir) / "presets"


def default_models(dataset: str) -> list[str]:
    """The networks of a data set's paper table (``reproduce.paper_values.AUC``)."""
    return [m for m in AUC.get(dataset, {}) if m != "bdt"]


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key."""


# The names of a run's epoch logs (log.csv's columns, what the stopping callbacks see): the
# loss and the AUC metric of reproduce/train/compiled_network.py, the same on the validation
# split (val_), the schedule's learning_rate and momentum, the wall_time of
# reproduce/train/callbacks/epoch_bookkeeping.py; tested equal to a real run's log.csv.
EPOCH_LOG_NAMES = ("loss", "auc", "val_loss", "val_auc", "learning_rate", "momentum",
                   "wall_time")
# reproduce/train/callbacks/train_monitor.py's, logged unless training.train_monitor_rows is 0
TRAIN_MONITOR_NAMES = ("train_monitor_loss", "train_monitor_auc")
# The config's folders: relative to the working folder (where snakemake runs) or absolute.
FOLDER_KEYS = ("results", "figures")


def monitorable_names(train_monitor_rows: int | None) -> tuple[str, ...]:
    """The epoch log names a run logs (``None``: the train monitor's default, on).

    Example:

    >>> monitorable_names(0)
    ('loss', 'auc', 'val_loss', 'val_auc', 'learning_rate', 'momentum', 'wall_time')
    """
    return EPOCH_LOG_NAMES + (TRAIN_MONITOR_NAMES if train_monitor_rows != 0 else ())


def deep_merge(base: dict, overlay: dict) -> dict:
    """A copy of ``base`` with ``overlay`` merged in (nested dicts merged, the rest replaced)."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _fill_defaults(instance, schema):
    if not isinstance(instance, dict) or schema.get("type") != "object":
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub)


def _types(schema: dict) -> set:
    """The JSON types ``schema`` allows, its ``oneOf``/``anyOf`` branches' included."""
    kind = schema.get("type", [])
    kinds = set(kind if isinstance(kind, list) else [kind])
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        kinds |= _types(branch)
    return kinds


def _string_words(schema: dict) -> set:
    """The strings ``schema`` allows by ``const`` or ``enum`` (``auto``), branches included."""
    words = {v for v in schema.get("enum", []) if isinstance(v, str)}
    if isinstance(schema.get("const"), str):
        words.add(schema["const"])
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        words |= _string_words(branch)
    return words


def coerce_cli_strings(instance, schema: dict, root: dict | None = None):
    """``instance`` with strings parsed as YAML where the schema wants no string.

    Snakemake reads a nested ``--config training='{max_epochs: 5}'`` with YAML's base loader,
    which leaves every scalar a string ('5'). Where the schema expects a number, a boolean or
    null and the string parses (as YAML) to one, the parsed value is used; anything else is
    left for the validator to report.
    """
    root = root or schema
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(instance, dict):
        out = {}
        for key, value in instance.items():
            sub = schema.get("properties", {}).get(key)
            if sub is None:
                sub = next((v for pattern, v in schema.get("patternProperties", {}).items()
                            if re.match(pattern, str(key))), None)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            out[key] = coerce_cli_strings(value, sub, root) if sub else value
        return out
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [coerce_cli_strings(v, schema["items"], root) for v in instance]
    if isinstance(instance, str) and instance not in _string_words(schema):
        wanted = _types(schema) | {type(v).__name__ for v in schema.get("enum", [])
                                   if not isinstance(v, str)}
        if wanted and "string" not in wanted and "str" not in wanted:
            try:
                parsed = yaml.safe_load(instance)
            except yaml.YAMLError:
                return instance
            if isinstance(parsed, (bool, int, float)) or parsed is None:
                return parsed
            if wanted & {"number", "float"}:
                try:
                    return float(instance)  # 1e-2: YAML 1.1 reads it as a string
                except ValueError:
                    pass
    return instance


def validate_config(config: dict, schema_file) -> dict:
    """Validate against the JSON schema ``schema_file``, fill defaults, check the data sets
    and models against the registries and the splits against the files.

    Returns the completed config; raises ConfigError naming the offending key.
    """
    import jsonschema

    schema = yaml.safe_load(Path(schema_file).read_text())
    config = coerce_cli_strings(copy.deepcopy(config), schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        message = err.message
        if err.validator == "additionalProperties":
            message = f"unknown key: {message}"
        if key in FOLDER_KEYS and isinstance(err.instance, str):
            raise ConfigError(_folder_problem(key, "") if not err.instance.strip()
                              else f"config key {key}: {message}")
        raise ConfigError(f"config key {key}: {message}{type_hint(err)}")
    _fill_defaults(config, schema)
    _check_registries(config)
    for name in config["datasets"]:
        try:
            get_dataset(name, config["dataset_overrides"].get(name))
        except ValueError as exc:
            raise ConfigError(f"config key dataset_overrides.{name}.{exc}") from exc
    _check_folders(config)
    _check_training(config["training"])
    return config


def _folder_problem(key: str, value: str) -> str | None:
    """Why ``value`` cannot be the folder ``key`` (empty, blank, the root), or None."""
    if value.strip() and Path(value).resolve() != Path("/"):
        return None
    return (f"config key {key}: {value!r} is no folder for the workflow's outputs; give a "
            f"folder relative to the working folder (where snakemake runs) or an absolute "
            f"one, other than the file system's root")


def _check_folders(config: dict) -> None:
    """``results`` and ``figures`` name a folder: not empty, not the file system's root."""
    for key in FOLDER_KEYS:
        if problem := _folder_problem(key, config[key]):
            raise ConfigError(problem)


def _check_training(training: dict) -> None:
    """The training keys that must agree with each other."""
    if training["final_momentum"] < training["initial_momentum"]:
        raise ConfigError("config key training.final_momentum: must be >= initial_momentum")
    if training["learning_rate_floor"] > training["learning_rate"]:
        raise ConfigError(
            f"config key training.learning_rate_floor: {training['learning_rate_floor']} is "
            f"above training.learning_rate ({training['learning_rate']}): every epoch would "
            f"train at the floor; the floor must be at most the initial rate")
    stop = training.get("stop_on_threshold")
    rows = training.get("train_monitor_rows")
    if stop and stop["monitor"] not in monitorable_names(rows):
        hint = (" (training.train_monitor_rows is 0: the train monitor is off)"
                if stop["monitor"] in TRAIN_MONITOR_NAMES else "")
        raise ConfigError(
            f"config key training.stop_on_threshold.monitor: {stop['monitor']!r} is not "
            f"logged by a run{hint}; the names logged: "
            f"{', '.join(monitorable_names(rows))}")


def type_hint(err) -> str:
    """What to type instead, for a value of the wrong type set on the command line: a
    mapping (``models``, ``training``) is written as YAML in quotes.

    Example:

    >>> import jsonschema
    >>> schema = {"type": "object", "properties": {"models": {"type": "object"}}}
    >>> err = next(jsonschema.Draft202012Validator(schema).iter_errors({"models": ["deep"]}))
    >>> print(type_hint(err))
    ; a mapping: write it as YAML in quotes, e.g. --config models='{HIGGS: [deep]}'
    """
    if err.validator != "type" or "object" not in _types(err.schema):
        return ""
    path = [str(p) for p in err.absolute_path]
    if len(path) != 1:
        return ""
    example = {"models": "{HIGGS: [deep]}", "training": "{max_epochs: 5}",
               "compute": "{device: cpu}", "bdt": "{enabled: false}"}.get(path[0], "{key: value}")
    return f"; a mapping: write it as YAML in quotes, e.g. --config {path[0]}='{example}'"


def _check_registries(config: dict) -> None:
    """Data set names known to ``reproduce.datasets``, model names to
    ``reproduce.model_registry``; ``models`` filled from the paper's tables."""
    known = ", ".join(DATASETS)
    for i, name in enumerate(config["datasets"]):
        if name not in DATASETS:
            raise ConfigError(f"config key datasets.{i}: unknown data set {name!r} "
                              f"(known: {known})")
    for key in ("dataset_overrides", "models"):
        for name in config[key]:
            if name not in DATASETS:
                raise ConfigError(f"config key {key}.{name}: unknown data set {name!r} "
                                  f"(known: {known})")
    for name in config["datasets"]:
        if name not in config["models"]:
            config["models"][name] = default_models(name)
        for i, model in enumerate(config["models"][name]):
            try:
                parse_model_name(model)
            except ValueError as exc:
                raise ConfigError(f"config key models.{name}.{i}: {exc}") from exc


def user_overrides(config: dict, base: dict) -> dict:
    """The entries of ``config`` that differ from ``base`` (recursively): what the user set
    with ``--configfile`` or ``--config`` on top of ``config.yaml``."""
    diff = {}
    for key, value in config.items():
        if key not in base:
            diff[key] = value
        elif isinstance(value, dict) and isinstance(base[key], dict):
            nested = user_overrides(value, base[key])
            if nested:
                diff[key] = nested
        elif value != base[key]:
            diff[key] = value
    return diff


def load_config(config: dict, *, workflow_dir, base: dict | None = None,
                user: dict | None = None) -> dict:
    """Apply ``config["preset"]`` (a file in ``<workflow_dir>/presets/``), then validate
    against ``<workflow_dir>/schemas/config.schema.yaml``.

    Precedence, lowest first: ``base`` (the parsed ``config.yaml``), the preset, then what
    the user set on top of ``config.yaml`` (``--configfile``, ``--config``): ``user`` when
    given (the Snakefile passes Snakemake's own record of them, so a value the user sets
    equal to ``config.yaml``'s still wins over the preset), else the entries of ``config``
    that differ from ``base``.
    """
    preset = config.get("preset", "none")
    if preset not in (None, "none"):
        path = presets_dir(workflow_dir) / f"{preset}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in presets_dir(workflow_dir).glob("*.yaml"))
            raise ConfigError(f"config key preset: no preset {preset!r} "
                              f"(known: none, {', '.join(known)})")
        overrides = dict(user) if user is not None else user_overrides(config, base or {})
        preset_values = yaml.safe_load(path.read_text()) or {}
        config = deep_merge(deep_merge(base or config, preset_values), overrides)
    return validate_config(config, schema_path(workflow_dir))
