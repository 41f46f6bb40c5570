"""Stage 4, report (workflow/rules/report.smk): the paper's tables and figures beside ours
(``report``, for the rules report, partial_report and supp_table3; its figures in
``report_figures`` and its HTML page in ``report_html``), and the figures drawn from the
data (``feature_distributions`` and ``mass_after_cut``, one module per rule)."""
