"""The workflow's configuration: presets, schema validation with defaults, sanity checks.

``load_config`` is called by the Snakefile before any job runs, with the workflow's folder
(its schema and presets) passed explicitly, so the package works installed anywhere. Every
error names the config key (``training.max_epochs: -3 is less than the minimum of 1``).
The schema holds types, ranges and descriptions; the data sets and models are checked
against the package's registries (``reproduce.datasets``, ``reproduce.model_registry``).
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
    kind = schema.get("type", [])
    return set(kind if isinstance(kind, list) else [kind])


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
    if isinstance(instance, str):
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
        raise ConfigError(f"config key {key}: {message}{type_hint(err)}")
    _fill_defaults(config, schema)
    _check_registries(config)
    for name in config["datasets"]:
        try:
            get_dataset(name, config["dataset_overrides"].get(name))
        except ValueError as exc:
            raise ConfigError(f"config key dataset_overrides.{name}.{exc}") from exc
    if config["training"]["final_momentum"] < config["training"]["initial_momentum"]:
        raise ConfigError("config key training.final_momentum: must be >= initial_momentum")
    return config


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
