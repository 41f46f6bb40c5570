"""Does the demo preset represent the networks fairly? k-fold cross-validation on the sample.

On the embedded 10,984-event HIGGS sample (``data/higgs-sample.csv.gz``), for each of ``k``
contiguous folds (in file order; the file's events are in random order):

  * ``package``: the package's own training, ``reproduce.train.training.train_run``, with a
    preset's training settings (``reproduce.config.load_config``, exactly as the workflow
    resolves ``--config preset=...``), on TFRecords written by
    ``reproduce.data.tfrecords.write_tfrecord_shards`` from a rotated copy of the sample: the
    fold's test rows last, the ``--valid-rows`` rows before them (wrapping around) as the
    validation split, every other row for training. The lines of the copy are the
    sample's own text lines, so the values are bit-identical to the demo's.
  * ``sklearn MLP``: an independent reference on exactly the same training and test rows
    (parsed with numpy from the sample, not from the TFRecords): ``StandardScaler`` fit on
    the training rows, then ``MLPClassifier(hidden_layer_sizes=(300,), activation="tanh",
    solver="adam", alpha=1e-4, batch_size=200, learning_rate_init=1e-3,
    early_stopping=True, validation_fraction=0.1, n_iter_no_change=10, max_iter=200,
    random_state=seed)`` (scikit-learn's defaults but for ``early_stopping``; its
    early-stopping holdout is 10% of the training rows, scored by accuracy; the package's
    validation block is not given to it).
  * ``sklearn MLP, epoch by validation``: the same MLP trained one epoch at a time
    (``partial_fit``), keeping the test scores of the epoch of lowest log-loss on the
    package's validation block (patience 10, at most 200 epochs): a stronger reference.

Every AUC is scikit-learn's ``roc_auc_score``: for the package, on the scores the package
wrote (``test_scores.npz``, whose labels are checked against the numpy-parsed rows) and,
separately, on the scores of the final weights (``model.keras``) and of the
best-validation checkpoint (``best.weights.h5``), so the table holds both whichever
``evaluation.weights`` the package uses (the written scores must match the evaluated
weights'). Prints one Markdown table: AUC mean (std) over the folds per (configuration,
model, feature set), the differences final weights - each reference (mean, and min/max over
folds, paired per fold), the validation AUC of the final weights (the last epoch's
``val_auc``: what the demo's compression is chosen by), epochs trained and the median wall
and CPU time per training.
``--json FILE`` appends one line per training; ``--table-from FILE`` prints the table of
such a file (several configurations, e.g. a run with ``--no-sklearn`` borrows the
references of another run on the same folds).

    python benchmarks/demo_fidelity.py --preset demo [--folds 5] [--threads 1] \\
        [--feature-sets complete,high] [--seed 1,2,3] [--compression 7] \\
        [--set max_epochs=100 ...] [--json rows.jsonl]
    python benchmarks/demo_fidelity.py --table-from rows.jsonl

The numbers of docs/demo.md: the preset, ``--preset demo --seed 1,2,3 --json
rows.jsonl`` (and ``--feature-sets high``); the choice of its compression, the same with
``--compression 3``, ``5`` and ``10``; the shallow net's learning rate, ``--models shallow
--set learning_rate=0.35``.

``--compression C`` replaces the preset's schedule by the demo's rule at compression ``C``
(``reproduce.train.schedules.compressed_schedule`` for the preset's epoch; docs/demo.md's
sweep of C). ``--seed 1,2,3`` trains every fold with each seed (package and scikit-learn
alike; the table's mean is over folds x seeds, the differences paired per fold and seed).
``--set`` overrides training keys on top of the preset (to compare a candidate before it
goes into the preset), e.g. ``--set stopping=paper_text``; ``--weights`` the evaluated
weights (default: the config's ``evaluation.weights``). The per-batch learning-rate factor
is rescaled per fold so that a fold's epoch (fewer training rows than the preset's) decays
the rate as much as the preset's epoch does (``--decay-per batch`` turns this off).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from reproduce.model_registry import model_label  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "higgs-sample.csv.gz"


def parse_value(text: str):
    """A ``--set`` value as YAML reads it (numbers, null, true/false, strings)."""
    return yaml.safe_load(text)


def preset_training(preset: str, overrides: dict) -> dict:
    """The training section the workflow would run with ``--config preset=<preset>``."""
    from reproduce.config import load_config

    base = yaml.safe_load((REPO / "config.yaml").read_text())
    config = load_config(dict(base, preset=preset), workflow_dir=REPO / "workflow", base=base)
    return config["training"] | overrides, config


def fold_bounds(n_rows: int, k: int) -> list[tuple[int, int]]:
    """``k`` contiguous test blocks covering all rows, sizes differing by at most one."""
    edges = [round(i * n_rows / k) for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


def rotated_order(n_rows: int, test: tuple[int, int]) -> np.ndarray:
    """Row order of a fold's copy: the rows after the test block, then those before it
    (both in file order), then the test block. The validation split is the last rows
    before the test block in this order."""
    a, b = test
    return np.r_[np.arange(b, n_rows), np.arange(0, a), np.arange(a, b)]


def write_fold(lines: list[bytes], order: np.ndarray, path: Path) -> None:
    if path.exists():
        return
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wb", compresslevel=1) as f:
        f.writelines(lines[i] for i in order)
    os.replace(tmp, path)


def sklearn_reference(x_train, y_train, x_test, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    scaler = StandardScaler().fit(x_train)
    mlp = MLPClassifier(hidden_layer_sizes=(300,), activation="tanh", solver="adam",
                        alpha=1e-4, batch_size=200, learning_rate_init=1e-3,
                        early_stopping=True, validation_fraction=0.1, n_iter_no_change=10,
                        max_iter=200, random_state=seed)
    mlp.fit(scaler.transform(x_train), y_train)
    scores = mlp.predict_proba(scaler.transform(x_test))[:, 1]
    return scores, time.perf_counter() - t0


def sklearn_reference_validation(x_train, y_train, x_valid, y_valid, x_test, seed: int,
                                 max_epochs: int = 200, patience: int = 10):
    """The same MLP trained epoch by epoch (``partial_fit``: one pass, Adam state kept), the
    epoch chosen by the log-loss on the package's validation block (the rows the package
    monitors): test scores of the epoch of lowest validation loss, stop after ``patience``
    epochs without a new lowest."""
    from sklearn.metrics import log_loss
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    scaler = StandardScaler().fit(x_train)
    x_train, x_valid, x_test = (scaler.transform(x) for x in (x_train, x_valid, x_test))
    mlp = MLPClassifier(hidden_layer_sizes=(300,), activation="tanh", solver="adam",
                        alpha=1e-4, batch_size=200, learning_rate_init=1e-3,
                        random_state=seed)
    best, best_epoch, scores = np.inf, 0, None
    for epoch in range(max_epochs):
        mlp.partial_fit(x_train, y_train, classes=[0.0, 1.0])
        loss = log_loss(y_valid, mlp.predict_proba(x_valid)[:, 1])
        if loss < best:
            best, best_epoch, scores = loss, epoch, mlp.predict_proba(x_test)[:, 1]
        elif epoch - best_epoch >= patience:
            break
    return scores, best_epoch + 1, time.perf_counter() - t0


def package_scores(run_dir: Path, x_test: np.ndarray) -> dict:
    """Test scores of the final weights (model.keras) and of the best-validation checkpoint."""
    import keras

    import reproduce.train.keras_objects  # noqa: F401  (registers the package's Keras objects)

    net = keras.models.load_model(run_dir / "model.keras")
    final = net.predict(x_test, batch_size=10_000, verbose=0).ravel()
    net.load_weights(run_dir / "best.weights.h5")
    best = net.predict(x_test, batch_size=10_000, verbose=0).ravel()
    return {"final": final, "best_validation": best}


def mean_std(values) -> str:
    values = list(values)
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ({statistics.stdev(values):.3f})"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="training key on top of the preset (repeatable)")
    parser.add_argument("--weights", choices=["final", "best_validation"], default=None,
                        help="evaluated weights (default: the config's evaluation.weights)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", default=None,
                        help="comma-separated 0-based folds to run (default: all)")
    parser.add_argument("--valid-rows", type=int, default=1000)
    parser.add_argument("--models", default="shallow,deep")
    parser.add_argument("--feature-sets", default="complete")
    parser.add_argument("--seed", default="1",
                        help="seed(s) of the trainings (package and sklearn), comma-separated; "
                        "every fold is trained with each")
    parser.add_argument("--compression", type=float, default=None,
                        help="the demo's rule at this compression instead of the preset's "
                        "schedule (max_epochs, momentum ramp, decay; --set still wins)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=REPO / "results" / "demo_fidelity")
    parser.add_argument("--label", default=None, help="name of this configuration's runs")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--decay-per", choices=["epoch", "batch"], default="epoch",
                        help="epoch (default): rescale the preset's per-batch decay factor so "
                        "that a fold's epoch (fewer rows) decays the rate as much as the "
                        "preset's epoch does; batch: use the factor as it is")
    parser.add_argument("--json", type=Path, default=None, help="append per-fold rows here")
    return parser.parse_args(argv)


@dataclasses.dataclass
class Experiment:
    """The configuration every fold trains with."""

    args: argparse.Namespace
    label: str
    overrides: dict
    training: dict           # the training section, compression and --set applied
    evaluation_weights: str
    preset_batches: int      # minibatches in the preset's epoch
    seeds: list

    def settings(self, model: str, decay_factor: float | None = None):
        """The ``TrainingSettings`` of ``model``, with the fold's per-batch decay factor."""
        from reproduce.train.settings import settings_for

        settings = settings_for(model, self.training, threads=self.args.threads)
        if decay_factor is None:
            return settings
        return dataclasses.replace(settings, learning_rate_decay_factor=decay_factor)


