"""reproduce.metrics against hand computations: a ROC worked by hand, the Asimov formula
evaluated step by step, and the best cut found by counting events directly."""

import math

import numpy as np
import pytest

from reproduce.metrics import (asimov_significance, background_rejection_curve,
                               discovery_significance, roc_auc)

# A ROC worked by hand: 3 signal (0.9, 0.7, 0.3), 3 background (0.8, 0.7, 0.1), one tie.
# Cuts from the top (an event is kept when its score >= the cut), as (eps_b, eps_s):
# inf (0, 0); 0.9 (0, 1/3); 0.8 (1/3, 1/3); 0.7 (2/3, 2/3); 0.3 (2/3, 1); 0.1 (1, 1).
TINY_LABELS = [1, 0, 1, 0, 1, 0]
TINY_SCORES = [0.9, 0.8, 0.7, 0.7, 0.3, 0.1]


def test_auc_of_the_hand_worked_roc():
    # Pairs (signal, background) ordered right, a tie counting one half:
    # 0.9 beats all 3; 0.7 beats 0.1, ties 0.7, loses to 0.8: 1.5; 0.3 beats 0.1: 1.
    # 5.5 of 9 pairs; the trapezoids of the curve above give 1/9 + 1/6 + 1/3 = 11/18 too.
    assert roc_auc(TINY_LABELS, TINY_SCORES) == pytest.approx(5.5 / 9, abs=1e-12)


def test_auc_hand_computed():
    # 2 signal (0.9, 0.4), 2 background (0.6, 0.1): pairs won 3 of 4
    assert roc_auc([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1]) == 0.75
    assert roc_auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert roc_auc([1, 1, 0, 0], [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_roc_needs_matching_lengths():
    with pytest.raises(ValueError, match="differ in length: 3 vs 2"):
        roc_auc([1, 0, 1], [0.2, 0.3])


def test_roc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes, got 2 signal and 0 background"):
        roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        discovery_significance([0, 0], [0.2, 0.3])


def test_asimov_without_uncertainty_hand_computed():
    # sqrt(2((s+b) ln(1+s/b) - s)); ln 1.1 = 0.0953101798043249
    # s=100, b=1000: 2*(1100*0.0953101798043249 - 100) = 9.682395569514
    assert asimov_significance(100, 1000, 0) == pytest.approx(math.sqrt(9.682395569514), rel=1e-9)
    # s=10, b=100: 2*(110*0.0953101798043249 - 10) = 0.9682395569514
    assert asimov_significance(10, 100, 0) == pytest.approx(math.sqrt(0.9682395569514), rel=1e-9)


def test_asimov_with_uncertainty_hand_computed():
    # s=100, b=1000, sigma_b=50 (sigma_b^2 = 2500), worked by hand:
    # (s+b)(b+sb2)/(b^2+(s+b)sb2) = 1100*3500/(1e6+2.75e6) = 1.02666666667; ln = 0.026317308317
    # first term 1100*0.026317308317 = 28.9490391490
    # b^2/sb2 = 400; sb2*s/(b(b+sb2)) = 250000/3.5e6 = 0.0714285714286; ln(1+.) = 0.068992871487
    # second term 400*0.068992871487 = 27.5971485948; Z = sqrt(2*(28.9490391490-27.5971485948))
    expected = math.sqrt(2 * (28.9490391490 - 27.5971485948))
    assert asimov_significance(100, 1000, 50) == pytest.approx(expected, rel=1e-8)
    assert float(asimov_significance(100, 1000, 50)) == pytest.approx(1.64432, abs=1e-5)


def test_asimov_tends_to_no_uncertainty_limit():
    assert asimov_significance(100, 1000, 1e-4) == pytest.approx(
        asimov_significance(100, 1000, 0), rel=1e-6)


def test_discovery_significance_matches_brute_force_over_cuts():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 4000)
    scores = rng.normal(labels * 1.2, 1.0)
    result = discovery_significance(labels, scores)
    # Reference: count events above each threshold directly, no ROC code involved.
    best = 0.0
    n_sig, n_bkg = (labels == 1).sum(), (labels == 0).sum()
    for cut in np.unique(scores):
        eps_s = (scores[labels == 1] >= cut).sum() / n_sig
        eps_b = (scores[labels == 0] >= cut).sum() / n_bkg
        if eps_b < 1e-3:
            continue
        s, b, sb = 100 * eps_s, 1000 * eps_b, 50 * eps_b
        z = math.sqrt(2 * ((s + b) * math.log((s + b) * (b + sb**2) / (b**2 + (s + b) * sb**2))
                           - b**2 / sb**2 * math.log(1 + sb**2 * s / (b * (b + sb**2)))))
        best = max(best, z)
    assert result["significance"] == pytest.approx(best, rel=1e-9)
    assert result["significance"] > float(asimov_significance(100, 1000, 50))


def test_useless_classifier_gains_little_over_no_cut():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(1000), np.zeros(1000)]
    useless = discovery_significance(labels, rng.random(2000))
    assert 1.6 < useless["significance"] < 2.5


