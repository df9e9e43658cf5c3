"""DiCE counterfactuals: immutable and protected inputs stay fixed, decisions flip on re-scoring."""

from __future__ import annotations

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from greenscore.data.loading import load_dataset
from greenscore.errors import DataError
from greenscore.explain.counterfactuals import CounterfactualExplainer, fixed_features, what_if
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle

GERMAN = "/work/shared/data/german_credit.csv"


@pytest.fixture(scope="module")
def german():
    dataset = load_dataset(GERMAN, preset="german")
    # Protected inputs kept as features so the search has immutable columns to respect.
    spec = dataset.spec.model_copy(update={"use_protected_as_features": True})
    X = dataset.frame[spec.feature_columns(list(dataset.frame.columns))]  # noqa: N806
    pipeline = Pipeline(
        [
            ("coerce", TypeCoercer(spec=spec)),
            ("model", LGBMClassifier(n_estimators=60, verbose=-1, n_jobs=1, random_state=0)),
        ]
    ).fit(X, dataset.y)
    bundle = ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline)
    pd_ = bundle.predict_pd(bundle.model_input(dataset.frame))
    declined = np.flatnonzero(bundle.decisions(pd_) == "decline")
    return bundle, dataset.frame, declined


def test_fixed_features_cover_immutable_and_protected(german):
    bundle, frame, _ = german
    columns = list(bundle.model_input(frame).columns)
    assert set(fixed_features(bundle, columns)) == {
        "age",
        "personal_status",
        "foreign_worker",
        "num_dependents",
    }


def test_counterfactuals_keep_fixed_features_and_flip_the_decision(german):
    bundle, frame, declined = german
    explainer = CounterfactualExplainer(bundle, frame, seed=0)
    found = 0
    for position in declined[:3]:
        result = explainer.explain(frame.iloc[[position]], total=3)
        assert result.before["decision"] == "decline"
        cfs = result.counterfactuals
        found += len(cfs)
        if cfs.empty:
            continue
        original = bundle.model_input(frame.iloc[[position]]).iloc[0]
        for column in result.fixed:
            assert (cfs[column] == original[column]).all(), column
        # Re-score independently: every counterfactual is no longer declined.
        rescored = bundle.decisions(bundle.predict_pd(cfs[list(original.index)]))
        assert (rescored != "decline").all()
        assert (cfs["decision"] != "decline").all()
        ranking = list(zip(cfs["n_changed"], cfs["distance"], strict=True))
        assert ranking == sorted(ranking)
        assert all(set(changed) <= set(explainer.vary) for changed in cfs["changed"])
    assert found > 0


def test_same_seed_same_counterfactuals(german):
    bundle, frame, declined = german
    row = frame.iloc[[declined[0]]]
    first = CounterfactualExplainer(bundle, frame, seed=3).explain(row).to_dict()
    second = CounterfactualExplainer(bundle, frame, seed=3).explain(row).to_dict()
    assert first == second


def test_approved_applicant_needs_no_counterfactual(german):
    bundle, frame, _ = german
    pd_ = bundle.predict_pd(bundle.model_input(frame))
    approved = int(np.flatnonzero(bundle.decisions(pd_) == "approve")[0])
    result = CounterfactualExplainer(bundle, frame).explain(frame.iloc[[approved]])
    assert result.counterfactuals.empty and "already" in result.notes[0]


def test_what_if_rescores_and_guards_fixed_columns(german):
    bundle, frame, declined = german
    applicant = frame.iloc[[declined[0]]]
    result = what_if(bundle, applicant, {"duration": 6, "credit_amount": 500})
    edited = bundle.model_input(applicant).copy()
    edited["duration"], edited["credit_amount"] = 6, 500
    expected = float(bundle.predict_pd(edited)[0])
    assert result["after"]["probability_of_default"] == pytest.approx(expected)
    assert result["before"]["decision"] == "decline"
    assert result["decision_changed"] == (result["after"]["decision"] != "decline")
    with pytest.raises(DataError, match="immutable or protected"):
        what_if(bundle, applicant, {"age": 30})
    with pytest.raises(DataError, match="unknown"):
        what_if(bundle, applicant, {"shoe_size": 9})
    probe = what_if(bundle, applicant, {"age": 30}, allow_immutable=True)
    assert probe["changes"] == {"age": 30}