def experiment(args: argparse.Namespace) -> Experiment:
    """The preset's training section with ``--compression`` and ``--set`` applied."""
    from reproduce.datasets import get_dataset
    from reproduce.train.settings import TrainingSettings

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = parse_value(value)
    training, config = preset_training(args.preset, overrides)
    # the preset's epoch in minibatches: the compression's epoch, and the one each fold's
    # per-batch decay is rescaled to
    preset_train = get_dataset("HIGGS", config["dataset_overrides"]["HIGGS"]).splits["train"]
    preset_batches = math.ceil((preset_train[1] - preset_train[0])
                               / training.get("batch_size", TrainingSettings.batch_size))
    if args.compression is not None:
        from reproduce.train.schedules import compressed_schedule

        training = training | compressed_schedule(args.compression, preset_batches) | overrides
    return Experiment(args, args.label or args.preset, overrides, training,
                      args.weights or config["evaluation"]["weights"], preset_batches,
                      [int(s) for s in str(args.seed).split(",")])


def print_header(run: Experiment) -> None:
    args, settings = run.args, run.settings(run.args.models.split(",")[0])
    print(f"# {run.label}: preset {args.preset}, compression {args.compression}, overrides "
          f"{run.overrides}, threads {args.threads}, seeds {run.seeds}, evaluated weights "
          f"{run.evaluation_weights}")
    print(f"# training settings: max_epochs {settings.max_epochs}, stopping "
          f"{settings.stopping}, batch order {settings.batch_order}, decay "
          f"{settings.learning_rate_decay_factor}, momentum ramp "
          f"{settings.momentum_saturation_epochs} epochs, patience {settings.patience}, "
          f"standardize {settings.standardize}")
    sys.stdout.flush()


