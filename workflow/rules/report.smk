report: "../report/workflow.rst"


localrules:
    report,
    partial_report,
    supp_table3,
    feature_distributions,
    mass_after_cut,
    root_export,


rule feature_distributions:
    """The paper's Figs. 2/3 (HIGGS) and 5/6 (SUSY): each feature, signal vs background."""
    input:
        manifest=rules.tfrecords.output.manifest,
    output:
        low=report(
            f"{FIGURES}/features_{{dataset}}_low_level.png",
            caption="../report/features.rst",
            category="3. Feature distributions",
        ),
        high=report(
            f"{FIGURES}/features_{{dataset}}_high_level.png",
            caption="../report/features.rst",
            category="3. Feature distributions",
        ),
        # the PDFs saved beside the PNGs: declared, so a failed job leaves none behind
        pdfs=[
            f"{FIGURES}/features_{{dataset}}_low_level.pdf",
            f"{FIGURES}/features_{{dataset}}_high_level.pdf",
        ],
    log:
        f"{RESULTS}/logs/feature_distributions/{{dataset}}.log",
    params:
        spec=lambda w: dataset_spec(w.dataset),
        run_name=run_name(),
    script:
        "../scripts/feature_distributions.py"


rule mass_after_cut:
    """The paper's Fig. 8: m_Wbb and m_WWbb of events passing a 90% background-rejection
    cut, DN on low-level vs NN on high-level inputs."""
    input:
        manifest=rules.tfrecords.output.manifest,
        scores=lambda w: fig8_runs(w.dataset),
        metrics=lambda w: fig8_metrics(w.dataset),
    output:
        report(
            f"{FIGURES}/fig8_{{dataset}}_mass_after_cut.png",
            caption="../report/fig8.rst",
            category="2. Figures",
        ),
        pdf=f"{FIGURES}/fig8_{{dataset}}_mass_after_cut.pdf",
    log:
        f"{RESULTS}/logs/mass_after_cut/{{dataset}}.log",
    params:
        spec=lambda w: dataset_spec(w.dataset),
        run_name=run_name(),
    script:
        "../scripts/mass_after_cut.py"


rule report:
    """The paper's AUC tables beside ours (the report's first result), how the runs were
    made, learning curves, schedules and ROC curves; captions built from the runs."""
    input:
        evaluations=all_runs(EVALUATION),
        metrics=all_runs(str(ANY_RUN.metrics)),
        logs=network_runs(str(ANY_RUN.log)),
    output:
        table_md=str(REPORT.table_md),
        table_csv=str(REPORT.table_csv),
        table_tex=str(REPORT.table_tex),
        table_html=report(
            str(REPORT.table_html),
            caption="../report/auc_table.rst",
            category="1. AUC tables",
        ),
        learning_curves=report(
            str(REPORT.learning_curves),
            caption="../report/learning_curves.rst",
            category="2. Figures",
        ),
        schedules=report(
            str(REPORT.schedules),
            caption="../report/schedules.rst",
            category="2. Figures",
        ),
        roc=report(
            str(REPORT.roc),
            caption="../report/roc_curves.rst",
            category="2. Figures",
        ),
        roc_by_feature_set=report(
            str(REPORT.roc_by_feature_set),
            caption="../report/roc_by_feature_set.rst",
            category="2. Figures",
        ),
        summary=str(REPORT.summary),
        captions=[str(path) for path in REPORT.caption_files()],
        # the PDFs saved beside the figures' PNGs: declared, so a failed report leaves no
        # stale PDF beside removed PNGs
        pdfs=[
            str(Path(png).with_suffix(".pdf"))
            for png in (REPORT.learning_curves, REPORT.schedules, REPORT.roc, REPORT.roc_by_feature_set)
        ],
    log:
        f"{RESULTS}/logs/report.log",
    params:
        runs=report_runs(),
        captions=lambda w, output: Path(output.captions[0]).parent,
        train_curve=config["report"]["train_curve"],
        run_name=run_name(),
    script:
        "../scripts/report.py"


rule partial_report:
    """On demand (snakemake partial_report): the report from the runs finished so far and
    the live logs of runs in training, missing cells marked, in its own folder
    (<figures>/partial/), never over the final report. It has no inputs, so it never
    starts a training."""
    log:
        f"{RESULTS}/logs/partial_report.log",
    params:
        runs=report_runs(),
        files=PARTIAL_REPORT,
        train_curve=config["report"]["train_curve"],
        run_name=run_name(),
    script:
        "../scripts/partial_report.py"


rule supp_table3:
    """Optional target (snakemake supp_table3): Supplementary Table 3, HIGGS AUC for shallow
    widths 300/1000/2000/10000 and deep nets of 2..5 hidden layers, first seed."""
    input:
        evaluations=supp_table3_runs(EVALUATION),
    output:
        md=f"{FIGURES}/supp_table3.md",
        csv=f"{FIGURES}/supp_table3.csv",
    log:
        f"{RESULTS}/logs/supp_table3.log",
    script:
        "../scripts/supp_table3.py"


rule root_export:
    """Optional target (snakemake root_export, needs the root extra): every run's test
    scores as one ROOT file, a tree per run with the label, the scores of both evaluated
    weights and the event's row in the data file (reproduce.report.root_export)."""
    input:
        scores=all_runs(str(ANY_RUN.scores)),
        metrics=all_runs(str(ANY_RUN.metrics)),
    output:
        f"{FIGURES}/test_scores.root",
    log:
        f"{RESULTS}/logs/root_export.log",
    params:
        runs=report_runs(),
        first_test_rows={d: dataset_spec(d).splits["test"][0] for d in config["datasets"]},
    script:
        "../scripts/root_export.py"
