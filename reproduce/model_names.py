"""Names of the network variants, parsed without importing Keras (the Snakefile uses them)."""

from __future__ import annotations

MODEL_NAME_PATTERN = r"(shallow|deep)(_dropout)?(_w\d+)?(_h\d+)?"


def parse_model_name(name: str) -> dict:
    """``shallow``, ``deep_dropout``, ``shallow_w1000``, ``deep_h5`` ... -> its settings.

    Returns ``{"model", "dropout", "width", "depth"}``; ``width``/``depth`` are None when
    the name does not set them (300 and 4 hidden layers, the paper's Table 1 networks).
    """
    import re

    match = re.fullmatch(MODEL_NAME_PATTERN, name)
    if not match:
        raise ValueError(f"model name {name!r} does not match {MODEL_NAME_PATTERN}")
    base, dropout, width, depth = match.groups()
    return {"model": base, "dropout": bool(dropout),
            "width": int(width[2:]) if width else None,
            "depth": int(depth[2:]) if depth else None}