@dataclasses.dataclass
class Fold:
    """One fold's copy of the sample, its TFRecords and its rows."""

    k: int
    directory: Path
    spec: object
    shards: Path
    order: np.ndarray  # the copy's rows, as rows of the sample
    n_train: int
    n_valid: int
    n_test: int

    def rows(self, split: str) -> np.ndarray:
        """The sample's rows of ``split`` ("train", "valid", "test") in this fold."""
        bounds = {"train": (0, self.n_train),
                  "valid": (self.n_train, self.n_train + self.n_valid),
                  "test": (len(self.order) - self.n_test, len(self.order))}[split]
        return self.order[bounds[0]:bounds[1]]


def prepare_fold(args, k: int, test: tuple[int, int], lines: list[bytes]) -> Fold:
    """Write fold ``k``'s rotated copy of the sample and its TFRecords (once)."""
    from reproduce.datasets import get_dataset
    from reproduce.data.tfrecords import write_tfrecord_shards

    n_rows = len(lines)
    n_test = test[1] - test[0]
    n_train = n_rows - n_test - args.valid_rows
    order = rotated_order(n_rows, test)
    fold_dir = args.workdir / f"k{args.folds}" / f"fold{k}"
    fold_dir.mkdir(parents=True, exist_ok=True)
    fold_csv = fold_dir / "higgs-fold.csv.gz"
    write_fold(lines, order, fold_csv)
    spec = get_dataset("HIGGS", {"rows": n_rows, "filename": fold_csv.name, "splits": {
        "train": [0, n_train], "valid": [n_train, n_train + args.valid_rows],
        "test": [n_rows - n_test, n_rows]}})
    shards = fold_dir / "tfrecords"
    if not (shards / "manifest.json").exists():
        write_tfrecord_shards(fold_csv, shards, spec, rows_per_shard=4000, rows_per_record=256)
    return Fold(k, fold_dir, spec, shards, order, n_train, args.valid_rows, n_test)


