from reproduce.rule_logging import log_to_file

log_to_file(snakemake.log[0])

from reproduce.evaluate.evaluation import evaluate_scores

w = snakemake.wildcards
evaluate_scores(
    snakemake.input.scores,
    snakemake.output[0],
    run={"dataset": w.dataset, "model": w.model, "feature_set": w.features, "seed": int(w.seed)},
)
