"""Write-behind with durability: a micro-batch's audit events and prediction rows commit in one
transaction, off the event loop, and nobody is answered before their audit row is committed."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, use_settings  # noqa: E402
from greenscore.security import audit  # noqa: E402
from greenscore.security.audit import AuditEvent, find_events, record_events, verify_chain  # noqa: E402
from greenscore.serving import dlq, recorder  # noqa: E402
from greenscore.serving.errors import ServiceUnavailableError  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.serving.service import ScoringService  # noqa: E402
from greenscore.store import database  # noqa: E402
from greenscore.store.predictions import get_prediction  # noqa: E402


@pytest.fixture
def settings(tmp_path: Path):
    s = Settings(home=tmp_path, environment="test")
    s.serving.cache_size = 0
    use_settings(s)
    yield s
    use_settings(None)


@pytest.fixture
def service(settings):
    _, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    svc = ScoringService(settings, store)
    yield svc
    svc.close()


def test_many_events_append_in_one_transaction_and_verify(settings) -> None:
    first = audit.record_event("keys.create", actor="admin")
    ids = record_events(
        [
            AuditEvent("decision", actor="k", details={"n": n}, subject=f"applicant-{n}")
            for n in range(5)
        ]
    )
    assert ids == list(range(first + 1, first + 6))
    assert verify_chain().ok and verify_chain().checked == 6
    assert find_events(settings=settings, subject="applicant-3")[0]["details"] == {"n": 3}


def test_a_failure_in_the_same_transaction_stores_none_of_the_events(settings) -> None:
    audit.record_event("keys.create", actor="admin")

    def fail(conn) -> None:  # noqa: ANN001
        raise RuntimeError("prediction rows could not be written")

    with pytest.raises(RuntimeError, match="could not be written"):
        record_events([AuditEvent("decision", actor="k", details={"n": 1})], also=fail)
    assert [e["action"] for e in find_events(settings=settings, limit=10)] == ["keys.create"]
    assert verify_chain().ok


def test_loop_requests_are_answered_after_their_batch_commits_off_the_loop(
    service, monkeypatch
) -> None:
    ds, _ = shared()
    committed: list[set[str]] = []
    threads: list[str] = []
    original = recorder.record_events

    def recording(events, **kwargs):  # noqa: ANN001, ANN003, ANN202
        threads.append(threading.current_thread().name)
        out = original(events, **kwargs)
        committed.append({e.details["request_id"] for e in events})
        return out

    monkeypatch.setattr(recorder, "record_events", recording)

    async def run() -> list:
        items = [service.item(applicant(ds, i), actor="key-1") for i in range(6)]
        futures = [service.submit(item) for item in items]
        outcomes = []
        for future in asyncio.as_completed(futures):
            outcome = await future
            # By the time anyone hears of a decision, its audit event is committed.
            assert any(outcome.request_id in batch for batch in committed)
            outcomes.append(outcome)
        return outcomes

    loop_thread = threading.current_thread().name
    outcomes = asyncio.run(run())
    assert len(outcomes) == 6 and loop_thread not in threads
    assert threads and set(threads) == {"greenscore-decisions"}
    # Six requests queued in one loop turn: one micro-batch, one transaction.
    assert len(committed) == 1 and service.writer.commits == 1
    for outcome in outcomes:
        stored = get_prediction(outcome.request_id, db=database(service.settings))
        assert stored.decision == outcome.result.decision
        event = next(
            e
            for e in find_events(settings=service.settings, action="decision")
            if e["details"]["request_id"] == outcome.request_id
        )
        assert event["subject_hash"] == stored.subject_hash is not None
    assert verify_chain().ok


def test_a_batch_that_cannot_be_written_answers_503_and_leaves_dead_letters(
    service, monkeypatch
) -> None:
    ds, _ = shared()

    def broken(conn, rows):  # noqa: ANN001, ANN202
        raise RuntimeError("disk full")

    monkeypatch.setattr(recorder, "insert_predictions", broken)

    async def run() -> list:
        items = [service.item(applicant(ds, i), actor="key-1") for i in range(3)]
        return await asyncio.gather(*(service.submit(i) for i in items), return_exceptions=True)

    results = asyncio.run(run())
    assert all(isinstance(r, ServiceUnavailableError) for r in results)
    letters = dlq.list_dead_letters(db=database(service.settings))
    assert len(letters) == 3 and {x["request_id"] for x in letters} == {
        str(r).split("'")[1] for r in results
    }
    # Nothing of the failed transaction is in the chain.
    assert find_events(settings=service.settings, action="decision") == [] and verify_chain().ok
    with pytest.raises(Exception, match="no prediction"):
        get_prediction(letters[0]["request_id"], db=database(service.settings))


def test_reasons_all_explains_approvals_too(settings) -> None:
    ds, bundle = shared()
    settings.serving.reasons = "all"
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    svc = ScoringService(settings, store)
    try:
        outcomes = svc.decide_payloads(
            [applicant(ds, i) for i in range(40)], actor="k", route="/v1/score/batch"
        )
    finally:
        svc.close()
    approvals = [o for o in outcomes if o.result.decision == "approve"]
    assert approvals, "the sample should hold approvals"
    assert all(o.result.reasons_available for o in approvals)
    assert sum(1 for o in approvals if o.result.reasons) > len(approvals) // 2
    assert store.deployment.primary.model.info()["reasons_for"] == "all"


def test_approvals_carry_no_reasons_by_default(service) -> None:
    ds, _ = shared()
    outcomes = service.decide_payloads(
        [applicant(ds, i) for i in range(40)], actor="k", route="/v1/score/batch"
    )
    for outcome in outcomes:
        assert bool(outcome.result.reasons) == (outcome.result.decision != "approve")
    table = get_prediction(outcomes[0].request_id, db=database(service.settings))
    assert table.payload["reason_codes"] == [r.code for r in outcomes[0].result.reasons]
