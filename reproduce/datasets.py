"""The registry of data sets: the two benchmarks of Baldi, Sadowski & Whiteson (2014).

Every fact about a data file (where to get it, how large it is, its checksum, its columns,
its feature groups, the paper's split, which table of the paper reports it) lives here and
nowhere else; the workflow (wildcards, config checks, resources, figures) and the report
derive what they need from ``DATASETS``. The workflow's config may pick another source (the
embedded sample: ``dataset_overrides.HIGGS.source: sample``) or override the source and the
split, never the columns.

Adding a data set is one ``DatasetSpec`` in ``DATASETS`` plus its paper values in
``reproduce.paper_values`` (``AUC``, the models of its table; ``SIGNIFICANCE`` if the paper
gives one); ``tests/test_registry.py`` runs the workflow on a toy one added that way.
"""

from __future__ import annotations

import dataclasses
import re

HIGGS_LOW_LEVEL = (
    "lepton_pT", "lepton_eta", "lepton_phi",
    "missing_energy_magnitude", "missing_energy_phi",
    "jet_1_pt", "jet_1_eta", "jet_1_phi", "jet_1_b_tag",
    "jet_2_pt", "jet_2_eta", "jet_2_phi", "jet_2_b_tag",
    "jet_3_pt", "jet_3_eta", "jet_3_phi", "jet_3_b_tag",
    "jet_4_pt", "jet_4_eta", "jet_4_phi", "jet_4_b_tag",
)  # the paper, "Benchmark data": 21 low-level features, in file order
HIGGS_HIGH_LEVEL = ("m_jj", "m_jjj", "m_lv", "m_jlv", "m_bb", "m_wbb", "m_wwbb")

SUSY_LOW_LEVEL = (
    "lepton_1_pT", "lepton_1_eta", "lepton_1_phi",
    "lepton_2_pT", "lepton_2_eta", "lepton_2_phi",
    "missing_energy_magnitude", "missing_energy_phi",
)
SUSY_HIGH_LEVEL = (
    "MET_rel", "axial_MET", "M_R", "M_TR_2", "R", "MT2", "S_R", "M_Delta_R",
    "dPhi_r_b", "cos_theta_r1",
)

# Each feature's axis label in physics notation (matplotlib mathtext) and its unit, for the
# feature-distribution figures and Fig. 8. The UCI files hold momenta, energies, masses and
# the HIGGS azimuthal angles scaled (not in GeV or radians: phi spans about +-1.74), so their
# unit is the data set's scaled units; eta, b-tags and ratios have none.
SCALED_UNITS = "scaled units"
_JETS = {f"jet_{i}_{part}": (label.format(i=i), unit) for i in range(1, 5)
         for part, label, unit in (("pt", r"jet {i} $p_{{\mathrm{{T}}}}$", SCALED_UNITS),
                                   ("eta", r"jet {i} $\eta$", ""),
                                   ("phi", r"jet {i} $\phi$", SCALED_UNITS),
                                   ("b_tag", "jet {i} b-tag", ""))}
_LEPTONS = {f"lepton{n}_{part}": (label.format(n=n.strip("_")), unit)
            for n in ("", "_1", "_2")
            for part, label, unit in (("pT", r"lepton {n} $p_{{\mathrm{{T}}}}$", SCALED_UNITS),
                                      ("eta", r"lepton {n} $\eta$", ""),
                                      ("phi", r"lepton {n} $\phi$", SCALED_UNITS))}
FEATURE_AXIS_LABELS = {
    **{name: (" ".join(label.split()), unit) for name, (label, unit) in _LEPTONS.items()},
    **_JETS,
    "missing_energy_magnitude": (r"$E_{\mathrm{T}}^{\mathrm{miss}}$", SCALED_UNITS),
    "missing_energy_phi": (r"$E_{\mathrm{T}}^{\mathrm{miss}}$ $\phi$", SCALED_UNITS),
    "m_jj": (r"$m_{jj}$", SCALED_UNITS), "m_jjj": (r"$m_{jjj}$", SCALED_UNITS),
    "m_lv": (r"$m_{\ell\nu}$", SCALED_UNITS), "m_jlv": (r"$m_{j\ell\nu}$", SCALED_UNITS),
    "m_bb": (r"$m_{bb}$", SCALED_UNITS), "m_wbb": (r"$m_{Wbb}$", SCALED_UNITS),
    "m_wwbb": (r"$m_{WWbb}$", SCALED_UNITS),
    "MET_rel": (r"$E_{\mathrm{T}}^{\mathrm{miss,rel}}$", SCALED_UNITS),
    "axial_MET": (r"axial $E_{\mathrm{T}}^{\mathrm{miss}}$", SCALED_UNITS),
    "M_R": (r"$M_R$", SCALED_UNITS), "M_TR_2": (r"$M_{\mathrm{T}}^{R}$", SCALED_UNITS),
    "R": (r"$R$", ""), "MT2": (r"$M_{\mathrm{T2}}$", SCALED_UNITS),
    "S_R": (r"$\sqrt{\hat{s}_R}$", SCALED_UNITS), "M_Delta_R": (r"$M_{\Delta}^{R}$", SCALED_UNITS),
    "dPhi_r_b": (r"$\Delta\phi_{\beta}^{R}$", ""),
    "cos_theta_r1": (r"$|\cos\theta_{R+1}|$", ""),
}


