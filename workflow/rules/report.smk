localrules:
    report,


rule report:
    """The paper's AUC table beside ours, learning curves and ROC curves."""
    input:
        evaluations=all_runs(f"{RESULTS}/{{dataset}}/evaluation/{{model}}-{{features}}-seed{{seed}}.json"),
        logs=all_runs(f"{RESULTS}/{{dataset}}/runs/{{model}}-{{features}}-seed{{seed}}/log.csv"),
    output:
        table_md=f"{FIGURES}/auc_table.md",
        table_csv=f"{FIGURES}/auc_table.csv",
        table_tex=f"{FIGURES}/auc_table.tex",
        learning_curves=report(
            f"{FIGURES}/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="Figures",
        ),
        roc=report(
            f"{FIGURES}/roc_curves.png",
            caption="../report/roc_curves.rst",
            category="Figures",
        ),
        summary=f"{FIGURES}/summary.md",
    log:
        f"{RESULTS}/logs/report.log",
    params:
        figures=lambda w, output: Path(output.summary).parent,
    conda:
        "../envs/reproduce.yaml"
    script:
        "../scripts/report.py"
