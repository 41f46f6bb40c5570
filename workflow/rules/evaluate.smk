rule evaluate:
    """Test AUC (exact), ROC curve and discovery significance of one run."""
    input:
        scores=f"{RESULTS}/{{dataset}}/runs/{RUN}/test_scores.npz",
    output:
        f"{RESULTS}/{{dataset}}/evaluation/{RUN}.json",
    log:
        f"{RESULTS}/logs/evaluate/{{dataset}}/{RUN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{dataset}}/{RUN}.tsv"
    conda:
        "../envs/reproduce.yaml"
    script:
        "../scripts/evaluate.py"
