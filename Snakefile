# Reproduction of Baldi, Sadowski & Whiteson, "Searching for Exotic Particles in High-Energy
# Physics with Deep Learning", Nat. Commun. 5, 4308 (2014). See README.md.
#   snakemake --cores all                      # the paper's HIGGS Table 1 (30 trainings)
#   snakemake --cores all --config preset=demo # offline demo on the embedded sample

from snakemake.utils import min_version

min_version("9.0")

from pathlib import Path

import yaml

from reproduce.config import load_config


configfile: "config.yaml"


config = load_config(
    config,
    workflow_dir=Path(workflow.basedir) / "workflow",  # its schemas/ and presets/
    base=yaml.safe_load(open(workflow.source_path("config.yaml"))),
    user=workflow.config_settings.overwrite_config,  # --configfile and --config, as given
)


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/tfrecords.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/train_pack.smk"
include: "workflow/rules/bdt.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        rules.report.output,
        expand(rules.feature_distributions.output, dataset=config["datasets"]),
        [
            f"{FIGURES}/fig8_{dataset}_mass_after_cut.png"
            for dataset in config["datasets"]
            if fig8_runs(dataset)
        ],
    default_target: True
