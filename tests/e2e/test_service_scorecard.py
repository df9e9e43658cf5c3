"""End to end: ``greenscore serve`` serves a WoE scorecard as the primary model and as the
fallback (issue 11: both failed at start-up, "WoEScorecardClassifier does not record its
feature names"), with the bundle's own PD, points and reasons."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from faulty_model import RaisingClassifier  # noqa: E402
from service_server import Server  # noqa: E402
from serving_bundle import applicant, dataset, training_ranges  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.data.loading import Dataset  # noqa: E402
from greenscore.explain.reason_codes import attach_reason_codes  # noqa: E402
from greenscore.features.pipeline import build_feature_pipeline  # noqa: E402
from greenscore.models.bundle import ScoringBundle  # noqa: E402
from greenscore.models.registry import make_estimator  # noqa: E402
from greenscore.security import create_key  # noqa: E402


def scorecard_bundle(ds: Dataset) -> ScoringBundle:
    """The scorecard as ``greenscore train`` builds it (feature pipeline, factory defaults),
    binning only the ten strongest characteristics so the test stays quick."""
    model = make_estimator("scorecard", spec=ds.spec, params={"max_features": 10})
    pipeline = Pipeline(
        [("features", build_feature_pipeline(ds.spec, relations=ds.relations)), ("model", model)]
    ).fit(ds.X, ds.y)
    bundle = ScoringBundle(
        name="scorecard",
        spec=ds.spec,
        pipeline=pipeline,
        metadata={"training_ranges": training_ranges(ds.X)},
    )
    attach_reason_codes(bundle, reference=ds.X.head(400))
    return bundle


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("scorecard-serve")
    use_settings(Settings(home=home, environment="test"))
    ds = dataset(800, seed=3)
    card = scorecard_bundle(ds)
    card.save(home / "scorecard")
    broken = RaisingClassifier().fit(card.features.transform(ds.X.head(40)), ds.y[:40])
    ScoringBundle(
        name="broken",
        spec=ds.spec,
        metadata=card.metadata,
        pipeline=Pipeline([("features", card.features), ("model", broken)]),
    ).save(home / "broken")
    key = create_key(name="lender", role="scorer", settings=get_settings())[1]
    yield home, ds, card, key
    use_settings(None)


def _score(server: Server, key: str, ds: Dataset, rows: range) -> list[dict]:
    answers = []
    with server.client(**{"X-API-Key": key}) as c:
        for i in rows:
            r = c.post("/v1/score", json=applicant(ds, i))
            assert r.status_code == 200, r.text
            answers.append(r.json())
    return answers


def _expected(card: ScoringBundle, ds: Dataset, rows: range) -> tuple[np.ndarray, np.ndarray]:
    pd_ = card.predict_pd(ds.X.iloc[list(rows)])
    return pd_, card.estimator.points(card.features.transform(ds.X.iloc[list(rows)]))


def test_a_scorecard_serves_as_the_primary_model(served) -> None:
    home, ds, card, key = served
    server = Server(home, ["--model", str(home / "scorecard")])
    server.start()
    try:
        answers = _score(server, key, ds, range(12))
    finally:
        server.stop()
    pd_, points = _expected(card, ds, range(12))
    assert not any(a["fallback"] for a in answers)
    np.testing.assert_allclose([a["probability_of_default"] for a in answers], pd_, atol=1e-9)
    # The API's score is the sum of the scorecard's points (rounded to one decimal).
    np.testing.assert_allclose([a["score"] for a in answers], points, atol=0.051)
    declines = [a for a in answers if a["decision"] == "decline"]
    assert all(a["reasons_available"] and a["reason_codes"] for a in declines)
    cited = {r["feature"] for a in answers for r in a["reason_codes"]}
    assert cited <= set(card.estimator.feature_names_in_) | set(ds.X.columns)


def test_a_scorecard_answers_as_the_fallback(served) -> None:
    home, ds, card, key = served
    server = Server(home, ["--model", str(home / "broken"), "--fallback", str(home / "scorecard")])
    server.start()
    try:
        answers = _score(server, key, ds, range(4))
    finally:
        server.stop()
    assert all(a["fallback"] and a["model"]["variant"] == "fallback" for a in answers)
    pd_, _ = _expected(card, ds, range(4))
    np.testing.assert_allclose([a["probability_of_default"] for a in answers], pd_, atol=1e-9)
