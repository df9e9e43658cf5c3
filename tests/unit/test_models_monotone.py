"""Monotone constraints for LightGBM: declared in the spec, or inferred from clear trends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError
from greenscore.models.gbm import LightGBMCreditClassifier
from greenscore.models.monotone import infer_direction, monotone_directions
from greenscore.models.registry import make_estimator

FAST = {"learning_rate": 0.1, "n_estimators": 120, "early_stopping_rounds": None}


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