def feature_axis_label(name: str) -> str:
    """A feature's axis label: physics notation and unit (the column name if unknown).

    Example:

    >>> print(feature_axis_label("m_wbb"), "|", feature_axis_label("jet_2_b_tag"))
    $m_{Wbb}$ [scaled units] | jet 2 b-tag
    """
    label, unit = FEATURE_AXIS_LABELS.get(name, (name, ""))
    return f"{label} [{unit}]" if unit else label


FEATURE_SETS = ("low", "high", "complete")
# How the paper names each feature set in its tables and figures ("low-level", ...): the
# column heads of the AUC tables and the legends of the figures.
FEATURE_LABELS = {"low": "low-level", "high": "high-level", "complete": "complete"}

# One path component ending in .csv.gz: the download writes resources/<name>/<filename>, and
# a name with folders ("../../x.csv.gz", "/tmp/x.csv.gz") would write elsewhere. The config
# schema (dataset_overrides.<name>.filename) carries the same pattern; a test keeps them equal.
FILENAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*\.csv\.gz$"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One data file of the paper and how the paper splits it.

    Attributes:
        name: "HIGGS" or "SUSY".
        urls: download locations, tried in order (a ``.zip`` wraps the ``.csv.gz``).
        filename: the name of the ``.csv.gz`` the download produces.
        size: byte size of the ``.csv.gz``, or None where it is not published.
        sha256: hex digest of the ``.csv.gz``, or None where it is not published.
        rows: number of events in the file.
        low_level, high_level: feature names, in file order (column 0 is the label).
        splits: ``{"train"|"valid"|"test": (first_row, end_row)}``, in file order.
        paper_table: the paper's table of this data set's AUCs ("Table 1").
        mass_features: the two reconstructed masses of the paper's Fig. 8 (the events that
            pass a cut on the network's output), or None where the paper has no such figure.
        sources: other files of the same layout, by name (``{"sample": {...}}``): the facts
            (``urls``, ``filename``, ``size``, ``sha256``, ``rows``, ``splits``) that
            ``dataset_overrides.<name>.source`` puts in place of the full file's.
        source: the name of the source this spec describes ("full" unless one was picked).
    """

    name: str
    urls: tuple
    filename: str
    size: int | None
    sha256: str | None
    rows: int
    low_level: tuple
    high_level: tuple
    splits: dict
    paper_table: str = ""
    mass_features: tuple | None = None
    sources: dict = dataclasses.field(default_factory=dict)
    source: str = "full"

    @property
    def features(self) -> tuple:
        """All feature names in file order (the label column excluded)."""
        return self.low_level + self.high_level

    @property
    def columns(self) -> tuple:
        """All column names of the file, label first."""
        return ("label",) + self.features

    def feature_indices(self, feature_set: str) -> list[int]:
        """Indices into ``features`` of a feature set: "low", "high" or "complete"."""
        n_low, n_high = len(self.low_level), len(self.high_level)
        if feature_set == "low":
            return list(range(n_low))
        if feature_set == "high":
            return list(range(n_low, n_low + n_high))
        if feature_set == "complete":
            return list(range(n_low + n_high))
        raise ValueError(
            f"unknown feature set {feature_set!r}: expected one of {', '.join(FEATURE_SETS)}"
        )


HIGGS = DatasetSpec(
    name="HIGGS",
    urls=(
        "https://archive.ics.uci.edu/ml/machine-learning-databases/00280/HIGGS.csv.gz",
        "https://archive.ics.uci.edu/static/public/280/higgs.zip",
        "http://mlphysics.ics.uci.edu/data/higgs/HIGGS.csv.gz",
    ),
    filename="HIGGS.csv.gz",
    size=2_816_407_858,
    sha256="ea302c18164d4e3d916a1e2e83a9a8d07069fa6ebc7771e4c0540d54e593b698",
    rows=11_000_000,
    low_level=HIGGS_LOW_LEVEL,
    high_level=HIGGS_HIGH_LEVEL,
    # The authors' code: train rows 0..10M, valid 10M..10.5M, test the last 500k.
    splits={"train": (0, 10_000_000), "valid": (10_000_000, 10_500_000),
            "test": (10_500_000, 11_000_000)},
    paper_table="Table 1",
    mass_features=("m_wbb", "m_wwbb"),  # the paper, Fig. 8
    sources={
        # data/higgs-sample.csv.gz: 10,984 real events of HIGGS.csv.gz, same layout (see
        # data/README.md); the demo and smoke presets and the tests use it. The split keeps
        # 1,000 events each for validation and test.
        "sample": {
            "urls": ("data/higgs-sample.csv.gz",),
            "filename": "higgs-sample.csv.gz",
            "size": 2_813_312,
            "sha256": "d297344d54995de8aa39d04d5f4fa1659248673395aa9b6e124190e9e30426df",
            "rows": 10_984,
            "splits": {"train": (0, 8_984), "valid": (8_984, 9_984), "test": (9_984, 10_984)},
        },
    },
)

SUSY = DatasetSpec(
    name="SUSY",
    urls=(
        "https://archive.ics.uci.edu/ml/machine-learning-databases/00279/SUSY.csv.gz",
        "https://archive.ics.uci.edu/static/public/279/susy.zip",
        "https://mlphysics.ics.uci.edu/data/susy/SUSY.csv.gz",
    ),
    filename="SUSY.csv.gz",
    size=None,  # not published: the first download records it in a lock file
    sha256=None,
    rows=5_000_000,
    low_level=SUSY_LOW_LEVEL,
    high_level=SUSY_HIGH_LEVEL,
    splits={"train": (0, 4_000_000), "valid": (4_000_000, 4_500_000),
            "test": (4_500_000, 5_000_000)},
    paper_table="Table 2",
)

DATASETS = {spec.name: spec for spec in (HIGGS, SUSY)}


def get_dataset(name: str, overrides: dict | None = None) -> DatasetSpec:
    """The spec of data set ``name``, with config overrides applied.

    Args:
        name: "HIGGS" or "SUSY".
        overrides: optional dict with any of ``source`` (a name in the spec's ``sources``,
            applied first), ``urls``, ``filename``, ``size``, ``sha256``, ``rows``,
            ``splits`` (as in the workflow config's ``dataset_overrides.<name>`` block).

    Returns:
        A DatasetSpec. The file name is checked (one path component, see
        ``FILENAME_PATTERN``) and so are the splits: each is a non-empty range inside the
        file and no two overlap.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: expected one of {', '.join(DATASETS)}")
    spec = DATASETS[name]
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    source = overrides.pop("source", spec.source)
    if source != spec.source:
        if source not in spec.sources:
            known = ", ".join([spec.source, *spec.sources])
            raise ValueError(f"source: {name} has no source {source!r} (known: {known})")
        overrides = {**spec.sources[source], **overrides}
    overrides["source"] = source
    if "urls" in overrides:
        overrides["urls"] = tuple(overrides["urls"])
    if "splits" in overrides:
        overrides["splits"] = {k: tuple(v) for k, v in overrides["splits"].items()}
    spec = dataclasses.replace(spec, **overrides)
    check_filename(spec.filename)
    check_splits(spec)
    return spec


def check_filename(filename: str) -> None:
    """Raise ValueError unless ``filename`` is one path component ending in ``.csv.gz``."""
    if not re.fullmatch(FILENAME_PATTERN, filename):
        raise ValueError(
            f"filename: expected a file name without folders, ending in .csv.gz "
            f"(letters, digits, '_', '.', '+', '-'), got {filename!r}"
        )


def check_splits(spec: DatasetSpec) -> None:
    """Raise ValueError naming the split if a split is empty, overlaps or leaves the file."""
    ranges = []
    for split in ("train", "valid", "test"):
        if split not in spec.splits:
            raise ValueError(f"splits.{split}: missing")
        start, end = spec.splits[split]
        if not 0 <= start < end:
            raise ValueError(
                f"splits.{split}: expected 0 <= start < end, "
                f"got [{start}, {end}]"
            )
        if end > spec.rows:
            raise ValueError(
                f"splits.{split}: ends at row {end:,} but the file "
                f"has {spec.rows:,} rows"
            )
        ranges.append((start, end, split))
    ranges.sort()
    for (s0, e0, a), (s1, e1, b) in zip(ranges, ranges[1:]):
        if s1 < e0:
            raise ValueError(f"splits: {a} and {b} overlap")
