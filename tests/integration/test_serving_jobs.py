"""Batch jobs: stored sealed (no PII, encrypted), resumed after a stop or a crash, every row
answered, fair between callers, erasable; callbacks checked, retried apart from scoring."""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.errors import DataError, NotFoundError, PrivacyError  # noqa: E402
from greenscore.privacy import sealed  # noqa: E402
from greenscore.privacy.gdpr import erase  # noqa: E402
from greenscore.privacy.keys import Keyring  # noqa: E402
from greenscore.privacy.retention import purge, set_retention  # noqa: E402
from greenscore.security import create_key  # noqa: E402
from greenscore.security._secrets import reseal_all  # noqa: E402
from greenscore.security.pseudonym import subject_hashes  # noqa: E402
from greenscore.serving import callbacks, dlq, jobs  # noqa: E402
from greenscore.serving.app import applicant_schema, create_app  # noqa: E402
from greenscore.serving.errors import (  # noqa: E402
    ConflictError,
    PayloadTooLargeError,
    RateLimitedError,
)
from greenscore.serving.job_worker import JobWorker  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.serving.service import ScoringService  # noqa: E402
from greenscore.store import database  # noqa: E402

EMAIL = "jane.doe+greenscore@example.org"
IBAN = "DE89370400440532013000"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "ab" * 32)
    settings = Settings(home=tmp_path, environment="test")
    settings.serving.job_chunk_rows = 10
    settings.serving.callback_backoff_seconds = 0.01
    settings.serving.callback_attempts = 3
    settings.serving.job_poll_seconds = 0.05
    use_settings(settings)
    ds, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    service = ScoringService(settings, store)
    schema = applicant_schema(store)
    yield settings, ds, service, schema
    use_settings(None)


def keep(schema) -> list[str]:
    return [f.alias or name for name, f in schema.model_fields.items()]


def required(schema) -> list[str]:
    return [f.alias or name for name, f in schema.model_fields.items() if f.is_required()]


def create(settings, ds, schema, **kwargs) -> dict:
    kwargs.setdefault("actor", "k")
    return jobs.create_job(
        settings,
        keep=keep(schema),
        required=required(schema),
        id_column=ds.spec.id_column,
        **kwargs,
    )


def with_pii(ds, i: int) -> dict:
    return applicant(ds, i) | {
        "name": "Jane Doe",
        "email": EMAIL,
        "iban": IBAN,
        "national_id": "X1",
    }


def worker(settings, service, schema, **kwargs) -> JobWorker:
    return JobWorker(
        settings,
        decide=kwargs.pop("decide", service.decide_payloads),
        validate=lambda r: schema.model_validate(r).model_dump(by_alias=True),
        **kwargs,
    )


