"""``/health/ready`` asks Redis too when the rate limiter lives there: a service whose every
scoring call would be 503 (no rate token) is not ready."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import redis
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
sys.path.insert(0, str(Path(__file__).parents[1]))
from serving_bundle import shared  # noqa: E402

from conftest import service_missing  # noqa: E402
from greenscore.config import Settings, use_settings  # noqa: E402
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/15"


def _ready(tmp_path: Path, redis_url: str | None) -> tuple[int, dict]:
    settings = Settings(home=tmp_path / "home", environment="test")
    settings.serving.energy_calibration = False
    settings.serving.job_worker = False
    settings.serving.redis_url = redis_url
    use_settings(settings)
    try:
        _, bundle = shared()
        store = ModelStore(settings.serving, loader=lambda uri: bundle)
        store.load("good")
        with TestClient(create_app(settings, store=store)) as client:
            r = client.get("/health/ready")
        return r.status_code, r.json()
    finally:
        use_settings(None)


def _closed_port() -> int:
    with socket.socket() as s:  # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ready_is_503_while_redis_is_unreachable(tmp_path: Path) -> None:
    status, body = _ready(tmp_path, f"redis://127.0.0.1:{_closed_port()}/0")
    assert status == 503, body
    checks = body["checks"]
    assert checks["model"] and checks["database"] and checks["redis"] is False
    assert checks["redis_error"]


def test_ready_names_redis_when_it_answers(tmp_path: Path) -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis not reachable at {REDIS_URL} ({exc})")
    status, body = _ready(tmp_path, REDIS_URL)
    assert status == 200, body
    assert body["checks"]["redis"] is True


def test_ready_without_redis_configured_does_not_ask_it(tmp_path: Path) -> None:
    status, body = _ready(tmp_path, None)
    assert status == 200, body
    assert "redis" not in body["checks"]
