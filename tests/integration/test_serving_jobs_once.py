"""Batch jobs are done exactly once (issue 21): a worker that dies anywhere in a chunk, or
loses its lease, leaves no decision audited or stored that no job result names.

A chunk's audit events, predictions, sealed results and the job's progress commit in one
transaction. The deaths are simulated in-process: a ``BaseException`` (not an
``Exception``, so no handler on the way turns it into a dead letter) raised at the chosen
point unwinds the worker as SIGKILL would stop it, and a second worker takes the job over
once the lease has lapsed. The SIGKILL itself is tests/e2e/chaos/test_chaos_worker_kill.py.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, use_settings  # noqa: E402
from greenscore.privacy import sealed  # noqa: E402
from greenscore.security.audit import verify_chain  # noqa: E402
from greenscore.serving import jobs  # noqa: E402
from greenscore.serving.app import applicant_schema  # noqa: E402
from greenscore.serving.job_worker import JobWorker  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.serving.service import ScoringService  # noqa: E402
from greenscore.store import database  # noqa: E402

ROWS, CHUNK = 35, 10


class Killed(BaseException):
    """The process dying at this point (nothing after it runs, no handler sees it)."""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "ab" * 32)
    settings = Settings(home=tmp_path, environment="test")
    settings.serving.job_chunk_rows = CHUNK
    use_settings(settings)
    ds, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    service = ScoringService(settings, store)
    schema = applicant_schema(store)
    yield settings, service, schema, lambda **kw: new_job(settings, ds, schema, **kw)
    use_settings(None)


def new_job(settings: Settings, ds: Any, schema: Any, *, actor: str = "k", rows: int = ROWS) -> str:
    """A queued job of ``rows`` records from ``actor`` (in the settings' database); its id."""
    keep = [f.alias or name for name, f in schema.model_fields.items()]
    return jobs.create_job(
        settings,
        actor=actor,
        keep=keep,
        id_column=ds.spec.id_column,
        records=[applicant(ds, i) for i in range(rows)],
    )["id"]


def worker(settings: Settings, service: ScoringService, schema: Any, **kwargs: Any) -> JobWorker:
    return JobWorker(
        settings,
        decide=kwargs.pop("decide", service.decide_payloads),
        validate=lambda r: schema.model_validate(r).model_dump(by_alias=True),
    )


def die_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, *, on_call: int = 2) -> None:
    """Make ``owner.name`` kill the worker on its ``on_call``-th call (the first chunk is
    saved, the second dies), then behave again."""
    real = getattr(owner, name)
    calls = []

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == on_call:
            raise Killed(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, dying)


def ledger(settings: Settings) -> tuple[list[str], list[str], int]:
    """Request ids of the decisions' audit events and of the stored predictions, and the
    number of dead letters."""
    with database(settings).connect() as conn:
        events = [
            json.loads(d)["request_id"]
            for (d,) in conn.execute(
                text("SELECT details FROM security_audit_log WHERE action = 'decision'")
            )
        ]
        stored = [r for (r,) in conn.execute(text("SELECT request_id FROM predictions"))]
        letters = conn.execute(text("SELECT COUNT(*) FROM serving_dead_letters")).scalar_one()
    return events, stored, int(letters)


def finished_once(settings: Settings, job_id: str) -> None:
    """The job is done with one decision per row, each audited and stored once, no other."""
    status = jobs.get_job(job_id, db=database(settings))
    assert status["status"] == "done" and status["done"] == ROWS and status["errors"] == 0, status
    rows = jobs.job_results(settings, job_id, limit=1000)["rows"]
    assert [r["row"] for r in rows] == list(range(ROWS))
    answered = [r["request_id"] for r in rows]
    events, stored, letters = ledger(settings)
    assert Counter(events) == Counter(answered) == Counter(stored), "orphan or duplicate decision"
    assert len(set(answered)) == len(events) == len(stored) == ROWS and letters == 0
    check = verify_chain(settings=settings)
    assert check.ok, check.reason


DEATHS = pytest.mark.parametrize(
    ("owner", "name", "saved"),
    [
        # Inside the chunk's transaction, once its audit events and predictions are written,
        # while its results are stored: the transaction rolls back whole.
        (sealed, "write", CHUNK),
        # Just after the transaction commits, before the worker hears of it (it used to
        # save the results and progress only now: the chunk was decided again on resume).
        (ScoringService, "_observe", 2 * CHUNK),
    ],
)


@DEATHS
def test_a_worker_dying_in_a_chunk_leaves_no_decision_no_result_names(
    env, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, saved: int
) -> None:
    settings, service, schema, make_job = env
    dies_and_is_taken_over(settings, service, schema, make_job(), monkeypatch, owner, name, saved)


@pytest.mark.services
@DEATHS
def test_a_worker_dying_in_a_chunk_on_postgres(
    postgres_schema_url: str,
    env,
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
    saved: int,
) -> None:
    settings, service, schema, make_job = env
    settings.database_url = postgres_schema_url
    dies_and_is_taken_over(settings, service, schema, make_job(), monkeypatch, owner, name, saved)


