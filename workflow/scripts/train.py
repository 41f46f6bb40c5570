from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from pathlib import Path

from reproduce.gpu_slots import count_gpus, gpu_slot, pin_process_to_gpu
from reproduce.model_names import parse_model_name
from reproduce.training import TrainingSettings, train_run

w = snakemake.wildcards
variant = parse_model_name(w.network)
overrides = {k: variant[k] for k in ("width", "depth") if variant[k] is not None}
settings = TrainingSettings.from_dict(
    dict(snakemake.params.training, dropout=variant["dropout"], threads=snakemake.threads)
    | overrides
)
with gpu_slot(count_gpus(snakemake.params.gpus), snakemake.params.gpu_lock_dir) as slot:
    pin_process_to_gpu(slot)  # before TensorFlow starts in train_run
    train_run(
        Path(snakemake.input.manifest).parent,
        Path(snakemake.output.metrics).parent,
        spec=snakemake.params.spec,
        model=variant["model"],
        feature_set=w.features,
        seed=int(w.seed),
        settings=settings,
        evaluated_weights=snakemake.params.evaluated_weights,
    )
