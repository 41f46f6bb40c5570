"""Exact ROC/AUC and the expected discovery significance of the paper's tables."""

from __future__ import annotations

import math

import numpy as np

# The paper, note of Tables 1 and 2: "expected significance of a discovery for 100 signal events and
# 1000 +- 50 background events".
SIGNIFICANCE_SIGNAL_EVENTS = 100.0
SIGNIFICANCE_BACKGROUND_EVENTS = 1000.0
SIGNIFICANCE_BACKGROUND_UNCERTAINTY = 50.0


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ROC curve: ``(false_positive_rate, true_positive_rate, thresholds)``.

    One point per distinct score (ties form a single step), starting at (0, 0); an event
    counts as selected when its score is >= the threshold.
    """
    labels = np.asarray(labels).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in length: {labels.size} vs {scores.size}")
    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC needs both classes, got {n_pos} signal and {n_neg} background")
    order = np.argsort(-scores, kind="mergesort")
    s, p = scores[order], positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tp = np.cumsum(p)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def roc_auc(labels, scores) -> float:
    """Area under the exact ROC curve (trapezoids; ties count one half)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def asimov_significance(s, b, sigma_b):
    """Median discovery significance of ``s`` signal over ``b +- sigma_b`` background.

    The Asimov formula with a background uncertainty (Cowan, Cranmer, Gross, Vitells,
    Eur. Phys. J. C 71 (2011) 1554, eq. 97 of the arXiv version)::

        Z = sqrt(2 [ (s+b) ln((s+b)(b+sb^2) / (b^2+(s+b) sb^2))
                     - (b^2/sb^2) ln(1 + sb^2 s / (b (b+sb^2))) ])

    which tends to ``sqrt(2((s+b) ln(1+s/b) - s))`` as ``sigma_b -> 0``. Arrays broadcast.
    """
    s, b, sigma_b = (np.asarray(v, dtype=np.float64) for v in (s, b, sigma_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        var = sigma_b**2
        exact = (s + b) * np.log((s + b) * (b + var) / (b**2 + (s + b) * var)) \
            - b**2 / var * np.log1p(var * s / (b * (b + var)))
        no_uncertainty = (s + b) * np.log1p(s / b) - s
        z2 = np.where(var > 0, exact, no_uncertainty)
    z = np.sqrt(np.maximum(2.0 * z2, 0.0))
    return np.where((b > 0) & (s > 0), z, 0.0)


def discovery_significance(labels, scores, n_signal: float = SIGNIFICANCE_SIGNAL_EVENTS,
                           n_background: float = SIGNIFICANCE_BACKGROUND_EVENTS,
                           background_uncertainty: float = SIGNIFICANCE_BACKGROUND_UNCERTAINTY,
                           min_background_efficiency: float = 1e-3) -> dict:
    """The paper's significance row: best Asimov significance over cuts on the score.

    Before any cut there are ``n_signal`` signal and ``n_background +- background_uncertainty``
    background events. A cut keeping a fraction ``eps_s`` of signal and ``eps_b`` of
    background leaves ``s = n_signal eps_s`` and ``b = n_background eps_b`` with uncertainty
    ``background_uncertainty eps_b`` (the same 5% relative). Cuts that keep less than
    ``min_background_efficiency`` of the test background are not considered (too few
    events to estimate ``eps_b``).

    Returns:
        ``{"significance", "signal_efficiency", "background_efficiency", "threshold"}``.
    """
    fpr, tpr, thresholds = roc_curve(labels, scores)
    keep = fpr >= min_background_efficiency
    z = asimov_significance(n_signal * tpr[keep], n_background * fpr[keep],
                            background_uncertainty * fpr[keep])
    best = int(np.argmax(z))
    return {"significance": float(z[best]), "signal_efficiency": float(tpr[keep][best]),
            "background_efficiency": float(fpr[keep][best]),
            "threshold": float(thresholds[keep][best])}


def background_rejection_curve(labels, scores, n_points: int = 200):
    """Fig. 7's axes: ``(signal_efficiency, background_rejection = 1 - eps_b)`` on a grid."""
    fpr, tpr, _ = roc_curve(labels, scores)
    grid = np.linspace(0.0, 1.0, n_points)
    rejection = 1.0 - np.interp(grid, tpr, fpr)
    if not math.isfinite(float(rejection.sum())):
        raise ValueError("non-finite ROC")
    return grid, rejection