def fold_decay_factor(run: Experiment, fold: Fold) -> float | None:
    """The per-batch decay factor that decays a fold's epoch as much as the preset's (None
    with ``--decay-per batch``: the factor as it is)."""
    if run.args.decay_per != "epoch":
        return None
    settings = run.settings(run.args.models.split(",")[0])
    return settings.learning_rate_decay_factor ** (
        run.preset_batches / math.ceil(fold.n_train / settings.batch_size))


def sklearn_references(args, k: int, feature_set: str, seed: int, data: dict) -> dict:
    """The two scikit-learn references' test AUCs and timings on the fold's rows."""
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    reference = {"auc": None, "wall_s": None, "auc_valid": None, "epoch_valid": None}
    if args.no_sklearn:
        return reference
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = (
        data["train"], data["valid"], data["test"])
    with threadpool_limits(args.threads):
        scores, seconds = sklearn_reference(x_train, y_train, x_test, seed)
        scores_v, epoch_v, seconds_v = sklearn_reference_validation(
            x_train, y_train, x_valid, y_valid, x_test, seed)
    reference = {"auc": roc_auc_score(y_test, scores), "wall_s": seconds,
                 "auc_valid": roc_auc_score(y_test, scores_v), "epoch_valid": epoch_v}
    print(f"fold {k} sklearn MLP {feature_set}: AUC {reference['auc']:.4f} "
          f"(early_stopping, {seconds:.1f} s), {reference['auc_valid']:.4f} "
          f"(epoch {epoch_v} chosen on the validation block, {seconds_v:.1f} s)", flush=True)
    return reference


def package_row(run: Experiment, fold: Fold, model: str, feature_set: str, seed: int,
                x_test: np.ndarray, y_test: np.ndarray, reference: dict) -> dict:
    """Train the package's ``model`` on the fold and score it: one row of the table."""
    from sklearn.metrics import roc_auc_score

    from reproduce.model_registry import parse_model_name
    from reproduce.run_log import read_log
    from reproduce.train.training import train_run

    args = run.args
    settings = run.settings(model, fold_decay_factor(run, fold))
    run_dir = fold.directory / "runs" / run.label / f"{model}-{feature_set}-seed{seed}"
    t0, cpu0 = time.perf_counter(), time.process_time()
    metrics = train_run(fold.shards, run_dir, spec=fold.spec,
                        model=parse_model_name(model)["model"],
                        feature_set=feature_set, seed=seed, settings=settings,
                        evaluated_weights=run.evaluation_weights, verbose=0)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    epoch_ends = np.loadtxt(run_dir / "log.csv", delimiter=",", skiprows=1, usecols=-1,
                            ndmin=1)
    last_epoch = read_log(run_dir / "log.csv").rows[-1]
    written = np.load(run_dir / "test_scores.npz")
    if not np.array_equal(written["labels"], y_test.astype(np.int8)):
        raise AssertionError(f"fold {fold.k}: test labels of the package differ from the "
                             "numpy-parsed rows")
    by_weights = package_scores(run_dir, x_test)
    return {
        "label": run.label, "preset": args.preset, "overrides": run.overrides,
        "stopping": settings.stopping, "fold": fold.k, "folds": args.folds,
        "train_rows": fold.n_train, "valid_rows": fold.n_valid, "test_rows": fold.n_test,
        "model": model, "feature_set": feature_set, "seed": seed, "threads": args.threads,
        "decay_factor": settings.learning_rate_decay_factor,
        "auc_written": roc_auc_score(y_test, written["scores"]),
        "auc_final": roc_auc_score(y_test, by_weights["final"]),
        "auc_best_validation": roc_auc_score(y_test, by_weights["best_validation"]),
        "package_evaluation_weights": run.evaluation_weights,
        "epochs": metrics["epochs_trained"], "best_epoch": metrics["best_epoch"],
        "wall_s": wall, "cpu_s": cpu, "train_wall_s": metrics["wall_time_s"],
        "first_epoch_s": float(epoch_ends[0]),
        # the validation split's AUC and loss of the final weights (the last epoch of
        # log.csv): what the choice of the compression looks at
        "val_auc_final": float(last_epoch["val_auc"]),
        "val_loss_final": float(last_epoch["val_loss"]),
        "median_epoch_s": float(np.median(np.diff(epoch_ends)))
        if len(epoch_ends) > 1 else None,
        "sklearn_auc": reference["auc"], "sklearn_wall_s": reference["wall_s"],
        "sklearn_valid_auc": reference["auc_valid"],
        "sklearn_valid_epoch": reference["epoch_valid"],
    }