def stored_bytes(home: Path) -> bytes:
    """Every byte GreenScore wrote under its home folder (database, WAL, files)."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def drain(sender: callbacks.CallbackSender, job_id: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while (status := jobs.get_job(job_id, db=database(get_settings()))["callback"])[
        "status"
    ] == "pending":
        assert time.monotonic() < deadline, status
        if not sender.run_once():
            time.sleep(0.01)
    return status


def test_records_job_runs_to_completion_with_a_row_per_record(env) -> None:
    settings, ds, service, schema = env
    job = create(settings, ds, schema, actor="key-1", records=[applicant(ds, i) for i in range(25)])
    assert job["status"] == "queued" and job["total"] == 25
    with pytest.raises(ConflictError, match="queued"):
        jobs.job_results(settings, job["id"])
    w = worker(settings, service, schema)
    assert w.run_once() and not w.run_once()
    done = jobs.get_job(job["id"], reader="key-1", db=database(get_settings()))
    assert done["status"] == "done" and done["done"] == 25 and done["progress"] == 1.0
    page = jobs.job_results(settings, job["id"], offset=5, limit=12)
    assert [r["row"] for r in page["rows"]] == list(range(5, 17)) and page["next_offset"] == 17
    assert all(r["decision"] in ("approve", "review", "decline") for r in page["rows"])
    with pytest.raises(NotFoundError):
        jobs.get_job(job["id"], reader="someone-else", db=database(get_settings()))


def test_job_inputs_results_and_dead_letters_hold_no_pii_in_clear(env) -> None:
    settings, ds, service, schema = env
    job = create(settings, ds, schema, records=[with_pii(ds, i) for i in range(12)])
    worker(settings, service, schema).run_once()
    assert jobs.get_job(job["id"], db=database(get_settings()))["status"] == "done"
    # The fields the model never reads were dropped before anything was stored ...
    kept = sealed.unseal(
        jobs.SEALED_KIND, jobs.part_ref(job["id"], "in", 0), db=database(get_settings())
    )
    assert set(kept[0]) == set(keep(schema)) and "email" not in kept[0]
    # ... and what was kept is encrypted: the raw bytes hold neither PII nor inputs.
    letter = dlq.record_dead_letter(
        request_id="r-1",
        kind="http",
        error="RuntimeError: boom",
        payload={"applicants": [with_pii(ds, 0)]},
        keep=keep(schema),
        subject_hashes=subject_hashes(
            [applicant(ds, 0)[ds.spec.id_column]], settings=get_settings()
        ),
        db=database(get_settings()),
    )
    unkept = dlq.record_dead_letter(
        request_id="r-2",
        kind="http",
        error="boom",
        payload={"email": EMAIL, "iban": IBAN},
        db=database(get_settings()),
    )
    assert (
        "email"
        not in dlq.get_dead_letter(letter, db=database(get_settings()))["payload"]["applicants"][0]
    )
    assert dlq.get_dead_letter(unkept, db=database(get_settings()))["payload"] == {
        "email": EMAIL,
        "iban": IBAN,
    }
    raw = stored_bytes(settings.home)
    for secret in (EMAIL.encode(), IBAN.encode(), b"Jane Doe", b'"income"'):
        assert secret not in raw, secret
    assert not (settings.home / "jobs").exists()  # no clear-text job files any more


def test_erasure_and_retention_reach_job_rows_and_dead_letters(env) -> None:
    settings, ds, service, schema = env
    records = [applicant(ds, i) for i in range(15)]
    subject = str(records[12][ds.spec.id_column])
    job = create(settings, ds, schema, records=records)
    worker(settings, service, schema).run_once()
    letter = dlq.record_dead_letter(
        request_id="r-9",
        kind="score",
        error="boom",
        payload={"applicants": [records[12]]},
        subject_hashes=subject_hashes([records[12][ds.spec.id_column]], settings=get_settings()),
        db=database(get_settings()),
    )
    report = erase(subject, actor="dpo", settings=get_settings())
    assert report.sealed == {"jobs": 2, "dead_letters": 1}  # its input row, result row, letter
    rows = jobs.job_results(settings, job["id"], limit=100)["rows"]
    assert rows[12] == {"row": 12, "erased": True} and "decision" in rows[11]
    assert dlq.get_dead_letter(letter, db=database(get_settings()))["payload"] == {
        "applicants": [sealed.ERASED]
    }

    set_retention("jobs", 0, db=database(get_settings()))
    set_retention("dead_letters", 0, db=database(get_settings()))
    done = purge(actor="ops", settings=get_settings())
    assert done.deleted["jobs"] == 30 and done.deleted["dead_letters"] == 1
    with pytest.raises(NotFoundError, match="deleted by retention"):
        jobs.job_results(settings, job["id"])
    assert dlq.get_dead_letter(letter, db=database(get_settings()))["payload"] is None


def test_stopped_job_resumes_where_it_stopped(env) -> None:
    settings, ds, service, schema = env
    job = create(settings, ds, schema, records=[applicant(ds, i) for i in range(35)])
    calls: list[int] = []

    def decide_then_stop(payloads, **kw):
        calls.append(len(payloads))
        first.stop(timeout=0)  # a shutdown arrives while the first chunk is scored
        return service.decide_payloads(payloads, **kw)

    first = worker(settings, service, schema, decide=decide_then_stop)
    first.run_once()
    paused = jobs.get_job(job["id"], db=database(get_settings()))
    assert paused["status"] == "queued" and paused["done"] == 10 and calls == [10]
    second = worker(
        settings,
        service,
        schema,
        decide=lambda p, **kw: calls.append(len(p)) or service.decide_payloads(p, **kw),
    )
    second.run_once()
    assert calls == [10, 10, 10, 5]  # the saved chunk is not scored again
    rows = jobs.job_results(settings, job["id"], limit=100)["rows"]
    assert [r["row"] for r in rows] == list(range(35))


def test_a_crashed_workers_job_is_taken_over_after_its_lease(env) -> None:
    settings, ds, service, schema = env
    job = create(settings, ds, schema, records=[applicant(ds, i) for i in range(5)])
    with database(get_settings()).begin() as conn:  # as a worker that died mid-job leaves it
        conn.execute(
            jobs.TABLE.update().values(status="running", worker="dead", heartbeat_at=jobs.now())
        )
    settings.serving.job_lease_seconds = 60
    w = worker(settings, service, schema)
    assert not w.run_once()  # the lease still holds
    settings.serving.job_lease_seconds = 0
    assert w.run_once()
    assert jobs.get_job(job["id"], db=database(get_settings()))["status"] == "done"


def test_callers_take_turns_chunk_by_chunk(env) -> None:
    settings, ds, service, schema = env
    long = create(settings, ds, schema, actor="a", records=[applicant(ds, i) for i in range(50)])
    short = create(settings, ds, schema, actor="b", records=[applicant(ds, i) for i in range(5)])
    w = worker(settings, service, schema)
    w.run_once()  # a's first chunk, then a yields: b is waiting
    assert (
        jobs.get_job(long["id"], db=database(get_settings()))["done"] == 10
        and jobs.get_job(long["id"], db=database(get_settings()))["status"] == "queued"
    )
    w.run_once()
    assert jobs.get_job(short["id"], db=database(get_settings()))["status"] == "done"
    assert jobs.get_job(long["id"], db=database(get_settings()))["done"] == 10
    w.run_once()  # nobody else waits now: a runs to the end
    assert jobs.get_job(long["id"], db=database(get_settings()))["status"] == "done"


def test_refused_jobs_store_nothing(env) -> None:
    settings, ds, service, schema = env
    settings.serving.job_max_active_per_key = 1
    with pytest.raises(DataError, match="callback_url"):
        create(settings, ds, schema, records=[with_pii(ds, 0)], callback_url="http://127.0.0.1/")
    with pytest.raises(DataError, match="inside your job input folder") as refused:
        create(settings, ds, schema, file="../greenscore.db")
    assert str(settings.home) not in str(refused.value)  # where the files are is not said
    with pytest.raises(DataError, match="inside your job input folder"):
        create(settings, ds, schema, file="a\x00b.csv")
    jobs.input_dir(settings, "k").mkdir(parents=True)
    pd.DataFrame([applicant(ds, i) for i in range(4)]).to_csv(
        jobs.input_dir(settings, "k") / "big.csv", index=False
    )
    settings.serving.job_max_records = 3
    with pytest.raises(PayloadTooLargeError, match="serving.job_max_records"):
        create(settings, ds, schema, file="big.csv")
    settings.serving.job_max_records = 100
    # A file without a model column is not a file of missing values: it was scored as one
    # (an edge table of links passed as applications: every row "approve", no flag).
    pd.DataFrame([applicant(ds, i) for i in range(4)]).drop(columns="income").to_csv(
        jobs.input_dir(settings, "k") / "no-income.csv", index=False
    )
    with pytest.raises(DataError, match=r"'no-income.csv' lacks .*\['income'\]"):
        create(settings, ds, schema, file="no-income.csv")
    ds.relations.to_csv(jobs.input_dir(settings, "k") / "links.csv", index=False)
    with pytest.raises(DataError, match="'links.csv' lacks the served model's input column"):
        create(settings, ds, schema, file="links.csv")
    pd.DataFrame(columns=list(applicant(ds, 0))).to_csv(
        jobs.input_dir(settings, "k") / "empty.csv", index=False
    )
    with pytest.raises(DataError, match="^job file 'empty.csv' has column names but no data"):
        create(settings, ds, schema, file="empty.csv")  # named as sent, not by server path
    with pytest.raises(DataError, match="at least one record"):
        create(settings, ds, schema, records=[])
    create(settings, ds, schema, records=[applicant(ds, 0)])
    with pytest.raises(RateLimitedError, match="job_max_active_per_key"):
        create(settings, ds, schema, records=[with_pii(ds, 1)])
    with database(get_settings()).connect() as conn:
        assert conn.execute(jobs.TABLE.select()).all().__len__() == 1
    assert not (settings.home / "jobs").exists()
    assert EMAIL.encode() not in stored_bytes(settings.home)


def test_file_job_reports_bad_rows(env) -> None:
    settings, ds, service, schema = env
    folder = jobs.input_dir(settings, "k")
    folder.mkdir(parents=True)
    frame = pd.DataFrame([with_pii(ds, i) for i in range(6)])
    frame["income"] = frame["income"].astype(object)
    frame.loc[2, "income"] = "lots"
    frame.to_csv(folder / "apps.csv", index=False)
    job = create(settings, ds, schema, file="apps.csv")
    worker(settings, service, schema).run_once()
    status = jobs.get_job(job["id"], db=database(get_settings()))
    rows = jobs.job_results(settings, job["id"])["rows"]
    assert status["errors"] == 1 and len(rows) == 6
    assert rows[2]["error"]["detail"].startswith("field 'income'")
    raw = stored_bytes(settings.home)
    assert EMAIL.encode() in (folder / "apps.csv").read_bytes()  # the caller's own file
    assert raw.count(EMAIL.encode()) == (folder / "apps.csv").read_bytes().count(EMAIL.encode())


def test_callbacks_are_retried_with_backoff_then_reported_generically(env) -> None:
    settings, ds, service, schema = env
    settings.serving.callback_allow_hosts = ["127.0.0.1"]
    sent: list[tuple[float, dict]] = []

    def flaky(url: str, body: dict) -> int:
        sent.append((time.monotonic(), body))
        if len(sent) < 3:
            raise ConnectionError("[Errno 111] Connection refused by 127.0.0.1:9")
        return 204

    w = worker(settings, service, schema, post=flaky)
    ok = create(
        settings, ds, schema, records=[applicant(ds, 0)], callback_url="http://127.0.0.1:9/"
    )
    w.run_once()
    assert jobs.get_job(ok["id"], db=database(get_settings()))["callback"]["status"] == "pending"
    assert drain(w.callbacks, ok["id"]) == {
        "url": "http://127.0.0.1:9/",
        "status": "delivered",
        "attempts": 3,
        "last_error": None,
    }
    gaps = [b[0] - a[0] for a, b in zip(sent, sent[1:], strict=False)]
    assert gaps[0] >= 0.01 and gaps[1] >= 0.02  # exponential backoff
    assert sent[-1][1]["job_id"] == ok["id"] and sent[-1][1]["status"] == "done"

    failing = create(
        settings, ds, schema, records=[applicant(ds, 1)], callback_url="http://127.0.0.1:9/"
    )
    w = worker(settings, service, schema, post=flaky_forever)
    w.run_once()
    failed = drain(w.callbacks, failing["id"])
    assert failed["status"] == "failed" and failed["attempts"] == 3
    # Nothing about the target leaks into the status: no port scanner.
    assert failed["last_error"] == callbacks.GAVE_UP.format(n=3)


def flaky_forever(url: str, body: dict) -> int:
    raise ConnectionError("[Errno 111] Connection refused by 10.0.0.7:22")


class _Failing(BaseHTTPRequestHandler):
    hits: list[float] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        _Failing.hits.append(time.monotonic())
        self.rfile.read(int(self.headers["content-length"]))
        time.sleep(0.2)
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_failing_callbacks_do_not_delay_another_callers_job(env) -> None:
    settings, ds, service, schema = env
    settings.serving.callback_allow_hosts = ["127.0.0.1"]
    settings.serving.callback_attempts = 4
    settings.serving.callback_backoff_seconds = 2.0  # four tries take > 14 s
    receiver = HTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_port}/hook"
    w = worker(settings, service, schema)
    w.start()
    try:
        failing = [
            create(
                settings, ds, schema, actor=f"a{i}", records=[applicant(ds, i)], callback_url=hook
            )
            for i in range(4)
        ]
        for job in failing:
            assert (
                jobs.wait_for(job["id"], timeout=60, db=database(get_settings()))["status"]
                == "done"
            )
        other = create(settings, ds, schema, actor="b", records=[applicant(ds, 9)])
        w.wake()
        assert (
            jobs.wait_for(other["id"], timeout=60, db=database(get_settings()))["status"] == "done"
        )
        # The other job finished while the failing callbacks were still being retried.
        assert [
            jobs.get_job(j["id"], db=database(get_settings()))["callback"]["status"]
            for j in failing
        ] == ["pending"] * 4
        assert _Failing.hits  # the receiver really was called (and answered 500)
    finally:
        w.stop(timeout=5)
        receiver.shutdown()


def test_the_api_refuses_bad_callbacks_and_file_names_with_422_and_stores_nothing(env) -> None:
    settings, ds, service, schema = env
    settings.serving.job_worker = False
    settings.serving.energy_calibration = False
    key = {"X-API-Key": create_key(name="lender", role="scorer", settings=get_settings())[1]}
    records = [with_pii(ds, 0)]
    with TestClient(create_app(settings, store=service.store)) as client:
        for url in (
            "http://127.0.0.1:9/hook",
            "http://2130706433/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://user:secret@8.8.8.8/hook",
        ):
            r = client.post("/v1/jobs", json={"records": records, "callback_url": url}, headers=key)
            assert r.status_code == 422 and "callback_url" in r.json()["detail"], (url, r.text)
        r = client.post("/v1/jobs", json={"file": "apps\x00.csv"}, headers=key)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"]
        r = client.post("/v1/jobs", json={"records": records}, headers=key)
        assert r.status_code == 202
        job = r.json()
    with database(get_settings()).connect() as conn:
        assert len(conn.execute(jobs.TABLE.select()).all()) == 1
    assert dlq.list_dead_letters(db=database(get_settings())) == []
    assert EMAIL.encode() not in stored_bytes(settings.home)
    kept = sealed.unseal(
        jobs.SEALED_KIND, jobs.part_ref(job["id"], "in", 0), db=database(get_settings())
    )
    assert set(kept[0]) == set(keep(schema))


def test_a_request_kept_after_an_internal_failure_keeps_no_extra_fields(env) -> None:
    settings, ds, service, schema = env
    settings.serving.job_worker = False
    settings.serving.energy_calibration = False
    key = {"X-API-Key": create_key(name="lender", role="scorer", settings=get_settings())[1]}
    app = create_app(settings, store=service.store)

    def broken(*args, **kwargs):
        raise RuntimeError("bug inside the service")

    app.state.service.item = broken
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/v1/score", json=with_pii(ds, 3), headers=key)
    assert r.status_code == 503
    (letter,) = dlq.list_dead_letters(db=database(get_settings()))
    kept = dlq.get_dead_letter(letter["id"], db=database(get_settings()))["payload"]
    # Every field the model reads and the id; not 'links', optional and not sent here.
    assert set(kept) == set(keep(schema)) - {"links"}
    assert kept["income"] == applicant(ds, 3)["income"]
    assert EMAIL.encode() not in stored_bytes(settings.home)


def test_a_callback_retry_survives_a_restart_and_a_dead_sender(env) -> None:
    settings, ds, service, schema = env
    settings.serving.callback_allow_hosts = ["127.0.0.1"]
    settings.serving.callback_backoff_seconds = 0.0
    first = worker(settings, service, schema, post=flaky_forever)
    job = create(
        settings, ds, schema, records=[applicant(ds, 0)], callback_url="http://127.0.0.1:9/"
    )
    first.run_once()
    assert first.callbacks.run_once()  # one failed attempt, the next one scheduled
    status = jobs.get_job(job["id"], db=database(get_settings()))["callback"]
    assert status["status"] == "pending" and status["attempts"] == 1
    with database(get_settings()).begin() as conn:  # a sender that died holding the claim
        conn.execute(jobs.TABLE.update().values(worker="dead", heartbeat_at=jobs.now()))
    after_restart = callbacks.CallbackSender(settings, post=lambda url, body: 204)
    assert not after_restart.run_once()  # its lease still holds
    settings.serving.job_lease_seconds = 0
    assert drain(after_restart, job["id"])["status"] == "delivered"
    assert jobs.get_job(job["id"], db=database(get_settings()))["callback"]["attempts"] == 2


@pytest.mark.services
def _post_at_once(settings, ds, schema, n: int) -> list[str]:
    """``n`` jobs of one caller created by ``n`` threads released together: their outcomes."""
    ready = threading.Barrier(n)
    outcomes: list[str] = []

    def post(i: int) -> None:
        ready.wait()
        try:
            create(settings, ds, schema, actor="racer", records=[applicant(ds, i)])
            outcomes.append("created")
        except RateLimitedError:
            outcomes.append("refused")

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _assert_quota_held_under_concurrency(settings, ds, schema) -> None:
    settings.serving.job_max_active_per_key = 2
    outcomes = _post_at_once(settings, ds, schema, 6)
    # No worker runs: every created job stays queued, so exactly the quota is created.
    assert sorted(outcomes) == ["created"] * 2 + ["refused"] * 4, outcomes
    db = database(get_settings())
    with db.connect() as conn:
        kept = conn.execute(jobs.TABLE.select().where(jobs.TABLE.c.actor == "racer")).all()
        units = conn.execute(text("select ref from privacy_sealed_units")).scalars().all()
    assert len(kept) == 2
    # A job refused at the insert leaves no sealed input behind.
    assert sorted({ref.split("/")[0] for ref in units}) == sorted(job.id for job in kept)


def test_concurrent_posts_of_one_caller_stay_within_its_job_quota(env) -> None:
    settings, ds, service, schema = env
    _assert_quota_held_under_concurrency(settings, ds, schema)


def test_concurrent_posts_stay_within_the_job_quota_on_postgres(
    postgres_schema_url: str, env
) -> None:
    settings, ds, service, schema = env
    settings.database_url = postgres_schema_url
    _assert_quota_held_under_concurrency(settings, ds, schema)


def test_jobs_and_dead_letters_on_postgres(postgres_schema_url: str, env) -> None:
    settings, ds, service, schema = env
    settings.database_url = postgres_schema_url
    records = [with_pii(ds, i) for i in range(12)]
    subject = str(records[3][ds.spec.id_column])
    job = create(settings, ds, schema, records=records)
    worker(settings, service, schema).run_once()
    dlq.record_dead_letter(
        request_id="r-pg",
        kind="score",
        error="boom",
        payload={"applicants": [records[3]]},
        keep=keep(schema),
        subject_hashes=subject_hashes([subject], settings=get_settings()),
        db=database(get_settings()),
    )
    assert erase(subject, actor="dpo", settings=get_settings()).sealed == {
        "jobs": 2,
        "dead_letters": 1,
    }
    rows = jobs.job_results(settings, job["id"], limit=100)["rows"]
    assert len(rows) == 12 and rows[3] == {"row": 3, "erased": True}
    with database(get_settings()).connect() as conn:
        dump = conn.execute(
            text("select string_agg(encode(blob, 'escape'), '') from privacy_sealed_units")
        ).scalar_one()
        letters = conn.execute(text("select payload from serving_dead_letters")).scalars().all()
    assert EMAIL not in dump and IBAN not in dump and "income" not in dump
    assert letters == ["sealed:applicants"]


def test_sealed_rows_move_to_a_new_kek_before_the_old_one_is_retired(env) -> None:
    settings, ds, service, schema = env
    job = create(settings, ds, schema, records=[applicant(ds, i) for i in range(12)])
    assert sealed.kek_versions_in_use(db=database(get_settings())) == {1: 2}
    keyring = Keyring.open()
    keyring.rotate()
    assert sealed.rewrap(db=database(get_settings())) == 2 and sealed.kek_versions_in_use(
        db=database(get_settings())
    ) == {2: 2}
    with pytest.raises(PrivacyError, match=r"sealed database row\(s\) \(security_secrets"):
        keyring.retire(1)  # the service's generated secrets are sealed under KEK 1 too
    reseal_all(get_settings())  # the rest of what 'greenscore privacy keys rewrap' does
    keyring.retire(1)
    rows = sealed.unseal(
        jobs.SEALED_KIND, jobs.part_ref(job["id"], "in", 1), db=database(get_settings())
    )
    assert len(rows) == 2 and set(rows[0]) == set(keep(schema))


def test_input_files_of_one_name_in_two_subfolders_are_both_registered(env) -> None:
    """Erasure reaches a job's input file through the privacy registry: two files named
    alike in two subfolders of the input folder must be two entries, not one replacing
    the other."""
    from greenscore.privacy.registry import list_datasets

    settings, ds, service, schema = env
    for sub, first in (("north", 0), ("south", 3)):
        (jobs.input_dir(settings, "k") / sub).mkdir(parents=True)
        rows = pd.DataFrame([applicant(ds, i) for i in range(first, first + 3)])
        rows.to_csv(jobs.input_dir(settings, "k") / sub / "apps.csv", index=False)
        create(settings, ds, schema, file=f"{sub}/apps.csv")
    names = {e.name: e.path for e in list_datasets(db=database(settings))}
    assert names.keys() >= {"job-file:k/north/apps.csv", "job-file:k/south/apps.csv"}, names
    assert names["job-file:k/north/apps.csv"] != names["job-file:k/south/apps.csv"]


def test_a_tenant_scores_only_the_files_staged_for_it(env) -> None:
    """Each tenant's job files sit in its own folder under the input root: another
    lender's staged file was any caller's to score (its PDs, and in the reasons its
    applicants' values, came back). A tenant's folder name is its id, percent-encoded."""
    settings, ds, service, schema = env
    mine = jobs.input_dir(settings, "k")
    mine.mkdir(parents=True)
    pd.DataFrame([applicant(ds, i) for i in range(3)]).to_csv(mine / "apps.csv", index=False)
    assert create(settings, ds, schema, actor="k", file="apps.csv")["total"] == 3
    for name in ("apps.csv", "../k/apps.csv", str(mine / "apps.csv")):
        with pytest.raises(DataError, match="inside your job input folder"):
            create(settings, ds, schema, actor="other", file=name)
    assert jobs.input_dir(settings, "jwt:a/b").name == "jwt%3Aa%2Fb"  # a token's tenant
