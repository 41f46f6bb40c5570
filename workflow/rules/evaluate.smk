rule evaluate:
    """Test AUC (exact), ROC curve and discovery significance of one run."""
    input:
        scores=str(ANY_RUN.scores),
    output:
        EVALUATION,
    log:
        f"{RESULTS}/logs/evaluate/{{dataset}}/{RUN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{dataset}}/{RUN}.tsv"
    script:
        "../scripts/evaluate.py"
