"""End to end: ``greenscore serve`` serves an ensemble bundle (scorecard + LightGBM +
spline logistic, combined in log-odds and calibrated, as ``greenscore train --models
ensemble:...`` builds it) with its own PD and exact reason codes: each reason's
contribution is the weighted sum of the members' contributions to that feature."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from service_server import Server  # noqa: E402
from serving_bundle import applicant, dataset, training_ranges  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.data.loading import Dataset  # noqa: E402
from greenscore.explain.reason_codes import attach_reason_codes  # noqa: E402
from greenscore.features.pipeline import build_feature_pipeline  # noqa: E402
from greenscore.models.bundle import ScoringBundle  # noqa: E402
from greenscore.models.calibration import CalibratedClassifier  # noqa: E402
from greenscore.models.registry import make_estimator  # noqa: E402
from greenscore.models.runtime import ScoringRuntime  # noqa: E402
from greenscore.security import create_key  # noqa: E402

MEMBERS = ["scorecard", "lightgbm", "logistic"]
#: Small members so the fit takes seconds: the ten strongest characteristics, 60 trees.
MEMBER_PARAMS = {
    "scorecard": {"max_features": 10},
    "lightgbm": {"n_estimators": 60, "early_stopping_rounds": None, "num_leaves": 7},
}


def ensemble_bundle(ds: Dataset) -> ScoringBundle:
    """The ensemble step as ``greenscore train`` builds it: registry factory, calibrated."""
    ensemble = make_estimator(
        "ensemble",
        spec=ds.spec,
        seed=0,
        # Simplex weights on the members' out-of-fold log-odds ("auto" may pick one member).
        params={
            "members": MEMBERS,
            "member_params": MEMBER_PARAMS,
            "cv": 3,
            "method": "weighted",
        },
    )
    pipeline = Pipeline(
        [
            ("features", build_feature_pipeline(ds.spec, relations=ds.relations)),
            ("model", CalibratedClassifier(ensemble, random_state=0)),
        ]
    ).fit(ds.X, ds.y)
    bundle = ScoringBundle(
        name="ensemble",
        spec=ds.spec,
        pipeline=pipeline,
        metadata={"training_ranges": training_ranges(ds.X)},
    )
    attach_reason_codes(bundle, reference=ds.X.head(400))
    return bundle


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("ensemble-serve")
    use_settings(Settings(home=home, environment="test"))
    ds = dataset(700, seed=5)
    bundle = ensemble_bundle(ds)
    bundle.save(home / "ensemble")
    key = create_key(name="lender", role="scorer", settings=get_settings())[1]
    yield home, ds, bundle, key
    use_settings(None)


def test_an_ensemble_serves_with_exact_reason_codes(served) -> None:
    home, ds, bundle, key = served
    ensemble = bundle.estimator.estimator_
    assert set(ensemble.members_) == set(MEMBERS) and not ensemble.inexact_members_
    weighted = [n for n, w in ensemble.weights_.items() if w > 0]
    assert len(weighted) >= 2, ensemble.weights_  # a real combination, not one member

    rows = range(40)
    # The training applicants, read in the graph as the bundle reads them (by default a
    # service scores every applicant as new to it: serving.training_outcomes).
    server = Server(
        home,
        ["--model", str(home / "ensemble")],
        env={"GREENSCORE_SERVING__TRAINING_OUTCOMES": "visible"},
    )
    server.start()
    try:
        with server.client(**{"X-API-Key": key}) as c:
            answers = []
            for i in rows:
                r = c.post("/v1/score", json=applicant(ds, i))
                assert r.status_code == 200, r.text
                answers.append(r.json())
    finally:
        server.stop()

    # The served PD is the bundle's own.
    np.testing.assert_allclose(
        [a["probability_of_default"] for a in answers],
        bundle.predict_pd(ds.X.iloc[list(rows)]),
        atol=1e-9,
    )
    declines = [(i, a) for i, a in zip(rows, answers, strict=True) if a["decision"] == "decline"]
    assert declines, "no applicant declined: the test proves nothing"
    assert all(a["reasons_available"] and a["reason_codes"] for _, a in declines)

    # Each served reason's contribution is the weighted sum of the members' contributions.
    runtime = ScoringRuntime(bundle)
    assert runtime.exact and runtime.terms == "model"
    features = list(runtime.model_features)
    checked = 0
    for i, answer in declines:
        encoded = runtime.encode([applicant(ds, i)], [ds.X.index[i]])
        parts = runtime.member_contributions(encoded)
        assert {p.name for p in parts} == set(weighted)
        total = sum(p.weight * p.values[0] for p in parts)
        values, base = runtime.contributions(encoded)
        np.testing.assert_allclose(total, values[0], atol=1e-9)
        p = answer["probability_of_default"]
        assert values[0].sum() + base[0] == pytest.approx(np.log(p / (1 - p)), abs=1e-6)
        for reason in answer["reason_codes"]:
            if reason["feature"] in features:
                j = features.index(reason["feature"])
                assert reason["contribution"] == pytest.approx(total[j], abs=1e-6)
                checked += 1
    assert checked, "no reason named a model feature directly"
