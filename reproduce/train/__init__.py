"""Stage 2, training (workflow/rules/train.smk, bdt.smk): one network of the paper trained with
its schedule (``training``: the rule ``train``), or the BDT baseline (``bdt``). The paper's
recipe lives in ``schedules``; the networks in ``models``; the training schedule as Keras
callbacks in ``callbacks``."""
