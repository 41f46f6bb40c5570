"""What run a table or figure shows, in one line: the configuration (the preset, or the
config files) and, per data set, the events trained on, the seeds and the epochs, as the
runs recorded them in their metrics.json; and, for a run that trained on fewer events than
the paper, the words that say its AUCs are not expected to reach the paper's."""

from __future__ import annotations

import pandas as pd

from reproduce.datasets import DATASETS


def train_events(splits) -> int | None:
    """The number of training events of a run's recorded splits, or None.

    Example:

    >>> train_events({"train": [0, 8984], "test": [9984, 10984]}), train_events(None)
    (8984, None)
    """
    if not isinstance(splits, dict) or "train" not in splits:
        return None
    start, end = splits["train"]
    return int(end) - int(start)


def paper_train_events(dataset: str) -> int | None:
    """The paper's training events of a data set (its registry split), or None.

    Example:

    >>> f"{paper_train_events('HIGGS'):,}"
    '10,000,000'
    """
    spec = DATASETS.get(dataset)
    return train_events(spec.splits) if spec else None


def _events(runs: pd.DataFrame) -> list[int]:
    """The distinct training events the runs recorded, ascending (none recorded: [])."""
    if "splits" not in runs:
        return []
    return sorted({e for e in (train_events(s) for s in runs.splits) if e})


def _numbers(values) -> str:
    """Distinct whole numbers, ascending: "1, 2, 3" (a span "1-5" from five on)."""
    found = sorted({int(v) for v in values if v is not None and not pd.isna(v)})
    if len(found) >= 5 and found == list(range(found[0], found[-1] + 1)):
        return f"{found[0]}-{found[-1]}"
    return ", ".join(map(str, found))


def dataset_identity(runs: pd.DataFrame, dataset: str) -> str:
    """One data set's finished runs: events trained on, seeds and epochs.

    Example:

    >>> runs = pd.DataFrame({"dataset": "HIGGS", "model": ["deep", "bdt"], "seed": [1, 1],
    ...                      "epochs_trained": [78, None],
    ...                      "splits": [{"train": [0, 8984]}, {"train": [0, 8984]}]})
    >>> dataset_identity(runs, "HIGGS")
    'HIGGS, 8,984 training events, seed 1, 78 epochs'
    """
    part = runs[runs.dataset == dataset]
    events = _events(part)
    text = dataset
    if events:
        text += f", {' / '.join(f'{e:,}' for e in events)} training events"
    seeds = _numbers(part.seed)
    if seeds:
        text += f", seed{'s' if ',' in seeds or '-' in seeds else ''} {seeds}"
    nets = part[part.model != "bdt"]
    epochs = _numbers(nets.epochs_trained) if "epochs_trained" in nets else ""
    if epochs:
        text += f", {epochs.replace(', ', '/')} epochs"
    return text


def run_identity(name: str, runs: pd.DataFrame) -> str:
    """The line a table or figure carries: "Run: <name>; <data set facts>".

    Args:
        name: what the configuration is called ("demo preset", "config.yaml").
        runs: the finished runs shown (``load_runs``'s rows).

    Example:

    >>> run_identity("demo preset", pd.DataFrame(columns=["dataset"]))
    'Run: demo preset; no run finished yet'
    """
    datasets = list(dict.fromkeys(runs.dataset)) if "dataset" in runs else []
    facts = "; ".join(dataset_identity(runs, d) for d in datasets) or "no run finished yet"
    return f"Run: {name or 'unnamed configuration'}; {facts}"


def reduced_data_text(name: str, runs: pd.DataFrame, dataset: str) -> str:
    """For a data set whose runs trained on fewer events than the paper's: what the run is
    and that its AUCs are not expected to reach the paper's; else "".

    Example:

    >>> runs = pd.DataFrame({"dataset": ["HIGGS"], "splits": [{"train": [0, 8984]}]})
    >>> reduced_data_text("demo preset", runs, "HIGGS")
    'demo preset: 8,984 training events, not expected to reach it'
    """
    paper = paper_train_events(dataset)
    events = _events(runs[runs.dataset == dataset]) if "dataset" in runs else []
    if paper is None or not events or max(events) >= paper:
        return ""
    return f"{name or 'this run'}: {max(events):,} training events, not expected to reach it"


def reduced_data_note(name: str, runs: pd.DataFrame, dataset: str) -> list[str]:
    """The footnote of a table whose runs trained on fewer events than the paper."""
    paper = paper_train_events(dataset)
    if not reduced_data_text(name, runs, dataset):
        return []
    events = max(_events(runs[runs.dataset == dataset]))
    return [f"These runs ({name or 'this configuration'}) trained on {events:,} events, "
            f"{events / paper:.2%} of the paper's {paper:,}: an AUC below the paper's is "
            "expected, not a failed reproduction; the full run is the comparison."]
