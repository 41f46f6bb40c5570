import pytest
import yaml

from reproduce.config import ConfigError, load_config

from conftest import REPO

WORKFLOW = REPO / "workflow"


def base():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_default_is_the_paper_reproduction():
    config = load_config(workflow_dir=WORKFLOW, config=base())
    assert config["datasets"] == ["HIGGS"]
    n_models = len(config["models"]["HIGGS"])
    assert n_models * len(config["feature_sets"]) * len(config["seeds"]) == 30
    assert config["bdt"]["enabled"]
    assert config["training"]["learning_rate"] == 0.05  # filled from the schema's defaults
    assert config["training"]["momentum_saturation_epochs"] == 200


def test_presets_apply():
    config = load_config(workflow_dir=WORKFLOW, config=base() | {"preset": "demo"}, base=base())
    assert config["dataset_overrides"]["HIGGS"]["source"] == "sample"
    assert config["training"]["max_epochs"] == 78


@pytest.mark.parametrize("preset", ["demo"])
def test_presets_compress_the_authors_schedule_uniformly(preset):
    """The presets' schedules (docs/demo.md): the paper's schedule with every epoch
    count divided by a compression c and the per-epoch learning-rate decay raised to the
    power c (for the preset's batches per epoch), run until the rate reaches its floor;
    the momentum ramp rounded to whole epochs. The demo's c is 7."""
    import math

    from reproduce.train import schedules
    from reproduce.datasets import get_dataset

    config = load_config(workflow_dir=WORKFLOW, config=base() | {"preset": preset}, base=base())
    training = config["training"]
    start, end = get_dataset("HIGGS").splits["train"]
    paper_per_epoch = (end - start) / schedules.BATCH_SIZE * math.log(
        schedules.LEARNING_RATE_DECAY_FACTOR)  # 100,000 batches: e**0.02 per epoch
    start, end = get_dataset("HIGGS", config["dataset_overrides"]["HIGGS"]).splits["train"]
    batches = math.ceil((end - start) / schedules.BATCH_SIZE)
    # the compression the preset's per-batch factor implies
    compression = math.log(training["learning_rate_decay_factor"]) * batches / paper_per_epoch
    assert compression == pytest.approx(7, rel=1e-6)
    assert training["momentum_saturation_epochs"] == round(
        schedules.MOMENTUM_SATURATION_EPOCHS / 7)
    paper_floor_epoch = math.log(schedules.INITIAL_LEARNING_RATE
                                 / schedules.LEARNING_RATE_FLOOR) / paper_per_epoch  # 541
    assert training["max_epochs"] == math.ceil(paper_floor_epoch / 7)
    # the rate reaches its floor in the last epoch, not before
    last_epoch_start = (training["max_epochs"] - 1) * batches
    assert schedules.learning_rate_at(last_epoch_start - 1, factor=training[
        "learning_rate_decay_factor"]) > schedules.LEARNING_RATE_FLOOR
    assert schedules.learning_rate_at(training["max_epochs"] * batches - 1, factor=training[
        "learning_rate_decay_factor"]) == schedules.LEARNING_RATE_FLOOR


@pytest.mark.parametrize("compression, batches", [(10, 90), (7, 90), (5, 78), (2.5, 400)])
def test_compressed_schedule_is_the_rule_in_closed_form(compression, batches):
    """``compressed_schedule`` against the rule written out from the paper's numbers:
    541 epochs to the floor (ln(0.05 / 1e-6) / 0.02), a 200-epoch ramp, e**0.02 per epoch."""
    import math

    from reproduce.train.schedules import compressed_schedule

    got = compressed_schedule(compression, batches)
    per_epoch = 100_000 * math.log(1.0000002)
    assert got["max_epochs"] == math.ceil(math.log(0.05 / 1e-6) / per_epoch / compression)
    assert got["momentum_saturation_epochs"] == round(200 / compression)
    assert got["learning_rate_decay_factor"] == pytest.approx(
        math.exp(0.02 * compression / batches), rel=1e-9)
    assert compressed_schedule(10, 90)["max_epochs"] == 55  # 541.0 / 10, rounded up
    with pytest.raises(ValueError):
        compressed_schedule(0, 90)


def test_user_settings_win_over_the_preset():
    user = base() | {"preset": "demo", "seeds": [7]}
    user["training"] = dict(user["training"], max_epochs=3)
    config = load_config(workflow_dir=WORKFLOW, config=user, base=base())
    assert config["seeds"] == [7] and config["training"]["max_epochs"] == 3
    assert config["training"]["momentum_saturation_epochs"] == 29  # still from the preset


