"""Monotone constraints for LightGBM: declared in the spec, or inferred from clear trends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError
from greenscore.models.gbm import LightGBMCreditClassifier
from greenscore.models.monotone import infer_direction, monotone_directions
from greenscore.models.registry import make_estimator

FAST = {"learning_rate": 0.1, "n_estimators": 120, "early_stopping_rounds": None}
CREDIT_RISK = Path(__file__).parents[3] / "shared" / "data" / "credit_risk_dataset.csv"


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    """Risk falls with income, rises with debt, is U-shaped in age; noise carries nothing."""
    rng = np.random.default_rng(7)
    n = 3000
    X = pd.DataFrame(  # noqa: N806
        {
            "income": rng.lognormal(10.5, 0.5, n),
            "debt": rng.uniform(0, 1, n),
            "age": rng.uniform(20, 70, n),
            "noise": rng.normal(size=n),
            "grade": pd.Categorical(rng.choice(["A", "B", "C"], n)),
        }
    )
    logit = -1.0 - 1.2 * np.log(X["income"] / 36000) + 2.0 * X["debt"]
    logit += 0.002 * (X["age"] - 45) ** 2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_clear_trends_are_inferred_and_unclear_ones_left_free(data):
    X, y = data  # noqa: N806
    found = monotone_directions(X, y)
    assert found["income"]["direction"] == -1 and found["income"]["source"] == "inferred"
    assert found["debt"]["direction"] == 1
    assert "age" not in found  # U-shaped: no single direction
    assert "noise" not in found and "grade" not in found
    assert infer_direction(X["noise"], y)[0] == 0


def test_declared_directions_win_and_are_checked(data):
    X, y = data  # noqa: N806
    found = monotone_directions(X, y, declared={"age": 1}, infer=False)
    assert found == {"age": {"direction": 1, "source": "spec", "rho": None, "trend": None}}
    with pytest.raises(ConfigError, match="monotone direction of 'age' must be \\+1 or -1"):
        monotone_directions(X, y, declared={"age": 2})


def test_lightgbm_predictions_follow_the_constraints(data):
    X, y = data  # noqa: N806
    model = LightGBMCreditClassifier(**FAST, n_jobs=1).fit(X, y)
    assert set(model.monotone_constraints_) == {"income", "debt"}
    grid = np.linspace(X["income"].quantile(0.01), X["income"].quantile(0.99), 40)
    rows = X.iloc[:50]
    for _, row in rows.iterrows():
        probe = pd.DataFrame([row] * len(grid)).astype(X.dtypes.to_dict())
        probe["income"] = grid
        pd_ = model.predict_proba(probe)[:, 1]
        assert np.all(np.diff(pd_) <= 1e-12)  # never riskier with more income
    free = LightGBMCreditClassifier(**FAST, n_jobs=1, infer_monotone=False).fit(X, y)
    assert free.monotone_constraints_ == {}


def test_the_spec_monotone_mapping_reaches_lightgbm(data):
    X, y = data  # noqa: N806
    spec = DatasetSpec(target="y", monotone={"age": 1})
    model = make_estimator("lightgbm", spec=spec, seed=0, params=FAST).fit(X, y)
    assert model.monotone_constraints_["age"]["source"] == "spec"
    with pytest.raises(ConfigError, match="monotone"):
        DatasetSpec.from_dict({"target": "y", "monotone": {"age": 3}})


def test_directions_that_cost_little_are_kept(data):
    X, y = data  # noqa: N806
    model = LightGBMCreditClassifier(learning_rate=0.1, n_estimators=300, n_jobs=1).fit(X, y)
    assert set(model.monotone_constraints_) == {"income", "debt"}
    assert model.monotone_released_ is None


@pytest.fixture(scope="module")
def credit_risk() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """12,000 training and 6,000 held-out rows of the public credit_risk file, featurised."""
    from sklearn.model_selection import train_test_split

    from greenscore.data.loading import load_dataset
    from greenscore.features.pipeline import build_feature_pipeline

    ds = load_dataset(CREDIT_RISK, preset="credit_risk")
    train, test = train_test_split(
        np.arange(len(ds.y)), train_size=12_000, test_size=6_000, stratify=ds.y, random_state=0
    )
    features = build_feature_pipeline(ds.spec, relations=ds.relations)
    X = features.fit_transform(ds.X.iloc[train], ds.y[train])  # noqa: N806
    return X, ds.y[train], features.transform(ds.X.iloc[test]), ds.y[test]


def test_inferred_directions_that_cost_auc_together_are_released(credit_risk):
    """On credit_risk each of income, employment length, rate and loan share has a clear
    direction on its own, but held together they forbid the interactions that carry the
    risk: 0.02 AUC in the outer folds of ``benchmarks/auto.py``. They are released; a
    declared direction is not."""
    from sklearn.metrics import roc_auc_score

    X, y, X_test, y_test = credit_risk  # noqa: N806
    held = LightGBMCreditClassifier(monotone_tolerance=None, n_jobs=1).fit(X, y)
    assert len(held.monotone_constraints_) >= 4 and held.monotone_released_ is None
    model = LightGBMCreditClassifier(n_jobs=1).fit(X, y)
    released = model.monotone_released_
    assert released is not None and released["auc_cost"] > model.monotone_tolerance
    assert set(released["features"]) == set(held.monotone_constraints_)
    assert model.monotone_constraints_ == {}
    gain = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]) - roc_auc_score(
        y_test, held.predict_proba(X_test)[:, 1]
    )
    assert gain > 0.005
    # The training report says what was released and what holding it would have cost.
    from greenscore.evaluation.report import HtmlReport
    from greenscore.models.ensemble_bag import FoldBag
    from greenscore.workflows.train_report import _monotone_section

    report = HtmlReport("train")
    # As a fold bag holds it (the released figures are its fold models').
    _monotone_section(report, "lightgbm", FoldBag.of([model], list(X.columns)))
    assert "Inferred directions released: person_income" in report.to_html()
    declared = LightGBMCreditClassifier(monotone={"loan_int_rate": 1}, n_jobs=1).fit(X, y)
    assert declared.monotone_released_ is not None
    assert list(declared.monotone_constraints_) == ["loan_int_rate"]
    assert declared.monotone_constraints_["loan_int_rate"]["source"] == "spec"
