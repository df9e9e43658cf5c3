"""The WoE logistic scorecard: points consistent with its own PD under the configured
scaling, the scorecard table, JSON export, IV ranking and the estimator contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from greenscore.errors import ModelError
from greenscore.models.scaling import points_from_pd
from greenscore.models.scorecard import WoEScorecardClassifier


def _applications(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Risk rises with utilisation and renting, falls with income; ``noise`` carries nothing."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(  # noqa: N806
        {
            "income": rng.lognormal(10, 0.5, n),
            "utilisation": rng.uniform(0, 1, n),
            "noise": rng.normal(size=n),
            "housing": rng.choice(["own", "rent", "mortgage"], n),
        }
    )
    X.loc[rng.random(n) < 0.05, "income"] = np.nan
    logit = (
        -1.5
        + 3.0 * X["utilisation"]
        - 0.8 * (np.log(X["income"].fillna(20_000)) - 10)
        + 0.7 * (X["housing"] == "rent")
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return _applications(1500, seed=0)


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, np.ndarray]) -> WoEScorecardClassifier:
    X, y = data  # noqa: N806
    return WoEScorecardClassifier().fit(X, y)


def test_points_match_points_from_pd_of_its_own_pd(
    fitted: WoEScorecardClassifier, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = data  # noqa: N806
    pd_ = fitted.predict_proba(X)[:, 1]
    np.testing.assert_allclose(fitted.points(X), points_from_pd(pd_), atol=1e-6)


def test_custom_scaling_reaches_the_points() -> None:
    X, y = _applications(800, seed=1)  # noqa: N806
    model = WoEScorecardClassifier(base_score=500.0, base_odds=20.0, pdo=50.0).fit(X, y)
    pd_ = model.predict_proba(X)[:, 1]
    expected = points_from_pd(pd_, base_score=500.0, base_odds=20.0, pdo=50.0)
    np.testing.assert_allclose(model.points(X), expected, atol=1e-6)
    # And not the default scaling: the parameters really travel to optbinning.
    assert np.abs(model.points(X) - points_from_pd(pd_)).max() > 1.0


def test_probabilities_are_valid_and_rank_risk(
    fitted: WoEScorecardClassifier, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    from sklearn.metrics import roc_auc_score

    X, y = data  # noqa: N806
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y, proba[:, 1]) > 0.7
    assert set(np.unique(fitted.predict(X))) <= {0, 1}
    assert fitted.classes_.tolist() == [0, 1]


def test_scorecard_table_has_the_reviewer_columns(fitted: WoEScorecardClassifier) -> None:
    table = fitted.scorecard_table()
    assert {"Variable", "Bin", "WoE", "IV", "Points"} <= set(table.columns)
    assert set(table["Variable"]) == set(fitted.selected_)
    assert np.isfinite(table["Points"].astype(float)).all()


def test_to_json_round_trips_through_json(fitted: WoEScorecardClassifier) -> None:
    exported = fitted.to_json()
    assert json.loads(json.dumps(exported)) == exported
    assert exported["scaling"] == {"base_score": 600.0, "base_odds": 50.0, "pdo": 20.0}
    assert len(exported["table"]) == len(fitted.scorecard_table())
    housing_bins = [row["Bin"] for row in exported["table"] if row["Variable"] == "housing"]
    assert any(isinstance(b, list) for b in housing_bins)  # category groups stay readable


def test_iv_table_ranks_informative_characteristics_first(fitted: WoEScorecardClassifier) -> None:
    iv = fitted.iv_table()
    assert pd.api.types.is_float_dtype(iv["iv"])
    assert iv.iloc[0]["feature"] == "utilisation"
    importance = fitted.feature_importance()
    assert importance.index[0] == "utilisation"
    assert importance["utilisation"] > importance.get("noise", 0.0)
    assert "housing" in fitted.categorical_


def test_estimator_contract(fitted: WoEScorecardClassifier) -> None:
    params = fitted.get_params()
    assert params["pdo"] == 20.0 and params["max_n_bins"] == 8
    fresh = clone(fitted)
    assert fresh.get_params() == params
    assert not hasattr(fresh, "scorecard_")
    with pytest.raises(NotFittedError):
        fresh.predict_proba(pd.DataFrame({"income": [1.0]}))


def test_refuses_an_array_without_column_names(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data  # noqa: N806
    with pytest.raises(ModelError, match="DataFrame"):
        WoEScorecardClassifier().fit(X[["income", "utilisation"]].to_numpy(), y)


def test_iv_screen_offers_only_the_strongest_characteristics(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = data  # noqa: N806
    model = WoEScorecardClassifier(max_features=2).fit(X, y)
    assert sorted(model.candidates_) == ["income", "utilisation"]
    assert set(model.selected_) <= set(model.candidates_)
    assert model.features_in_ == list(X.columns)
    np.testing.assert_allclose(
        model.points(X), points_from_pd(model.predict_proba(X)[:, 1]), atol=1e-6
    )
