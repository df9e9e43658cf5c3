"""``greenscore train --fairness-constraint demographic_parity:sex --max-gap G`` on generated
data (issue 13): the bundle halves the demographic-parity gap of the same model trained
without the constraint, on out-of-fold decisions of the same folds, at no more than 0.01
AUC, and scores with exact reason codes through the serving runtime (never citing sex)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from greenscore.config import Settings, TrackingSettings, use_settings
from greenscore.data.synthetic import generate
from greenscore.explain.reason_codes import ReasonCoder
from greenscore.fairness.mitigation import decision_gap
from greenscore.models.bundle import ScoringBundle
from greenscore.models.runtime import ScoringRuntime
from greenscore.workflows.train import TrainResult, train
from greenscore.workflows.train_plan import plan_training

#: The scorecard (deterministic, exact reasons); on these rows its gap by sex is about 0.04.
MODEL = "scorecard"
ROWS = 4000
#: Well under that gap: a bundle fitted to a gap lands near it on its own training rows and
#: a little above it out of fold (here 0.009, at 0.005 AUC; LightGBM on 2,000 rows went
#: from 0.073 to 0.029 at 0.007 AUC with a gap of 0.01).
MAX_GAP = 0.005


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, TrainResult]]:
    root = tmp_path_factory.mktemp("fair")
    use_settings(Settings(home=root / "home", tracking=TrackingSettings(enabled=False)))
    path = root / "applications.csv"
    generate(ROWS, seed=7).applications.to_csv(path, index=False)
    out = {}
    try:
        for label, constraint in (("plain", None), ("fair", "demographic_parity:sex")):
            dataset, options, _ = plan_training(
                path,
                preset="synthetic",
                models=MODEL,
                cv=3,
                tune_trials=0,
                out=root / label,
                seed=0,
                fairness_constraint=constraint,
                max_gap=MAX_GAP,
            )
            out[label] = train(dataset, options)
        yield out
    finally:
        use_settings(None)


def _gap(result: TrainResult) -> float:
    """The demographic-parity gap of the out-of-fold decline decisions by sex."""
    from greenscore.data.loading import load_dataset

    model = result.results[MODEL]
    dataset = load_dataset(result.metrics["dataset"]["location"], preset="synthetic")
    declined = model.bundle.decisions(model.oof) == "decline"
    return decision_gap("demographic_parity", dataset.y, declined, dataset.frame["sex"])


@pytest.mark.slow
def test_the_constrained_bundle_halves_the_gap_at_little_auc_cost(runs) -> None:
    plain, fair = runs["plain"], runs["fair"]
    assert fair.metrics["cv"]["fairness_constraint"] == "demographic_parity:sex"
    before, after = _gap(plain), _gap(fair)
    assert before > 0.03, "the generated data should carry a gap to halve"
    assert after <= before / 2, (before, after)
    cost = plain.metrics["models"][MODEL]["auc"] - fair.metrics["models"][MODEL]["auc"]
    assert cost <= 0.01, cost
    estimator = fair.results[MODEL].bundle.estimator
    assert estimator.method_ in {"reweighing", "threshold"}
    # metrics.json says what the constraint did to the served model.
    done = fair.metrics["fairness_constraint"][MODEL]
    assert done == estimator.summary()
    assert done["attribute"] == "sex" and done["max_gap"] == MAX_GAP
    assert done["reads_group_at_decision"] == (estimator.method_ == "threshold")


@pytest.mark.slow
def test_the_constrained_bundle_scores_with_exact_reasons(runs) -> None:
    from greenscore.data.loading import load_dataset

    fair = runs["fair"]
    bundle = ScoringBundle.load(fair.out / "model")  # as `greenscore serve` loads it
    frame = load_dataset(fair.metrics["dataset"]["location"], preset="synthetic").frame.head(400)
    runtime = ScoringRuntime(bundle)
    assert runtime.exact, runtime.notes
    coder = ReasonCoder.from_bundle(bundle, runtime=runtime)
    encoded, changed = coder.encode(frame)
    scored = runtime.scored(encoded)
    np.testing.assert_allclose(scored.probability, bundle.predict_pd(frame), atol=1e-9)
    values, base = runtime.contributions(encoded)
    logit = np.log(scored.probability / (1 - scored.probability))
    np.testing.assert_allclose(values.sum(axis=1) + base, logit, atol=1e-6)
    declined = np.flatnonzero(scored.decisions == "decline")
    assert len(declined), "no applicant declined: the test proves nothing"
    reasons = coder.explain(encoded.take(declined), [changed[i] for i in declined])
    assert all(reasons)
    assert not any(r.feature == "sex" for row in reasons for r in row)


def test_the_report_says_which_method_and_whether_the_model_reads_the_group() -> None:
    from greenscore.evaluation.report import HtmlReport
    from greenscore.workflows.train_report import _constraint_section

    done = {
        "constraint": "demographic_parity",
        "attribute": "sex",
        "max_gap": 0.02,
        "cut": 0.3,
        "method": "threshold",
        "gap_before": 0.0415,
        "gap_after": 0.0199,
        "met": True,
        "shifts": {"male": 0.1004, "female": -0.1258},
        "reads_group_at_decision": True,
    }
    report = HtmlReport("t")
    _constraint_section(report, {"lightgbm": done})
    html = report.to_html()
    assert "Method: threshold" in html and "0.0415 before, 0.0199 after." in html
    assert "The model reads sex when it decides" in html and "male +0.100, female -0.126" in html
    assert "disparate treatment" in html
    report = HtmlReport("t")
    reweighed = {**done, "method": "reweighing", "shifts": {}, "reads_group_at_decision": False}
    _constraint_section(report, {"lightgbm": {**reweighed, "gap_after": 0.025, "met": False}})
    html = report.to_html()
    assert "reads sex" not in html and "the constraint was not met" in html
