"""DeLong's test: the fast algorithm against the pairwise definition, and its behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from greenscore.errors import DataError
from greenscore.evaluation.cv import make_folds
from greenscore.evaluation.stats import delong_covariance, delong_cv, delong_test


def _reference(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """DeLong et al. (1988) by brute force: structural components from every pair."""
    pos, neg = y == 1, y == 0
    comps = []
    for s in (a, b):
        x, z = s[pos][:, None], s[neg][None, :]
        psi = (x > z) + 0.5 * (x == z)  # m x n kernel
        comps.append((psi.mean(axis=1), psi.mean(axis=0), psi.mean()))
    v10 = np.vstack([c[0] for c in comps])
    v01 = np.vstack([c[1] for c in comps])
    cov = np.cov(v10) / pos.sum() + np.cov(v01) / neg.sum()
    diff = comps[0][2] - comps[1][2]
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = diff / np.sqrt(var)
    return diff, z, 2 * norm.sf(abs(z))


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 80)
    a = np.round(0.4 * y + rng.random(80), 1)  # rounded: ties within and across classes
    b = np.round(0.2 * y + rng.random(80), 1)
    return y, a, b


def test_matches_brute_force_reference(sample: tuple[np.ndarray, ...]) -> None:
    y, a, b = sample
    _, z_ref, p_ref = _reference(y, a, b)
    z, p = delong_test(y, a, b)
    assert z == pytest.approx(z_ref, rel=1e-10)
    assert p == pytest.approx(p_ref, rel=1e-10)


def test_covariance_matches_reference_and_auc(sample: tuple[np.ndarray, ...]) -> None:
    from sklearn.metrics import roc_auc_score

    y, a, b = sample
    aucs, cov = delong_covariance(y, a, b)
    assert aucs[0] == pytest.approx(roc_auc_score(y, a))
    assert aucs[1] == pytest.approx(roc_auc_score(y, b))
    assert cov.shape == (2, 2)
    assert cov[0, 1] == pytest.approx(cov[1, 0])
    single_auc, single_cov = delong_covariance(y, a)
    assert single_cov[0, 0] == pytest.approx(cov[0, 0])


def test_known_small_example() -> None:
    # Worked by hand: m = n = 3. Model 1 separates perfectly (AUC 1). Model 2's defaults
    # (0.7, 0.2, 0.9) outrank 2, 1 and 3 of the non-defaults (0.1, 0.8, 0.3): AUC 6/9,
    # V10 = (2/3, 1/3, 1); the non-defaults are outranked by 3, 1, 2 defaults:
    # V01 = (1, 1/3, 2/3). Both have sample variance 1/9, so var = 1/27 + 1/27 = 2/27.
    y = np.array([0, 0, 0, 1, 1, 1])
    p1 = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    p2 = np.array([0.1, 0.8, 0.3, 0.7, 0.2, 0.9])
    aucs, cov = delong_covariance(y, p1, p2)
    assert aucs == pytest.approx([1.0, 2 / 3])
    assert cov[0, 0] == pytest.approx(0.0)
    assert cov[0, 1] == pytest.approx(0.0)
    assert cov[1, 1] == pytest.approx(2 / 27)
    z, p = delong_test(y, p1, p2)
    assert z == pytest.approx((1 / 3) / np.sqrt(2 / 27))
    assert p == pytest.approx(2 * norm.sf(z))


def test_sign_and_identical_models(sample: tuple[np.ndarray, ...]) -> None:
    y, a, b = sample
    z_ab, p_ab = delong_test(y, a, b)
    z_ba, p_ba = delong_test(y, b, a)
    assert z_ab == pytest.approx(-z_ba)
    assert p_ab == pytest.approx(p_ba)
    assert delong_test(y, a, a) == (0.0, 1.0)
    # A monotone transform leaves the ranking, hence the AUC, unchanged.
    assert delong_test(y, a, a**3)[1] == pytest.approx(1.0)


def test_detects_a_clearly_better_model() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    good = y + rng.normal(0, 0.6, 400)
    weak = y + rng.normal(0, 3.0, 400)
    z, p = delong_test(y, good, weak)
    assert z > 0 and p < 1e-6


def test_needs_both_classes() -> None:
    with pytest.raises(DataError, match="at least one default and one non-default"):
        delong_test([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


def test_cv_combines_folds_with_stouffer() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    good = y + rng.normal(0, 0.8, 300)
    weak = y + rng.normal(0, 2.0, 300)
    folds = make_folds(y, n_splits=3, seed=0)
    result = delong_cv(y, good, weak, folds)
    assert len(result.per_fold) == 3
    zs = [f["z"] for f in result.per_fold]
    for fold, (_, valid) in zip(result.per_fold, folds, strict=True):
        z, p = delong_test(y[valid], good[valid], weak[valid])
        assert fold["z"] == pytest.approx(z) and fold["p_value"] == pytest.approx(p)
    assert result.z == pytest.approx(sum(zs) / np.sqrt(3))
    assert result.p_value == pytest.approx(2 * norm.sf(abs(result.z)))
    pooled_z, pooled_p = delong_test(y, good, weak)
    assert result.pooled_z == pytest.approx(pooled_z)
    assert result.z > 0 and result.p_value < 0.01
    assert set(result.to_dict()) >= {"z", "p_value", "auc_diff", "per_fold"}


def test_cv_rejects_out_of_range_fold() -> None:
    y = np.array([0, 1, 0, 1])
    with pytest.raises(DataError, match="fold 0 indexes row 9"):
        delong_cv(y, y, y, [(np.array([0]), np.array([1, 9]))])
