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
    assert {"characteristic", "bin", "count", "bad_rate", "woe", "coefficient", "points"} <= set(
        table.columns
    )
    assert set(table["characteristic"]) == set(fitted.selected_)
    assert np.isfinite(table["points"].astype(float)).all()


def test_to_json_round_trips_through_json(fitted: WoEScorecardClassifier) -> None:
    exported = fitted.to_json()
    assert json.loads(json.dumps(exported)) == exported
    assert exported["scaling"] == {"base_score": 600.0, "base_odds": 50.0, "pdo": 20.0}
    assert len(exported["table"]) == len(fitted.scorecard_table())
    housing_bins = [row["bin"] for row in exported["table"] if row["characteristic"] == "housing"]
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
    assert list(model.feature_names_in_) == list(X.columns)
    np.testing.assert_allclose(
        model.points(X), points_from_pd(model.predict_proba(X)[:, 1]), atol=1e-6
    )


# ---------------------------------------------------------------- issue 11: served, signed, shown
def test_records_its_feature_names_as_scikit_learn_does(fitted, data) -> None:
    from greenscore.explain.feature_map import model_feature_names

    X, _ = data  # noqa: N806
    assert list(fitted.feature_names_in_) == list(X.columns)
    assert fitted.n_features_in_ == X.shape[1]

    class _Bundle:  # model_feature_names reads .estimator only
        estimator = fitted

    assert model_feature_names(_Bundle()) == list(X.columns)
    values, base = fitted.log_odds_contributions(X.head(5))
    assert values.shape == (5, X.shape[1]) and base.shape == (5,)


def test_a_derived_near_duplicate_gives_way_to_the_given_column(data) -> None:
    X, y = data  # noqa: N806
    X = X.assign(income_ratio=X["income"] * 1.01)  # noqa: N806 - a derived restatement
    given = ["income", "utilisation", "noise", "housing"]
    model = WoEScorecardClassifier(given_features=given).fit(X, y)
    assert "income" in model.selected_ and "income_ratio" not in model.selected_
    row = model.removal_table().set_index("characteristic").loc["income_ratio"]
    assert row["step"] == "near-duplicate" and row["partner"] == "income"
    assert row["value"] > 0.99 and "derived" in row["reason"]


def test_a_wrong_sign_characteristic_is_removed_and_every_coefficient_is_negative() -> None:
    # x2 rises with risk on its own (through x1) but lowers it given x1: its WoE, coded from
    # its own bad rates, gets a positive coefficient in the joint regression.
    rng = np.random.default_rng(3)
    n = 3000
    x1 = rng.normal(size=n)
    x2 = 0.7 * x1 + 0.7 * rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 2.0 * x1 - 0.8 * x2)))).astype(int)
    X = pd.DataFrame({"x1": x1, "x2": x2})  # noqa: N806
    model = WoEScorecardClassifier().fit(X, y)
    assert model.selected_ == ["x1"]
    removed = model.removal_table().set_index("characteristic")
    assert removed.loc["x2", "step"] == "wrong sign" and removed.loc["x2", "value"] > 0
    assert (model.coefficients() < 0).all()
    assert (model.scorecard_table()["coefficient"] < 0).all()


def test_monotonic_trend_is_on_by_default_for_numeric_characteristics() -> None:
    rng = np.random.default_rng(4)
    n = 4000
    age = rng.uniform(18, 80, n)
    # Risk falls with age but rises again after 60: a valley the default constraint flattens.
    logit = -1.0 - 0.05 * (age - 40) + 0.15 * np.clip(age - 60, 0, None)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"age": age})  # noqa: N806

    def woe_steps(model: WoEScorecardClassifier) -> np.ndarray:
        table = model.scorecard_table()
        bins = table[table["lower"].notna()]
        return np.sign(np.diff(bins["woe"].to_numpy()))

    steps = woe_steps(WoEScorecardClassifier().fit(X, y))
    assert len(set(steps)) == 1  # one direction only
    free = woe_steps(WoEScorecardClassifier(monotonic_trend=None).fit(X, y))
    assert len(set(free)) == 2


def test_the_cap_keeps_the_strongest_characteristics(data) -> None:
    X, y = data  # noqa: N806
    model = WoEScorecardClassifier(max_characteristics=1).fit(X, y)
    assert model.selected_ == ["utilisation"]
    capped = model.removal_table().query("step == 'characteristic cap'")
    assert {"income", "housing"} <= set(capped["characteristic"])