@pytest.mark.parametrize("change, message", [
    ({"trainig": {}}, r"config key \(top level\): unknown key.*'trainig'"),
    ({"training": {"max_epochs": -3}}, r"config key training.max_epochs: -3 is less than"),
    ({"training": {"max_epochs": "ten"}}, r"config key training.max_epochs: 'ten' is not"),
    ({"training": {"learning_rat": 0.1}}, r"config key training: unknown key.*learning_rat"),
    ({"seeds": [1, 1]}, r"config key seeds: .*non-unique"),
    ({"models": {"HIGGS": ["transformer"]}},
     r"config key models.HIGGS.0: model name 'transformer': expected a network family"),
    ({"preset": "huge"}, r"config key preset: no preset 'huge'"),
    ({"dataset_overrides": {"HIGGS": {"splits": {"train": [0, 10], "valid": [10, 20],
                                                 "test": [20, 11_000_001]}}}},
     r"config key dataset_overrides.HIGGS.splits.test: ends at row 11,000,001 but the file "
     r"has 11,000,000 rows"),
    ({"dataset_overrides": {"HIGGS": {"splits": {"train": [0, 10], "valid": [5, 20],
                                                 "test": [20, 30]}}}},
     r"config key dataset_overrides.HIGGS.splits: train and valid overlap"),
])
def test_bad_config_names_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        load_config(workflow_dir=WORKFLOW, config=base() | change)


def test_schema_and_config_yaml_defaults_equal_the_packages():
    """The package owns the recipe: every training default the schema or config.yaml
    shows equals TrainingSettings' (reproduce/train/schedules.py's constants)."""
    import dataclasses

    from reproduce.train.settings import TrainingSettings

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    defaults = {f.name: f.default for f in dataclasses.fields(TrainingSettings)}
    shown = {k: v["default"] for k, v in schema["properties"]["training"]["properties"].items()
             if "default" in v}
    shown_in_config_yaml = base()["training"]
    assert shown and shown_in_config_yaml
    for key, value in (shown | shown_in_config_yaml).items():
        assert defaults[key] == value, key
    assert load_config(workflow_dir=WORKFLOW, config=base())["evaluation"]["weights"] == "final"


def test_nested_command_line_values_are_parsed():
    """`--config training='{max_epochs: 5}'` reaches the workflow as strings (Snakemake's
    YAML base loader); they are read as the types the schema asks for."""
    from snakemake.cli import parse_config

    cli = parse_config(["training={max_epochs: 5, jit_compile: false, early_stopping_patience: null, "
                        "learning_rate: 1e-2, stopping: pylearn2}", "seeds=[3, 4]"])
    assert cli["training"]["max_epochs"] == "5"  # what Snakemake hands over
    config = load_config(workflow_dir=WORKFLOW, config=base() | cli | {"training": base()["training"] | cli["training"]})
    training = config["training"]
    assert training["max_epochs"] == 5 and training["jit_compile"] is False
    assert training["early_stopping_patience"] is None and training["learning_rate"] == 0.01
    assert training["stopping"] == "pylearn2" and config["seeds"] == [3, 4]
    with pytest.raises(ConfigError, match="config key training.max_epochs: 'ten'"):
        load_config(workflow_dir=WORKFLOW, config=base() | {"training": {"max_epochs": "ten"}})


@pytest.mark.parametrize("text, value", [("5", 5), ("0.5", 0.5), ("null", None),
                                         ("auto", "auto")])
def test_nested_values_of_a_one_of_key_are_parsed(text, value):
    """`--config compute='{max_job_minutes: 5}'`: a key whose schema is a oneOf of the word
    auto, null and a number gets the number (not '5'), the word stays a word."""
    from snakemake.cli import parse_config

    cli = parse_config([f"compute={{max_job_minutes: {text}, gpus: 1}}"])
    assert cli["compute"]["max_job_minutes"] == text  # what Snakemake hands over
    config = load_config(workflow_dir=WORKFLOW,
                         config=base() | {"compute": base()["compute"] | cli["compute"]})
    assert config["compute"]["max_job_minutes"] == value
    assert config["compute"]["gpus"] == 1


def test_user_value_equal_to_config_yaml_still_beats_the_preset():
    """--configfile with training.max_epochs 1000 (config.yaml's own value) and preset demo:
    the user's 1000 wins over the preset's shorter run."""
    user = {"preset": "demo", "training": {"max_epochs": 1000}}
    merged = base() | {"preset": "demo"}
    config = load_config(workflow_dir=WORKFLOW, config=merged, base=base(), user=user)
    assert config["training"]["max_epochs"] == 1000
    assert config["dataset_overrides"]["HIGGS"]["source"] == "sample"  # the preset still applies
