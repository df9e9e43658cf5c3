"""LIME instance explanations on the raw application, with customer-facing wording."""

from __future__ import annotations

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from greenscore.data.loading import load_dataset
from greenscore.errors import DataError
from greenscore.explain.lime_explain import TabularLime
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle

GERMAN = "/work/shared/data/german_credit.csv"


@pytest.fixture(scope="module")
def german():
    dataset = load_dataset(GERMAN, preset="german")
    spec = dataset.spec.model_copy(update={"use_protected_as_features": True})
    X = dataset.frame[spec.feature_columns(list(dataset.frame.columns))]  # noqa: N806
    pipeline = Pipeline(
        [
            ("coerce", TypeCoercer(spec=spec)),
            ("model", LGBMClassifier(n_estimators=40, verbose=-1, n_jobs=1, random_state=0)),
        ]
    ).fit(X, dataset.y)
    bundle = ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline)
    return bundle, dataset.frame, TabularLime(bundle, dataset.frame, num_samples=400, seed=1)


def test_explanation_is_local_and_deterministic(german):
    bundle, frame, lime = german
    first = lime.explain(frame.iloc[[7]], num_features=5)
    lime.explain(frame.iloc[[11]])  # another call in between must not change the next one
    again = lime.explain(frame.iloc[7].to_dict(), num_features=5)
    assert first.factors == again.factors
    assert len(first.factors) == 5
    assert first.probability_of_default == pytest.approx(
        float(bundle.predict_pd(bundle.model_input(frame.iloc[[7]]))[0])
    )
    assert 0.0 <= first.local_prediction <= 1.0
    weights = [abs(f["weight"]) for f in first.factors]
    assert weights == sorted(weights, reverse=True)
    values = {f["feature"]: f["value"] for f in first.factors}
    for feature, value in values.items():
        assert value == frame.iloc[7][feature]


def test_customer_wording_is_plain_and_omits_protected_attributes(german):
    bundle, frame, lime = german
    result = lime.explain(frame.iloc[[3]], num_features=10)
    protected = {"age", "personal_status", "foreign_worker", "sex"}
    named = {f["feature"] for f in result.factors}
    assert named & protected  # the model uses them, LIME sees them...
    summary = " ".join(result.customer_summary)
    for column in protected - {"sex"}:
        assert bundle.spec.describe(column) not in summary  # ...the customer is not told
    assert all(
        s.startswith("Your ") and s.endswith("risk of default.") for s in result.customer_summary
    )
    raising = [s for s in result.customer_summary if "increased" in s]
    lowering = [s for s in result.customer_summary if "lowered" in s]
    assert result.customer_summary == raising + lowering
    assert result.to_dict()["applicant"] == 3


def test_missing_numbers_are_imputed_and_reported(german):
    bundle, frame, lime = german
    row = frame.iloc[5].to_dict()
    row["duration"] = np.nan
    result = lime.explain(row)
    assert result.imputed == ["duration"]
    with pytest.raises(DataError, match="one applicant"):
        lime.explain(frame.iloc[:2])