def test_a_missing_bin_with_data_is_scored_by_its_own_woe() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    income = rng.lognormal(10, 0.5, n)
    missing = rng.random(n) < 0.1
    logit = -1.5 - 0.8 * (np.log(income) - 10) + 1.5 * missing  # missing income: riskier
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"income": np.where(missing, np.nan, income)})  # noqa: N806
    model = WoEScorecardClassifier().fit(X, y)
    table = model.scorecard_table()
    missing_row = table[(table["characteristic"] == "income") & (table["bin"] == "Missing")]
    assert int(missing_row["count"].iloc[0]) == int(missing.sum())
    assert float(missing_row["woe"].iloc[0]) < -0.3  # its own, riskier WoE, not neutral 0
    neutral = table[(table["characteristic"] == "income") & (table["bin"] == "Special")]
    assert float(missing_row["points"].iloc[0]) < float(neutral["points"].iloc[0])
    per_row = model.points_by_characteristic(X[missing])
    np.testing.assert_allclose(per_row["income"], float(missing_row["points"].iloc[0]))
    pd_ = model.predict_proba(X)[:, 1]
    np.testing.assert_allclose(model.points(X), points_from_pd(pd_), atol=1e-6)
    assert pd_[missing].mean() > pd_[~missing].mean()


def test_an_unseen_category_scores_as_missing_in_points_and_probability(fitted, data) -> None:
    X, _ = data  # noqa: N806
    rows = X.head(3).assign(housing=["castle", None, "own"])
    per_row = fitted.points_by_characteristic(rows)
    assert per_row["housing"].iloc[0] == per_row["housing"].iloc[1]
    np.testing.assert_allclose(
        fitted.points(rows), points_from_pd(fitted.predict_proba(rows)[:, 1]), atol=1e-6
    )


def test_points_by_characteristic_add_up_to_the_points(fitted, data) -> None:
    X, _ = data  # noqa: N806
    per_row = fitted.points_by_characteristic(X)
    assert list(per_row.columns) == fitted.selected_ and per_row.index.equals(X.index)
    np.testing.assert_allclose(per_row.sum(axis=1), fitted.points(X), atol=1e-9)


def test_parameters_are_checked_at_fit(data) -> None:
    from greenscore.errors import ConfigError

    X, y = data  # noqa: N806
    with pytest.raises(ConfigError, match="monotonic_trend"):
        WoEScorecardClassifier(monotonic_trend="sideways").fit(X, y)
    with pytest.raises(ConfigError, match="max_correlation"):
        WoEScorecardClassifier(max_correlation=1.5).fit(X, y)


def _optbinning_pd(model: WoEScorecardClassifier, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
    """The PD as optbinning's own scorecard computes it (the path the lookup replaces)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.scorecard_.predict_proba(model._input(X))[:, 1]


def test_the_woe_lookup_reproduces_optbinning_exactly(fitted, data) -> None:
    """The NumPy lookup the scorecard scores with gives optbinning's WoE and PD to the last
    bit on values of every kind: bin edges, missing, unseen levels, text in a number."""
    X, _ = data
    assert fitted.woe_lookup_ is not None
    messy = X.head(300).astype({"income": object, "housing": object}).copy()
    messy.loc[messy.index[::5], "housing"] = "houseboat"  # unseen: the Missing bin
    messy.loc[messy.index[1::7], "housing"] = None
    messy.loc[messy.index[2::9], "income"] = "n/a"  # not a number: missing
    for name, coding in fitted.woe_lookup_.codings.items():
        if hasattr(coding, "splits") and len(coding.splits):
            messy.loc[messy.index[3 : 3 + len(coding.splits)], name] = coding.splits  # on edges
    slow = fitted._woe(fitted._input(messy))
    np.testing.assert_array_equal(fitted.woe_lookup_.woe(messy), slow)
    np.testing.assert_allclose(
        fitted.predict_proba(messy)[:, 1], _optbinning_pd(fitted, messy), rtol=0, atol=1e-15
    )


def test_a_lookup_that_disagrees_with_optbinning_is_not_used(fitted, data) -> None:
    from greenscore.models.scorecard_lookup import build_lookup

    X, _ = data

    def off_by_a_little(frame: pd.DataFrame) -> np.ndarray:
        woe = fitted._woe(fitted._input(frame))
        nudged = frame["housing"].astype(object).eq("rent").to_numpy()  # one level, later
        woe[nudged & (np.arange(len(frame)) >= 3), fitted.selected_.index("housing")] += 1e-9
        return woe

    assert "housing" in fitted.selected_
    args = (fitted.selected_, fitted.categorical_, fitted.levels_)
    process = fitted.scorecard_.binning_process_
    assert build_lookup(*args, process, off_by_a_little) is None
    assert build_lookup(*args, process, lambda f: fitted._woe(fitted._input(f))) is not None
    # A bundle saved before the lookup existed builds it on first use; one that cannot be
    # built leaves optbinning's path in place, with the same answers.
    old = clone(fitted).fit(X.head(1500), data[1][:1500])
    del old.woe_lookup_
    expected = _optbinning_pd(old, X.tail(50))
    np.testing.assert_allclose(old.predict_proba(X.tail(50))[:, 1], expected, atol=1e-15)
    assert old.woe_lookup_ is not None
    old.woe_lookup_ = None
    np.testing.assert_allclose(old.predict_proba(X.tail(50))[:, 1], expected, atol=1e-15)