def check_and_report(run: Experiment, row: dict) -> None:
    """Check that the written scores are the evaluated weights'; print the row, append it to
    ``--json``."""
    evaluated = row[f"auc_{run.evaluation_weights}"]
    if abs(row["auc_written"] - evaluated) > 1e-6:
        raise AssertionError(f"fold {row['fold']}: test_scores.npz gives AUC "
                             f"{row['auc_written']:.6f}, the {run.evaluation_weights} "
                             f"weights {evaluated:.6f}")
    print(f"fold {row['fold']} {model_label(row['model'])} {row['feature_set']}: AUC written "
          f"{row['auc_written']:.4f}, final {row['auc_final']:.4f}, best-valid "
          f"{row['auc_best_validation']:.4f} (epoch {row['best_epoch']} of "
          f"{row['epochs']}), {row['wall_s']:.1f} s wall, {row['cpu_s']:.1f} s CPU, first "
          f"epoch {row['first_epoch_s']:.1f} s, then {row['median_epoch_s'] or 0:.2f} s/epoch",
          flush=True)
    if run.args.json:
        with open(run.args.json, "a") as f:
            f.write(json.dumps(row) + "\n")


def run_fold(run: Experiment, fold: Fold, table: np.ndarray) -> list[dict]:
    """Every (seed, feature set, model) of one fold: the references, then the package."""
    from reproduce.datasets import get_dataset

    args, rows = run.args, []
    test = fold.rows("test")
    decay = run.settings(args.models.split(",")[0],
                         fold_decay_factor(run, fold)).learning_rate_decay_factor
    print(f"# fold {fold.k}: test rows {test[0]}..{test[-1] + 1} of the sample, "
          f"{fold.n_train:,} train, {fold.n_valid:,} valid, {fold.n_test:,} test; per-batch "
          f"decay {decay:.7f} ({math.ceil(fold.n_train / 100)} batches/epoch; the preset's "
          f"epoch has {run.preset_batches})", flush=True)
    base_spec = get_dataset("HIGGS")
    for seed, feature_set in ((s, f) for s in run.seeds for f in args.feature_sets.split(",")):
        columns = [1 + i for i in base_spec.feature_indices(feature_set)]
        data = {split: (table[fold.rows(split)][:, columns], table[fold.rows(split), 0])
                for split in ("train", "valid", "test")}
        reference = sklearn_references(args, fold.k, feature_set, seed, data)
        for model in args.models.split(","):
            row = package_row(run, fold, model, feature_set, seed, *data["test"], reference)
            check_and_report(run, row)
            rows.append(row)
    return rows


def main(argv=None) -> int:
    import keras

    args = parse_args(argv)
    keras.utils.disable_interactive_logging()
    run = experiment(args)
    print_header(run)
    lines = gzip.open(SAMPLE, "rb").read().splitlines(keepends=True)
    table = np.loadtxt(lines, delimiter=",", dtype=np.float64).astype(np.float32)
    folds = fold_bounds(len(lines), args.folds)
    chosen = (range(args.folds) if args.only_folds is None
              else [int(i) for i in args.only_folds.split(",")])
    rows = []
    for k in chosen:
        rows += run_fold(run, prepare_fold(args, k, folds[k], lines), table)
    print_table(rows)
    return 0


