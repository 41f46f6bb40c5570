"""Writing outputs so that nothing incomplete ever stands under a final name.

Every function writes to a temporary name beside the target and renames it into place, so
a job killed mid-write leaves either the old file or none, never a truncated one that
Snakemake (or a reader) would take for complete.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np


def _temporary(path: Path) -> Path:
    return path.with_name(path.stem + ".tmp" + path.suffix)


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(path, obj, indent: int | None = 1) -> None:
    """Write ``obj`` as JSON (numpy scalars as floats) via a temporary file and a rename."""
    write_text_atomic(path, json.dumps(obj, indent=indent, default=float) + "\n")


def savez_atomic(path, **arrays) -> None:
    """``np.savez_compressed`` via a temporary file and a rename."""
    path = Path(path)
    tmp = _temporary(path)
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def copy_atomic(source, dest) -> None:
    """Copy ``source`` to ``dest`` via a temporary file and a rename."""
    import shutil

    dest = Path(dest)
    tmp = _temporary(dest)
    shutil.copyfile(source, tmp)
    os.replace(tmp, dest)


def save_figure(fig, path, dpi: int = 120) -> None:
    """Save a matplotlib figure as ``path`` (PNG) and, beside it, a PDF for papers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, kwargs in ((path, {"dpi": dpi}), (path.with_suffix(".pdf"), {})):
        tmp = _temporary(target)
        fig.savefig(tmp, bbox_inches="tight", **kwargs)
        os.replace(tmp, target)


def sha256_of(path, chunk: int = 8 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
