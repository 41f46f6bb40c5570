"""Stage 3, evaluation (workflow/rules/evaluate.smk): a run's test scores turned into its AUC,
ROC curve and discovery significance (``evaluation``, with the formulas in ``reproduce.metrics``)."""