def print_table(rows: list[dict]) -> None:
    """One line per (configuration, model, feature set): means (std) over folds (and
    seeds); the differences are paired per fold and seed (package - reference on the same
    test rows, the reference with the same seed)."""
    def diff(group, key, ref):
        d = [r[key] - r[ref] for r in group if r.get(ref) is not None]
        return f"{statistics.mean(d):+.3f} [{min(d):+.3f}, {max(d):+.3f}]" if d else "-"

    def refs(group, ref):
        values = [r[ref] for r in group if r.get(ref) is not None]
        return mean_std(values) if values else "-"

    print()
    print("| config | model | features | folds x seeds | package, final weights | package, "
          "best-valid weights | sklearn MLP (early_stopping) | sklearn MLP (epoch by valid) | "
          "final - sklearn ES: mean [min, max] | final - sklearn valid | validation AUC, "
          "final weights | epochs | wall s / training | CPU s / training |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    # The references are deterministic per (fold, feature set, seed): a configuration run
    # with --no-sklearn borrows them from another configuration's rows.
    references = {(r["folds"], r["fold"], r["feature_set"], r["seed"], r["valid_rows"]): r
                  for r in rows if r.get("sklearn_valid_auc") is not None}
    for row in rows:
        ref = references.get((row["folds"], row["fold"], row["feature_set"], row["seed"],
                              row["valid_rows"]))
        if ref is not None and row.get("sklearn_valid_auc") is None:
            row.update({key: ref[key] for key in ("sklearn_auc", "sklearn_valid_auc")})
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["label"], row["model"], row["feature_set"]), []).append(row)
    for (label, model, feature_set), group in groups.items():
        n_folds = len({r["fold"] for r in group})
        n_seeds = len({r["seed"] for r in group})
        print(f"| {label} | {model_label(model)} | {feature_set} | {n_folds} x {n_seeds} | "
              f"{mean_std(r['auc_final'] for r in group)} | "
              f"{mean_std(r['auc_best_validation'] for r in group)} | "
              f"{refs(group, 'sklearn_auc')} | {refs(group, 'sklearn_valid_auc')} | "
              f"{diff(group, 'auc_final', 'sklearn_auc')} | "
              f"{diff(group, 'auc_final', 'sklearn_valid_auc')} | "
              f"{refs(group, 'val_auc_final')} | "
              f"{statistics.median(r['epochs'] for r in group):.0f} | "
              f"{statistics.median(r['wall_s'] for r in group):.1f} | "
              f"{statistics.median(r['cpu_s'] for r in group):.1f} |")
    print("(mean (std) over folds x seeds; wall and CPU: medians)")
    print_choice(rows)


def print_choice(rows: list[dict]) -> None:
    """With several configurations: the demo's choice of compression, the one-standard-error
    rule on the validation AUC of the final weights. Per configuration, its mean over all
    its trainings (every model, feature set, fold and seed) and its difference from the
    best configuration's, paired over the trainings both have, with the standard error;
    the chosen one is the configuration with the fewest epochs whose difference is within
    one standard error (of those with as few epochs, the highest mean)."""
    by_label: dict = {}
    for row in rows:
        if row.get("val_auc_final") is not None:
            key = (row["model"], row["feature_set"], row["fold"], row["seed"])
            by_label.setdefault(row["label"], {})[key] = row
    if len(by_label) < 2:
        return
    means = {label: statistics.mean(r["val_auc_final"] for r in runs.values())
             for label, runs in by_label.items()}
    best = max(means, key=means.get)
    print()
    print("| config | epochs | trainings | validation AUC, final weights | minus the best "
          "(standard error, paired) |")
    print("|---|---|---|---|---|")
    within = []
    for label, runs in by_label.items():
        epochs = statistics.median(r["epochs"] for r in runs.values())
        shared = sorted(set(runs) & set(by_label[best]))
        d = [runs[k]["val_auc_final"] - by_label[best][k]["val_auc_final"] for k in shared]
        if label == best:
            cell = "(best)"
            within.append((epochs, -means[label], label))
        elif len(d) > 1:
            se = statistics.stdev(d) / math.sqrt(len(d))
            cell = f"{statistics.mean(d):+.4f} ({se:.4f}, {len(d)} pairs)"
            if statistics.mean(d) >= -se:
                within.append((epochs, -means[label], label))
        else:
            cell = "-"
        print(f"| {label} | {epochs:.0f} | {len(runs)} | {means[label]:.4f} | {cell} |")
    print(f"(one-standard-error rule: the fewest epochs within one standard error of the "
          f"best: {min(within)[-1]})")


def table_from_json(path: Path) -> None:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    print_table(rows)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--table-from":
        table_from_json(Path(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