def test_background_rejection_curve_endpoints():
    labels = np.r_[np.ones(100), np.zeros(100)]
    scores = np.r_[np.linspace(0.5, 1, 100), np.linspace(0, 0.5, 100)]
    efficiency, rejection = background_rejection_curve(labels, scores, 11)
    assert efficiency[0] == 0 and efficiency[-1] == 1
    assert rejection[0] == 1.0 and rejection[-1] == 0.0


def test_background_rejection_of_the_hand_worked_roc():
    # On the grid 0, 1/6, ..., 1 of signal efficiency, eps_b interpolated linearly on the
    # curve above: 0 at 0 and 1/6, 1/2 at 1/2 (between (1/3, 1/3) and (2/3, 2/3)),
    # 2/3 at 5/6 (between (2/3, 2/3) and (2/3, 1)), 1 at 1.
    efficiency, rejection = background_rejection_curve(TINY_LABELS, TINY_SCORES, 7)
    np.testing.assert_allclose(efficiency, np.arange(7) / 6, atol=1e-15)
    np.testing.assert_allclose(rejection[[0, 1, 3, 5, 6]], [1, 1, 1 / 2, 1 / 3, 0], atol=1e-12)


def test_significance_of_the_hand_worked_roc():
    # Of the cuts above, those keeping eps_b >= 1e-3: (1/3, 1/3), (2/3, 2/3), (2/3, 1), (1, 1).
    # With 100 signal and 1000 +- 50 background, s = 100 eps_s, b = 1000 eps_b, sigma_b =
    # 50 eps_b: the cut at 0.3 keeps all signal and 2/3 of the background, and its Z beats
    # the others' (computed with the closed form by hand at each cut):
    def z(s, b, sb):
        return math.sqrt(2 * ((s + b) * math.log((s + b) * (b + sb**2) / (b**2 + (s + b) * sb**2))
                              - b**2 / sb**2 * math.log(1 + sb**2 * s / (b * (b + sb**2)))))

    cuts = {0.8: (1 / 3, 1 / 3), 0.7: (2 / 3, 2 / 3), 0.3: (1, 2 / 3), 0.1: (1, 1)}
    by_hand = {cut: z(100 * es, 1000 * eb, 50 * eb) for cut, (es, eb) in cuts.items()}
    assert max(by_hand, key=by_hand.get) == 0.3
    result = discovery_significance(TINY_LABELS, TINY_SCORES)
    assert result["threshold"] == 0.3
    assert result["signal_efficiency"] == 1.0
    assert result["background_efficiency"] == pytest.approx(2 / 3, abs=1e-15)
    assert result["significance"] == pytest.approx(by_hand[0.3], rel=1e-12)
