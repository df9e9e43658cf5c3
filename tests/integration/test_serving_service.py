"""The scoring service on SQLite: audit and prediction records, fallback, circuit, DLQ, replay."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from greenscore.cli import app as cli_app  # noqa: E402
from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.errors import DataError  # noqa: E402
from greenscore.models.bundle import ScoringBundle  # noqa: E402
from greenscore.privacy import sealed  # noqa: E402
from greenscore.privacy.gdpr import erase  # noqa: E402
from greenscore.security.audit import find_events, verify_chain  # noqa: E402
from greenscore.serving import dlq, jobs  # noqa: E402
from greenscore.serving.app import applicant_schema  # noqa: E402
from greenscore.serving.errors import ServiceUnavailableError  # noqa: E402
from greenscore.serving.job_worker import JobWorker  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.serving.replay import replay  # noqa: E402
from greenscore.serving.review import list_items  # noqa: E402
from greenscore.serving.service import ScoringService  # noqa: E402
from greenscore.store import database  # noqa: E402
from greenscore.store.predictions import get_prediction  # noqa: E402
from greenscore.store.tables.privacy import SealedMention  # noqa: E402


class BrokenModel(ClassifierMixin, BaseEstimator):
    """A classifier that fits but cannot predict."""

    def fit(self, X, y):  # noqa: N803
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def predict_proba(self, X):  # noqa: N803
        raise RuntimeError("model is broken")


@pytest.fixture(scope="module")
def models():
    ds, good = shared()
    features = good.features
    broken = BrokenModel().fit(features.transform(ds.X.head(50)), ds.y[:50])
    bad = ScoringBundle(
        name="broken",
        spec=ds.spec,
        pipeline=Pipeline([("features", features), ("model", broken)]),
        metadata=good.metadata,
    )
    return ds, {"good": good, "bad": bad}


@pytest.fixture
def settings(tmp_path: Path):
    s = Settings(home=tmp_path, environment="test")
    s.serving.breaker_failures = 2
    use_settings(s)
    yield s
    use_settings(None)


def service(settings: Settings, bundles: dict, model: str, fallback: str | None = None):
    store = ModelStore(settings.serving, loader=lambda uri: bundles[uri])
    store.load(model, fallback=fallback)
    return ScoringService(settings, store)


def test_decisions_are_audited_and_stored(settings, models) -> None:
    ds, bundles = models
    svc = service(settings, bundles, "good")
    payloads = [applicant(ds, i) for i in range(12)]
    outcomes = svc.decide_payloads(payloads, actor="key-1", route="/v1/score/batch")
    assert all(not isinstance(o, BaseException) for o in outcomes)
    events = find_events(action="decision", limit=100, settings=get_settings())
    assert len(events) == 12 and verify_chain().ok
    by_request = {e["details"]["request_id"]: e for e in events}
    for payload, outcome in zip(payloads, outcomes, strict=True):
        event = by_request[outcome.request_id]
        details = event["details"]
        assert event["actor"] == "key-1"
        assert details["decision"] == outcome.result.decision
        assert details["model"]["version"] == outcome.model.version
        assert details["reason_codes"] == [r.code for r in outcome.result.reasons]
        assert len(details["input_sha256"]) == 64
        assert str(payload["applicant_id"]) not in json.dumps(details)  # only hashed
        stored = get_prediction(outcome.request_id, db=database(get_settings()))
        assert stored.decision == outcome.result.decision
        assert stored.subject_hash == event["subject_hash"] is not None
    subject = str(payloads[0]["applicant_id"])
    assert [
        e["details"]["request_id"] for e in find_events(subject=subject, settings=get_settings())
    ] == [outcomes[0].request_id]


def test_failing_primary_falls_back_and_the_circuit_opens(settings, models) -> None:
    ds, bundles = models
    svc = service(settings, bundles, "bad", fallback="good")
    for i in range(4):
        outcome = svc.decide_payloads([applicant(ds, i)], actor="k", route="/v1/score")[0]
        assert outcome.fallback and outcome.variant == "fallback"
        assert outcome.model.name == "lightgbm"
    assert svc.store.deployment.primary.breaker.state == "open"
    assert dlq.list_dead_letters(db=database(get_settings())) == []
    text = svc.monitor.render().decode()
    assert 'greenscore_fallbacks_total{variant="primary"} 4.0' in text
    assert 'greenscore_circuit_state{variant="primary"} 2.0' in text


def test_unanswerable_requests_are_kept_and_replayed(settings, models) -> None:
    ds, bundles = models
    svc = service(settings, bundles, "bad")
    payload = applicant(ds, 5)
    outcome = svc.decide_payloads([payload], actor="k", route="/v1/score")[0]
    assert isinstance(outcome, ServiceUnavailableError)
    letters = dlq.list_dead_letters(db=database(get_settings()))
    assert len(letters) == 1 and letters[0]["request_id"] in str(outcome)
    kept = dlq.get_dead_letter(letters[0]["id"], db=database(get_settings()))["payload"][
        "applicants"
    ][0]
    assert kept["applicant_id"] == payload["applicant_id"] and kept["income"] == payload["income"]
    # The recorded model still fails: replay reports it and keeps the letter.
    store_uri = letters[0]["model"]
    assert store_uri == "bad"
    report = replay(settings, model=None)  # "bad" is no folder the real loader can read
    assert report[0]["status"] == "failed"
    assert (
        dlq.list_dead_letters(status="failed", db=database(get_settings()))[0]["id"]
        == letters[0]["id"]
    )
    bundles["good"].save(settings.home / "good")
    result = CliRunner().invoke(
        cli_app, ["dlq", "replay", str(letters[0]["id"]), "--model", str(settings.home / "good")]
    )
    assert result.exit_code == 0, result.output
    assert f"replayed request {letters[0]['request_id']}" in result.output
    stored = get_prediction(letters[0]["request_id"], db=database(get_settings()))
    assert stored.decision in result.output
    assert dlq.list_dead_letters(db=database(get_settings())) == []
    listed = CliRunner().invoke(cli_app, ["dlq", "list", "--status", "all"])
    assert "replayed" in listed.output
    assert verify_chain().ok


def test_grey_band_goes_to_review_and_cache_reuses_answers(settings, models) -> None:
    ds, bundles = models
    settings.serving.route_grey_band_to_review = True
    svc = service(settings, bundles, "good")
    payloads = [applicant(ds, i) for i in range(60)]
    outcomes = svc.decide_payloads(payloads, actor="k", route="/v1/score/batch")
    reviews = [o for o in outcomes if o.result.decision == "review"]
    assert reviews, "the sample should hold grey-band applicants"
    queued = {i["request_id"]: i for i in list_items(db=database(get_settings()))}
    assert {o.request_id for o in reviews} == set(queued)
    assert all(queued[o.request_id]["id"] == o.review_id for o in reviews)
    again = svc.decide_payloads(payloads[:3], actor="k", route="/v1/score")
    assert all(o.cached for o in again)
    assert [o.result for o in again] == [o.result for o in outcomes[:3]]
    assert (
        len(find_events(action="decision", limit=1000, settings=get_settings())) == 63
    )  # cached answers are audited too


def test_out_of_range_values_are_clipped_or_refused(settings, models) -> None:
    ds, bundles = models
    svc = service(settings, bundles, "good")
    payload = applicant(ds, 1)
    payload["income"] = 1e12
    outcome = svc.decide_payloads([payload], actor="k", route="/v1/score")[0]
    assert [(f.field, f.action) for f in outcome.flags] == [("income", "clipped")]
    settings.serving.refuse_out_of_range = True
    strict = service(settings, bundles, "good")
    refused = strict.decide_payloads([payload], actor="k", route="/v1/score")[0]
    assert isinstance(refused, DataError) and "field 'income'" in str(refused)


def test_an_id_that_collides_with_the_details_is_still_audited(settings, models) -> None:
    ds, bundles = models
    svc = service(settings, bundles, "good")
    payload = applicant(ds, 2)
    payload["applicant_id"] = "primary"  # also the variant label written in the details
    outcome = svc.decide_payloads([payload], actor="k", route="/v1/score")[0]
    event = next(
        e
        for e in find_events(action="decision", settings=get_settings())
        if e["details"]["request_id"] == outcome.request_id
    )
    # The raw id never enters the details (they are built from known fields): the subject
    # is its hash alone, in the event's own column, where erasure finds it.
    assert len(event["subject_hash"]) == 64 and "subject_hash" not in event["details"]
    assert event["details"]["model"]["variant"] == "primary"
    assert verify_chain().ok


def test_energy_per_call_is_measured_at_load(settings, models) -> None:
    _, bundles = models
    svc = service(settings, bundles, "good")
    served = svc.store.deployment.primary.model
    assert served.energy.method.startswith("bundle metadata")
    energy = served.calibrate_energy()
    assert energy.method.endswith("(measured per call at load)")
    assert energy.kwh > 0 and energy.co2_kg > 0


def test_each_decision_records_what_it_cost(settings, models) -> None:
    """A single-applicant call costs the model's measured call; a row of a batch its share
    of the batch (the bundle's per-row figure); a cached answer nothing. The response, the
    metrics counter and the stored decision (which the ESG report sums) say the same."""
    ds, bundles = models
    svc = service(settings, bundles, "good")
    served = svc.store.deployment.primary.model
    call = served.calibrate_energy()
    row = served.batch_energy
    assert call.kwh > 0 and row.kwh > 0 and call.kwh != row.kwh
    db = database(get_settings())

    batch = svc.decide_payloads(
        [applicant(ds, i) for i in range(5)], actor="k", route="/v1/score/batch"
    )
    single = svc.decide_payloads([applicant(ds, 7)], actor="k", route="/v1/score")
    cached = svc.decide_payloads([applicant(ds, 7)], actor="k", route="/v1/score")
    assert cached[0].cached
    for outcomes, expected in ((batch, row.kwh), (single, call.kwh), (cached, 0.0)):
        for outcome in outcomes:
            assert outcome.to_dict()["energy"]["kwh"] == pytest.approx(expected)
            stored = get_prediction(outcome.request_id, db=db)
            assert stored.payload["energy_kwh"] == pytest.approx(expected)
    assert cached[0].to_dict()["energy"]["method"].startswith("answer cache")
    counted = svc.monitor.energy.labels(served.name, served.version)._value.get()
    assert counted == pytest.approx(5 * row.kwh + call.kwh)


def test_a_linked_applicant_kept_for_replay_is_replayed_with_its_links(settings, models) -> None:
    """A request the model could not answer keeps the applicant's own borrower links (the
    ``links`` field, as sent); replayed, it gets the PD it would have got with them."""
    ds, bundles = models
    settings.serving.training_outcomes = "visible"  # links reach training outcomes
    payload = applicant(ds, 5) | {"applicant_id": 99_999_001}  # a new applicant
    defaulted = ds.frame.loc[ds.frame["default"] == 1, "applicant_id"].head(2).tolist()
    links = [{"id": i, "kind": "household"} for i in defaulted]
    linked = payload | {"links": links}
    outcome = service(settings, bundles, "bad").decide_payloads([linked], actor="k", route="r")
    assert isinstance(outcome[0], ServiceUnavailableError)
    (letter,) = dlq.list_dead_letters(db=database(get_settings()))
    kept = dlq.get_dead_letter(letter["id"], db=database(get_settings()))["payload"]
    assert kept["applicants"][0]["links"] == links
    bundles["good"].save(settings.home / "good")
    (report,) = replay(settings, model=str(settings.home / "good"))
    assert report["status"] == "replayed", report
    good = service(settings, bundles, "good")
    with_links, alone = (
        good.decide_payloads([p], actor="k", route="r")[0].result.probability_of_default
        for p in (linked, payload)
    )
    assert report["decisions"][0]["probability_of_default"] == pytest.approx(with_links)
    assert with_links != pytest.approx(alone)


def test_erasing_a_linked_borrower_takes_their_links_out_of_every_kept_request(
    settings, models
) -> None:
    """A dead letter and a job's input keep each applicant's links, and a link names
    another borrower. Erasing that borrower replaces their link in every kept row with
    ``{"erased": true}`` (the row and its other links stay); a replay and a job still
    queued score the applicant without it and say so. Erasing the applicant afterwards
    leaves no index of whom its links named."""
    ds, bundles = models
    db = database(get_settings())
    id_column = ds.spec.id_column
    erased_id, kept_id = (int(i) for i in ds.frame[id_column].iloc[[3, 4]])
    links = [{"id": erased_id, "kind": "household"}, {"id": kept_id, "kind": "employer"}]
    newcomer = applicant(ds, 5) | {id_column: 99_999_001, "links": links}
    outcome = service(settings, bundles, "bad").decide_payloads([newcomer], actor="k", route="r")
    assert isinstance(outcome[0], ServiceUnavailableError)
    good = service(settings, bundles, "good")
    schema = applicant_schema(good.store)
    job = jobs.create_job(
        settings,
        actor="k",
        keep=[f.alias or n for n, f in schema.model_fields.items()],
        id_column=id_column,
        records=[applicant(ds, 0), newcomer],
    )

    report = erase(str(erased_id), actor="dpo", settings=get_settings())
    assert report.mentions == {"dead_letters": 1, "jobs": 1}, report.as_dict()
    assert report.sealed == {}  # the borrower had no kept request of their own
    (letter,) = dlq.list_dead_letters(db=db)
    kept_letter = dlq.get_dead_letter(letter["id"], db=db)["payload"]["applicants"][0]
    job_input = sealed.unseal(jobs.SEALED_KIND, jobs.part_ref(job["id"], "in", 0), db=db)
    for row in (kept_letter, job_input[1]):
        assert row["links"] == [sealed.ERASED, links[1]]
        assert row[id_column] == 99_999_001
    assert str(erased_id) not in json.dumps([kept_letter, job_input])

    # Scored again, the applicant has the one link left, and the answer says one went.
    alone = newcomer | {"links": links[1:]}
    expected = good.decide_payloads([alone], actor="k", route="r")[0].result
    bundles["good"].save(settings.home / "good")
    (replayed,) = replay(settings, model=str(settings.home / "good"))
    assert replayed["status"] == "replayed" and replayed["links_erased"] == 1, replayed
    assert replayed["decisions"][0]["probability_of_default"] == pytest.approx(
        expected.probability_of_default
    )
    worker = JobWorker(
        settings,
        decide=good.decide_payloads,
        validate=lambda r: schema.model_validate(r).model_dump(by_alias=True),
    )
    assert worker.run_once()
    first, second = jobs.job_results(settings, job["id"])["rows"]
    assert "links_erased" not in first and second["links_erased"] == 1
    assert second["probability_of_default"] == pytest.approx(expected.probability_of_default)

    # The applicant's own erasure takes its rows, and the index of whom they named.
    assert erase("99999001", actor="dpo", settings=get_settings()).sealed == {
        "dead_letters": 1,
        "jobs": 2,  # its input row and its result row
    }
    with db.session() as session:
        assert session.query(SealedMention).count() == 0
