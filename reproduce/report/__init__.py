"""Stage 4, report (workflow/rules/report.smk): the paper's tables and figures beside ours.

``report`` writes the report and the partial report (rules report and partial_report) from,
in the order they import one another: ``runs`` (what was run: metrics.json, evaluations,
logs), ``description`` (how the runs were made), ``table`` (how the AUCs compare), then
``captions``, ``figures``, ``html_page`` and ``summary``. ``supp_table3`` is the rule of that
name, as are ``feature_distributions`` and ``mass_after_cut`` (figures drawn from the data).
"""
