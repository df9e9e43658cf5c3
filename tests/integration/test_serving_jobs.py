"""Batch jobs: stored, resumed after a stop or a crash, every row answered, callbacks retried."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, use_settings  # noqa: E402
from greenscore.errors import DataError, NotFoundError  # noqa: E402
from greenscore.serving import jobs  # noqa: E402
from greenscore.serving._db import writing  # noqa: E402
from greenscore.serving.errors import ConflictError  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.serving.schemas import applicant_model  # noqa: E402
from greenscore.serving.service import ScoringService  # noqa: E402


@pytest.fixture
def env(tmp_path: Path):
    settings = Settings(home=tmp_path, environment="test")
    settings.serving.job_chunk_rows = 10
    settings.serving.callback_backoff_seconds = 0.01
    settings.serving.callback_attempts = 3
    use_settings(settings)
    ds, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    service = ScoringService(settings, store)
    served = store.deployment.primary.model
    schema = applicant_model(
        ds.spec, served.input_columns, categorical=set(served.scorer.features.categories)
    )
    yield settings, ds, service, schema
    use_settings(None)


def worker(settings, service, schema, **kwargs) -> jobs.JobWorker:
    return jobs.JobWorker(
        settings,
        decide=kwargs.pop("decide", service.decide_payloads),
        validate=lambda r: schema.model_validate(r).model_dump(by_alias=True),
        **kwargs,
    )


def test_records_job_runs_to_completion_with_a_row_per_record(env) -> None:
    settings, ds, service, schema = env
    records = [applicant(ds, i) for i in range(25)]
    job = jobs.create_job(settings, actor="key-1", records=records)
    assert job["status"] == "queued" and job["total"] == 25
    with pytest.raises(ConflictError, match="queued"):
        jobs.job_results(settings, job["id"])
    w = worker(settings, service, schema)
    assert w.run_once() and not w.run_once()
    done = jobs.get_job(job["id"], reader="key-1")
    assert done["status"] == "done" and done["done"] == 25 and done["progress"] == 1.0
    page = jobs.job_results(settings, job["id"], offset=5, limit=12)
    assert [r["row"] for r in page["rows"]] == list(range(5, 17)) and page["next_offset"] == 17
    assert all(r["decision"] in ("approve", "review", "decline") for r in page["rows"])
    with pytest.raises(NotFoundError):
        jobs.get_job(job["id"], reader="someone-else")


def test_stopped_job_resumes_where_it_stopped(env) -> None:
    settings, ds, service, schema = env
    records = [applicant(ds, i) for i in range(35)]
    job = jobs.create_job(settings, actor="k", records=records)
    calls: list[int] = []

    def decide_then_stop(payloads, **kw):
        calls.append(len(payloads))
        first.stop(timeout=0)  # a shutdown arrives while the first chunk is scored
        return service.decide_payloads(payloads, **kw)

    first = worker(settings, service, schema, decide=decide_then_stop)
    first.run_once()
    paused = jobs.get_job(job["id"])
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
    job = jobs.create_job(settings, actor="k", records=[applicant(ds, i) for i in range(5)])
    with writing() as conn:  # as a worker that died mid-job leaves it
        conn.execute(
            jobs.Job.__table__.update().values(
                status="running", worker="dead", heartbeat_at=jobs._now()
            )
        )
    settings.serving.job_lease_seconds = 60
    w = worker(settings, service, schema)
    assert not w.run_once()  # the lease still holds
    settings.serving.job_lease_seconds = 0
    assert w.run_once()
    assert jobs.get_job(job["id"])["status"] == "done"


def test_file_job_reports_bad_rows_and_refuses_paths_outside_its_folder(env) -> None:
    settings, ds, service, schema = env
    folder = jobs.input_dir(settings)
    folder.mkdir(parents=True)
    frame = pd.DataFrame([applicant(ds, i) for i in range(6)])
    frame["income"] = frame["income"].astype(object)
    frame.loc[2, "income"] = "lots"
    frame.to_csv(folder / "apps.csv", index=False)
    job = jobs.create_job(settings, actor="k", file="apps.csv")
    worker(settings, service, schema).run_once()
    status = jobs.get_job(job["id"])
    rows = jobs.job_results(settings, job["id"])["rows"]
    assert status["errors"] == 1 and len(rows) == 6
    assert rows[2]["error"]["detail"].startswith("field 'income'")
    with pytest.raises(DataError, match="inside the job input folder"):
        jobs.create_job(settings, actor="k", file="../greenscore.db")


def test_callbacks_are_retried_with_backoff_then_recorded(env) -> None:
    settings, ds, service, schema = env
    sent: list[tuple[float, dict]] = []

    def flaky(url: str, body: dict) -> int:
        sent.append((time.monotonic(), body))
        if len(sent) < 3:
            raise ConnectionError("refused")
        return 204

    ok = jobs.create_job(
        settings, actor="k", records=[applicant(ds, 0)], callback_url="http://127.0.0.1:9/hook"
    )
    worker(settings, service, schema, post=flaky).run_once()
    delivered = jobs.get_job(ok["id"])["callback"]
    assert delivered == {
        "url": "http://127.0.0.1:9/hook",
        "status": "delivered",
        "attempts": 3,
        "last_error": None,
    }
    gaps = [b[0] - a[0] for a, b in zip(sent, sent[1:], strict=False)]
    assert gaps[0] >= 0.01 and gaps[1] >= 0.02  # exponential backoff
    assert sent[-1][1]["job_id"] == ok["id"] and sent[-1][1]["status"] == "done"

    failing = jobs.create_job(
        settings, actor="k", records=[applicant(ds, 1)], callback_url="http://127.0.0.1:9/hook"
    )
    worker(settings, service, schema, post=lambda url, body: 500).run_once()
    failed = jobs.get_job(failing["id"])["callback"]
    assert failed["status"] == "failed" and failed["attempts"] == 3
    assert failed["last_error"] == "HTTP 500"
