"""The workflow's configuration: presets, schema validation with defaults, sanity checks.

``load_config`` is called by the Snakefile before any job runs. Every error names the
config key (``training.max_epochs: -3 is less than the minimum of 1``).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

from .datasets import get_dataset

WORKFLOW_DIR = Path(__file__).resolve().parent.parent / "workflow"
SCHEMA_PATH = WORKFLOW_DIR / "schemas" / "config.schema.yaml"
PRESETS_DIR = WORKFLOW_DIR / "presets"


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


def validate_config(config: dict, schema_path: Path = SCHEMA_PATH) -> dict:
    """Validate against the JSON schema, fill defaults, check splits against the files.

    Returns the completed config; raises ConfigError naming the offending key.
    """
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    config = coerce_cli_strings(copy.deepcopy(config), schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        message = err.message
        if err.validator == "additionalProperties":
            message = f"unknown key: {message}"
        raise ConfigError(f"config key {key}: {message}")
    _fill_defaults(config, schema)
    for name in config["datasets"]:
        try:
            get_dataset(name, config["dataset_overrides"].get(name))
        except ValueError as exc:
            raise ConfigError(f"config key dataset_overrides.{name}.{exc}") from exc
    if config["training"]["final_momentum"] < config["training"]["initial_momentum"]:
        raise ConfigError("config key training.final_momentum: must be >= initial_momentum")
    return config


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


def load_config(config: dict, base: dict | None = None, presets_dir: Path = PRESETS_DIR,
                user: dict | None = None) -> dict:
    """Apply ``config["preset"]`` (a file in ``workflow/presets/``), then validate.

    Precedence, lowest first: ``base`` (the parsed ``config.yaml``), the preset, then what
    the user set on top of ``config.yaml`` (``--configfile``, ``--config``): ``user`` when
    given (the Snakefile passes Snakemake's own record of them, so a value the user sets
    equal to ``config.yaml``'s still wins over the preset), else the entries of ``config``
    that differ from ``base``.
    """
    preset = config.get("preset", "none")
    if preset not in (None, "none"):
        path = Path(presets_dir) / f"{preset}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in Path(presets_dir).glob("*.yaml"))
            raise ConfigError(f"config key preset: no preset {preset!r} "
                              f"(known: none, {', '.join(known)})")
        overrides = dict(user) if user is not None else user_overrides(config, base or {})
        preset_values = yaml.safe_load(path.read_text()) or {}
        config = deep_merge(deep_merge(base or config, preset_values), overrides)
    return validate_config(config)
