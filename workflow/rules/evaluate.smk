rule evaluate:
    """Test AUC (exact), ROC curve and discovery significance of one run."""
    input:
        scores=rules.train.output.scores,
    output:
        f"{RESULTS}/{{dataset}}/evaluation/{{model}}-{{features}}-seed{{seed}}.json",
    log:
        f"{RESULTS}/logs/evaluate/{{dataset}}/{{model}}-{{features}}-seed{{seed}}.log",
    conda:
        "../envs/reproduce.yaml"
    script:
        "../scripts/evaluate.py"
