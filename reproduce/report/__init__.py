"""Stage 4, report (workflow/rules/report.smk): the paper's tables and figures beside ours
(``report``, with its figures in ``report_figures`` and its HTML page in ``report_html``),
and the data figures (``figures``: feature distributions, Fig. 8)."""