def dies_and_is_taken_over(
    settings: Settings,
    service: ScoringService,
    schema: Any,
    job_id: str,
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
    saved: int,
) -> None:
    """A worker dies in the job's second chunk; a second one takes the job over."""
    die_once(monkeypatch, owner, name)
    first = worker(settings, service, schema)
    with pytest.raises(Killed):
        first.run_once()
    at_death = jobs.get_job(job_id, db=database(settings))
    assert at_death["status"] == "running" and at_death["done"] == saved, at_death
    events, stored, _ = ledger(settings)
    # The dying chunk committed whole (progress included) or nothing of it did.
    assert len(events) == len(stored) == saved

    settings.serving.job_lease_seconds = 0  # the dead worker's lease has lapsed
    assert worker(settings, service, schema).run_once()
    finished_once(settings, job_id)


def review_items(settings: Settings) -> list[str]:
    with database(settings).connect() as conn:
        return [r for (r,) in conn.execute(text("SELECT request_id FROM serving_review_queue"))]


def test_a_worker_that_lost_its_lease_stores_nothing_of_its_chunk(env) -> None:
    settings, service, schema, make_job = env
    settings.serving.route_grey_band_to_review = True
    job_id = make_job()

    def decide_while_taken_over(payloads: list, **kw: Any) -> list:
        # Another worker claims the job while this one is still scoring (its lease lapsed).
        with database(settings).begin() as conn:
            conn.execute(jobs.TABLE.update().values(worker="someone-else", heartbeat_at=None))
        return service.decide_payloads(payloads, **kw)

    slow = worker(settings, service, schema, decide=decide_while_taken_over)
    assert slow.run_once()
    status = jobs.get_job(job_id, db=database(settings))
    assert status["done"] == 0 and status["status"] == "running", status
    # Withdrawn: no audit event, prediction, review item, result or dead letter of the
    # chunk is kept.
    assert ledger(settings) == ([], [], 0)
    assert review_items(settings) == []
    assert sealed.refs(jobs.SEALED_KIND, f"{job_id}/out/", db=database(settings)) == []

    settings.serving.job_lease_seconds = 0
    assert worker(settings, service, schema).run_once()
    finished_once(settings, job_id)
    rows = jobs.job_results(settings, job_id, limit=1000)["rows"]
    grey = [r["request_id"] for r in rows if r["decision"] == "review"]
    assert grey and sorted(review_items(settings)) == sorted(grey)


def test_a_worker_that_lost_its_lease_does_not_put_the_job_back(
    env, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, service, schema, make_job = env
    job_id = make_job(actor="long")
    make_job(actor="other", rows=2)

    def taken_over_then_others_wait(actor: str) -> bool:
        # Between chunks the lease lapsed and another worker claimed the job.
        with database(settings).begin() as conn:
            conn.execute(jobs.TABLE.update().where(jobs.TABLE.c.id == job_id).values(worker="w2"))
        return True

    w = worker(settings, service, schema)
    monkeypatch.setattr(w, "_others_waiting", taken_over_then_others_wait)
    assert w.run_once()
    status = jobs.get_job(job_id, db=database(settings))
    # Still the other worker's (running): not queued again under it, nor ended.
    assert (status["status"], status["done"]) == ("running", CHUNK), status


def test_a_chunk_without_decisions_is_saved_on_its_own(env) -> None:
    settings, service, schema, make_job = env
    job_id = make_job()

    def refuse(record: Mapping[str, Any]) -> dict[str, Any]:
        raise ValueError("refused")

    w = JobWorker(settings, decide=service.decide_payloads, validate=refuse)
    assert w.run_once()
    status = jobs.get_job(job_id, db=database(settings))
    assert status["status"] == "done" and status["errors"] == ROWS, status
    rows = jobs.job_results(settings, job_id, limit=1000)["rows"]
    assert [r["row"] for r in rows] == list(range(ROWS)) and all("error" in r for r in rows)
    assert ledger(settings) == ([], [], 0)


def test_a_long_job_yields_its_turn_to_another_callers_job_after_each_chunk(env) -> None:
    """Fair share, step by step (the wire version races the clock on a fast machine:
    tests/e2e/owasp/test_api4_resource_consumption.py)."""
    settings, service, schema, make_job = env
    db = database(settings)
    ids = [make_job(actor="long"), make_job(actor="short", rows=2)]
    w = worker(settings, service, schema)

    def progress() -> list[tuple[str, int]]:
        return [(s["status"], s["done"]) for s in (jobs.get_job(j, db=db) for j in ids)]

    assert w.run_once()  # the oldest: the long job's first chunk, then it yields
    assert progress() == [("queued", CHUNK), ("queued", 0)]
    assert w.run_once()  # the other caller's job, whole
    assert progress() == [("queued", CHUNK), ("done", 2)]
    ids.append(make_job(actor="long", rows=2))
    assert w.run_once()  # a queued job of the same caller does not make the long one yield
    assert progress() == [("done", ROWS), ("done", 2), ("queued", 0)]
    assert w.run_once() and not w.run_once()
    assert progress()[-1] == ("done", 2)
