"""The meanings of the enumerated settings have one home: reproduce/train/settings.py."""

import pytest
import yaml

from reproduce.train.settings import ENUMERATED_SETTINGS, TrainingSettings, settings_for

from conftest import REPO


def schema_enums() -> dict:
    """``{"training.stopping": [...], ...}``: every enum of the schema's sections."""
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    return {f"{section}.{key}": spec["enum"]
            for section in ("training", "evaluation")
            for key, spec in schema["properties"][section]["properties"].items()
            if "enum" in spec}


def test_schema_enums_are_the_keys_of_the_settings_meanings():
    assert schema_enums() == {path: list(meanings)
                              for path, meanings in ENUMERATED_SETTINGS.items()}


def test_every_meaning_is_one_line():
    for meanings in ENUMERATED_SETTINGS.values():
        for meaning in meanings.values():
            assert meaning and "\n" not in meaning


@pytest.mark.parametrize("key", ["stopping", "batch_order", "momentum_ramp",
                                 "learning_rate_schedule", "standardize"])
def test_a_value_outside_the_enum_is_refused_naming_the_key(key):
    with pytest.raises(ValueError, match=rf"training\.{key}: expected one of"):
        TrainingSettings(**{key: "nonsense"})


def test_settings_for_a_network_name():
    settings = settings_for("shallow_w1000", {"max_epochs": 3}, threads=2)
    assert (settings.width, settings.depth, settings.dropout) == (1000, None, False)
    assert (settings.max_epochs, settings.threads) == (3, 2)
    dropout = settings_for("deep_dropout", {"patience": 3, "dropout_patience": 7})
    assert dropout.dropout and dropout.stopping_patience == 7
    with pytest.raises(ValueError, match="training: unknown key"):
        settings_for("deep", {"max_epoch": 3})
