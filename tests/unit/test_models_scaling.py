"""Points scaling: 600 points at 50:1 good:bad odds, +20 points doubles the odds, and the
PD <-> points <-> decision conversions the bundle and the scorecard rely on."""

from __future__ import annotations

import numpy as np
import pytest

from greenscore.models.scaling import decisions_from_pd, pd_from_points, points_from_pd


def _pd_at_odds(good_to_bad: float) -> float:
    """Probability of default at good:bad odds of ``good_to_bad``:1."""
    return 1.0 / (1.0 + good_to_bad)


def test_base_score_at_base_odds() -> None:
    assert points_from_pd(np.array([_pd_at_odds(50.0)]))[0] == pytest.approx(600.0)


@pytest.mark.parametrize("doublings", [-3, -1, 1, 2, 5])
def test_every_pdo_points_double_the_odds(doublings: int) -> None:
    odds = 50.0 * 2.0**doublings
    assert points_from_pd(np.array([_pd_at_odds(odds)]))[0] == pytest.approx(
        600.0 + 20.0 * doublings
    )


def test_custom_scaling_is_honoured() -> None:
    kwargs = {"base_score": 500.0, "base_odds": 20.0, "pdo": 50.0}
    points = points_from_pd(np.array([_pd_at_odds(20.0), _pd_at_odds(40.0)]), **kwargs)
    np.testing.assert_allclose(points, [500.0, 550.0])


def test_higher_default_probability_means_fewer_points() -> None:
    pd_ = np.linspace(0.01, 0.99, 50)
    assert np.all(np.diff(points_from_pd(pd_)) < 0)


def test_pd_from_points_inverts_points_from_pd() -> None:
    pd_ = np.array([0.001, 0.02, 0.1, 0.5, 0.9, 0.999])
    kwargs = {"base_score": 650.0, "base_odds": 30.0, "pdo": 40.0}
    np.testing.assert_allclose(
        pd_from_points(points_from_pd(pd_, **kwargs), **kwargs), pd_, rtol=1e-9
    )


def test_certain_outcomes_give_finite_points() -> None:
    points = points_from_pd(np.array([0.0, 1.0]))
    assert np.all(np.isfinite(points))
    assert points[0] > 1000 > 0 > points[1]


def test_decisions_follow_the_cut_offs() -> None:
    decisions = decisions_from_pd(
        np.array([0.05, 0.10, 0.2, 0.30, 0.31]), approve_below=0.10, decline_above=0.30
    )
    assert decisions.tolist() == ["approve", "review", "review", "review", "decline"]
