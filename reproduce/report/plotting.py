"""Matplotlib, set up once for the report's figures (no display: the Agg backend)."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, imported when a figure is first drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def add_footer(fig, text: str, fontsize: float = 10) -> None:
    """``text`` (what run the figure shows) centred under the figure's axes; the saved
    figure's tight bounding box takes it in."""
    if text:
        fig.text(0.5, 0.0, text, ha="center", va="top", fontsize=fontsize, color="#333")
