"""What the paper's tables and figures measure beyond scikit-learn's ROC and AUC: background
rejection against signal efficiency (Fig. 7) and the expected discovery significance
(Tables 1 and 2, the Asimov formula with a background uncertainty).

The ROC curve and its area are scikit-learn's (``sklearn.metrics.roc_curve`` without dropping
points, ``roc_auc_score``); :func:`roc_auc` only adds the checks that both classes are present
and that every score is finite.

Example:

>>> round(float(asimov_significance(100, 1000, 50)), 5)   # the paper's events, no cut
1.64432
>>> roc_auc([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1])           # 3 of 4 pairs ordered right
0.75
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

# The paper, note of Tables 1 and 2: "expected significance of a discovery for 100 signal events and
# 1000 +- 50 background events".
SIGNIFICANCE_SIGNAL_EVENTS = 100.0
SIGNIFICANCE_BACKGROUND_EVENTS = 1000.0
SIGNIFICANCE_BACKGROUND_UNCERTAINTY = 50.0


def _signal_and_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """``(labels == 1, scores as float64)``, checked: same length, both classes present,
    every score finite (scikit-learn would rank NaN scores and give an AUC for them)."""
    labels = np.asarray(labels).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in length: {labels.size} vs {scores.size}")
    if problem := non_finite_scores(scores):
        raise ValueError(problem)
    signal = labels == 1
    n_signal = int(signal.sum())
    if n_signal == 0 or n_signal == signal.size:
        raise ValueError(f"ROC needs both classes, got {n_signal} signal and "
                         f"{signal.size - n_signal} background")
    return signal, scores


def non_finite_scores(scores) -> str | None:
    """What is not finite in ``scores`` (how many NaN, how many infinite), or None.

    Example:

    >>> non_finite_scores([0.2, float("nan"), 0.9])
    '1 of 3 test scores are not finite (1 NaN, 0 infinite)'
    >>> non_finite_scores([0.2, 0.9]) is None
    True
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    finite = np.isfinite(scores)
    if finite.all():
        return None
    nan = int(np.isnan(scores).sum())
    return (f"{int((~finite).sum()):,} of {scores.size:,} test scores are not finite "
            f"({nan:,} NaN, {int((~finite).sum()) - nan:,} infinite)")


def _full_roc(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's ROC with every point kept: one per distinct score, from (0, 0)."""
    signal, scores = _signal_and_scores(labels, scores)
    return roc_curve(signal, scores, drop_intermediate=False)


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve of ``scores`` for ``labels`` (1: signal), scikit-learn's
    ``roc_auc_score``; a ``ValueError`` names the counts when a class is missing."""
    signal, scores = _signal_and_scores(labels, scores)
    return float(roc_auc_score(signal, scores))


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
        exact = ((s + b) * np.log((s + b) * (b + var) / (b**2 + (s + b) * var))
                 - b**2 / var * np.log1p(var * s / (b * (b + var))))
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
    ``background_uncertainty eps_b`` (the same 5% relative). An event is kept when its score
    is >= the cut. Cuts that keep less than ``min_background_efficiency`` of the test
    background are not considered (too few events to estimate ``eps_b``).

    Returns:
        ``{"significance", "signal_efficiency", "background_efficiency", "threshold"}``.
    """
    fpr, tpr, thresholds = _full_roc(labels, scores)
    keep = fpr >= min_background_efficiency
    z = asimov_significance(n_signal * tpr[keep], n_background * fpr[keep],
                            background_uncertainty * fpr[keep])
    best = int(np.argmax(z))
    return {"significance": float(z[best]), "signal_efficiency": float(tpr[keep][best]),
            "background_efficiency": float(fpr[keep][best]),
            "threshold": float(thresholds[keep][best])}


def background_rejection_curve(labels, scores, n_points: int = 200):
    """Fig. 7's axes: ``(signal_efficiency, background_rejection = 1 - eps_b)`` on a grid
    of ``n_points`` signal efficiencies from 0 to 1, the ROC interpolated linearly."""
    fpr, tpr, _ = _full_roc(labels, scores)
    grid = np.linspace(0.0, 1.0, n_points)
    rejection = 1.0 - np.interp(grid, tpr, fpr)
    if not math.isfinite(float(rejection.sum())):
        raise ValueError("non-finite ROC")
    return grid, rejection
