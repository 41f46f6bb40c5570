import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve as sk_roc_curve

from reproduce.metrics import (asimov_significance, background_rejection_curve,
                               discovery_significance, roc_auc, roc_curve)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 5000)
    scores = rng.normal(labels * 0.7, 1.0)
    assert abs(roc_auc(labels, scores) - roc_auc_score(labels, scores)) < 1e-9


def test_auc_with_ties_matches_scikit_learn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 3000)
    scores = np.round(rng.normal(labels * 0.5, 1.0), 1)  # many ties
    assert abs(roc_auc(labels, scores) - roc_auc_score(labels, scores)) < 1e-9
    fpr, tpr, _ = roc_curve(labels, scores)
    sk_fpr, sk_tpr, _ = sk_roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr, atol=1e-12)
    np.testing.assert_allclose(tpr, sk_tpr, atol=1e-12)


def test_auc_hand_computed():
    # 2 signal (0.9, 0.4), 2 background (0.6, 0.1): pairs won 3 of 4
    assert roc_auc([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1]) == 0.75


def test_roc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1], [0.2, 0.3])


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
