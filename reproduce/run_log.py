"""The one reader of a run's per-epoch CSV log (the file Keras's ``CSVLogger`` writes).

Training (to cut a log back to the saved epochs), ``status`` (while a training appends to
the log) and the report (learning curves) all read a log through :func:`read_log`, so a
half-written last line or a malformed row means the same thing everywhere: it is left out
and counted.

Example:

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
>>> _ = path.write_text("epoch,loss,val_loss\\n0,0.69,0.68\\n1,0.66,0.6")
>>> log = read_log(path)          # the last line is still being written
>>> log.epochs(), log.floats()[0]["val_loss"]
([0], 0.68)
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RunLog:
    """The complete rows of one CSV log.

    Attributes:
        path: the file read.
        header: the column names of its first line ([] when the file is absent or empty).
        rows: each complete row as a dict of strings keyed by the header.
        skipped: rows left out because their field count did not match the header.
    """

    path: Path
    header: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.rows)

    def epochs(self) -> list[int]:
        """The 0-based ``epoch`` column, as logged (rows without a number left out)."""
        return [int(r["epoch"]) for r in self.rows if r.get("epoch", "").isdigit()]

    def floats(self) -> list[dict[str, float]]:
        """The rows with every value a float (an empty or non-numeric field is NaN)."""
        return [{k: _to_float(v) for k, v in row.items()} for row in self.rows]

    def frame(self):
        """The rows as a pandas DataFrame of floats (``epoch`` as int where it is whole)."""
        import pandas as pd

        df = pd.DataFrame(self.floats(), columns=self.header)
        if "epoch" in df and len(df) and df["epoch"].notna().all():
            df["epoch"] = df["epoch"].astype(int)
        return df


def _to_float(value: str) -> float:
    try:
        return float(value) if value != "" else math.nan
    except ValueError:
        return math.nan


def read_log(path: str | Path) -> RunLog:
    """Read a CSV log, also while a training appends to it.

    A last line without its newline (still being written) is dropped, as is any row whose
    field count differs from the header's. A missing file reads as an empty log.

    Args:
        path: the ``log.csv`` (or ``progress/log.csv``) of a run.

    Returns:
        A :class:`RunLog`.

    Raises:
        OSError, UnicodeDecodeError: the file exists but cannot be read as text.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return RunLog(path)
    lines = text.splitlines(keepends=True)
    if not lines or not lines[0].endswith("\n"):
        return RunLog(path)
    complete = "".join(line for line in lines if line.endswith("\n"))
    reader = csv.reader(io.StringIO(complete))
    header = next(reader)
    rows, skipped = [], 0
    for values in reader:
        if not values:
            continue
        if len(values) != len(header):
            skipped += 1
            continue
        rows.append(dict(zip(header, values)))
    return RunLog(path, header, rows, skipped)
