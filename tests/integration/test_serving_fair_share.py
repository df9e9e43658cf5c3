"""Rate limits count applicants, and one tenant's batches cannot take every batch thread."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.security import create_key  # noqa: E402
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    home = tmp_path_factory.mktemp("fair")
    settings = Settings(home=home, environment="test")
    settings.serving.rate_limit_per_minute = 60
    settings.serving.rate_limit_burst = 50
    settings.serving.max_batch = 40
    settings.serving.batch_threads = 2
    settings.serving.batch_concurrency_per_key = 1
    settings.serving.energy_calibration = False
    settings.serving.job_worker = False
    use_settings(settings)
    ds, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    yield create_app(settings, store=store), ds
    use_settings(None)


async def _post(app, key: str, path: str, body: dict) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(path, json=body, headers={"X-API-Key": key}, timeout=120)


def test_a_batch_takes_a_token_per_applicant(app) -> None:
    app, ds = app
    key = create_key(name="counted", role="scorer", settings=get_settings())[1]
    batch = {"applicants": [applicant(ds, i) for i in range(30)]}

    async def run() -> list[httpx.Response]:
        first = await _post(app, key, "/v1/score/batch", batch)
        second = await _post(app, key, "/v1/score/batch", batch)  # 20 tokens left, 30 asked
        single = await _post(app, key, "/v1/score", applicant(ds, 0))
        too_big = await _post(app, key, "/v1/score/batch", {"applicants": [applicant(ds, 0)] * 41})
        return [first, second, single, too_big]

    first, second, single, too_big = asyncio.run(run())
    assert first.status_code == 200 and first.json()["count"] == 30
    assert second.status_code == 429 and second.json()["error"] == "RateLimitedError"
    assert "applicants per minute" in second.json()["detail"]
    assert 9 <= int(second.headers["retry-after"]) <= 11  # 10 more tokens at 1 per second
    assert single.status_code == 200  # the refused batch took nothing
    assert too_big.status_code == 413 and "over the limit of 40" in too_big.json()["detail"]


def test_one_tenant_cannot_take_every_batch_thread(app) -> None:
    app, ds = app
    flooder = create_key(name="flooder", role="scorer", settings=get_settings())
    other = create_key(name="other", role="scorer", settings=get_settings())
    service = app.state.service
    decide = service.decide_payloads
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    total_most = [0]
    lock = threading.Lock()

    def observed(payloads, **kwargs):
        actor = kwargs["actor"]
        with lock:
            running[actor] = running.get(actor, 0) + 1
            most[actor] = max(most.get(actor, 0), running[actor])
            total_most[0] = max(total_most[0], sum(running.values()))
        try:
            time.sleep(0.3)  # a batch that takes a while, so calls overlap if allowed to
            return decide(payloads, **kwargs)
        finally:
            with lock:
                running[actor] -= 1

    service.decide_payloads = observed
    try:

        async def run() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
            batch = {"applicants": [applicant(ds, i) for i in range(5)]}
            flood = [
                asyncio.create_task(_post(app, flooder[1], "/v1/score/batch", batch))
                for _ in range(6)
            ]
            await asyncio.sleep(0.1)
            single = await _post(app, other[1], "/v1/score", applicant(ds, 1))
            mine = await _post(app, other[1], "/v1/score/batch", batch)
            return await asyncio.gather(*flood), single, mine

        flood, single, mine = asyncio.run(run())
    finally:
        del service.decide_payloads
    assert [r.status_code for r in flood] == [200] * 6
    assert single.status_code == 200 and mine.status_code == 200
    # One batch of the flooder at a time; the other tenant's batch ran beside it.
    assert most[flooder[0]] == 1 and most[other[0]] == 1 and total_most[0] == 2
