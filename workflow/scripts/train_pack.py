from reproduce.rule_logging import log_to_file, to_terminal

log_to_file(snakemake.log[0])

import sys

from reproduce.backend import select_backend, visible_gpus

select_backend(snakemake.config["compute"]["backend"])  # before anything imports Keras

from reproduce.train.device import GPUNotVisible, check_gpu_request
from reproduce.layout import RunFiles, TFRecordFiles
from reproduce.model_registry import parse_model_name
from reproduce.train.gpu_slots import count_gpus, gpu_slot, pin_process_to_gpu
from reproduce.train.packed_training import train_pack
from reproduce.train.settings import settings_for

w, out, params = snakemake.wildcards, snakemake.output, snakemake.params
settings = settings_for(w.network, params.training, threads=snakemake.threads)
runs = [RunFiles(metrics=m, log=l, scores=s, model=k, best=b, state=st, progress=p)
        for m, l, s, k, b, st, p in zip(out.metrics, out.log, out.scores, out.model, out.best,
                                        params.state, params.progress, strict=True)]
device = snakemake.config["compute"]["device"]
pack_name = f"{w.dataset}/{w.network} pack"
with gpu_slot(count_gpus(params.gpus), params.gpu_lock_dir) as slot:
    pin_process_to_gpu(slot)  # one GPU per pack, before TensorFlow starts
    try:
        check_gpu_request(device, snakemake.resources.get("gpu", 0), visible_gpus)
    except GPUNotVisible as exc:
        print(f"error: {exc}", file=sys.stderr)
        to_terminal(f"train_pack {pack_name}: stopped: {exc}")
        sys.exit(1)
    train_pack(
        TFRecordFiles(manifest=snakemake.input.manifest, statistics=snakemake.input.statistics),
        runs,
        spec=params.spec,
        model=parse_model_name(w.network)["model"],
        feature_sets=params.feature_sets,
        seeds=params.seeds,
        settings=settings,
        pack_state=params.pack_state,
        evaluated_weights=params.evaluated_weights,
    )
to_terminal(f"train_pack {pack_name}: {len(runs)} runs trained")
