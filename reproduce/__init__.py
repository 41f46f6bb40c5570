"""Reproduction of Baldi, Sadowski & Whiteson, "Searching for Exotic Particles in
High-Energy Physics with Deep Learning", Nature Communications 5, 4308 (2014).

All logic of the Snakemake workflow lives here: ``datasets`` (the data files), ``download``,
``tfrecords`` (conversion and reading), ``models``, ``optimizers``, ``schedules`` and
``callbacks`` (the paper's training recipe), ``training`` (one run), ``metrics`` (AUC and
discovery significance), ``report`` (tables and figures) and ``config`` (validation).
"""

__version__ = "0.1.0"
