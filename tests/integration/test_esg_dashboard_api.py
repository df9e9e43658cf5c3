"""The dashboard mounted in the API at /dashboard: operator login with an MFA token, its own
security headers, and a live panel that reads the service's own metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import shared  # noqa: E402

from greenscore.config import Settings, SustainabilitySettings, use_settings  # noqa: E402
from greenscore.security import issue_token  # noqa: E402
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.store import database  # noqa: E402
from greenscore.store.predictions import record_predictions  # noqa: E402
from greenscore.sustainability.dashboard import gate  # noqa: E402

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    home = tmp_path_factory.mktemp("dash-api")
    settings = Settings(
        home=home,
        environment="test",
        sustainability=SustainabilitySettings(dashboard_in_api=True),
    )
    settings.serving.energy_calibration = False
    use_settings(settings)
    _, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    app = create_app(settings, store=store)
    # Traffic as the request guard and the service record it (three scored requests), so
    # the test depends only on the dashboard reading them, not on a scoring round trip.
    for k in range(3):
        app.state.monitor.observe_request("/v1/score", "POST", 200, 0.004 + k / 1000)
    record_predictions(
        [
            {
                "request_id": f"r{k}",
                "subject_hash": None,
                "model_name": "lightgbm",
                "model_version": "1",
                "input_hash": "h",
                "decision": "approve",
                "probability": 0.05,
                "payload": {"reason_codes": ["GS001"]},
            }
            for k in range(3)
        ],
        db=database(settings),
    )
    with TestClient(app, follow_redirects=False) as client:
        yield client
    use_settings(None)


def _token(role: str = "analyst", *, mfa: bool = True) -> str:
    from greenscore.config import get_settings

    return issue_token(subject="olive", role=role, mfa=mfa, settings=get_settings())


def test_a_browser_without_a_token_is_sent_to_login(api) -> None:
    answer = api.get("/dashboard/", headers=HTML)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
    page = api.get("/dashboard/login")
    assert page.status_code == 200 and "greenscore tokens issue --user" in page.text


@pytest.mark.parametrize(
    ("token", "status", "detail"),
    [
        (None, 401, gate.NO_TOKEN),
        ("mfa-off", 401, gate.NO_MFA),
        ("scorer", 403, "role 'scorer' may not perform 'models:read'"),
        ("garbage", 401, "malformed token"),
    ],
)
def test_requests_without_an_operator_mfa_token_are_refused(api, token, status, detail) -> None:
    headers = {}
    if token == "mfa-off":
        headers["Authorization"] = f"Bearer {_token(mfa=False)}"
    elif token == "scorer":
        headers["Authorization"] = f"Bearer {_token('scorer')}"
    elif token == "garbage":
        headers["Authorization"] = "Bearer not.a.token"
    answer = api.get("/dashboard/_dash-layout", headers=headers)
    assert answer.status_code == status and answer.json() == {"detail": detail}


def test_login_sets_a_strict_cookie_and_the_page_opens_with_its_own_policy(api) -> None:
    answer = api.post("/dashboard/login", data={"token": _token()})
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"
    cookie = answer.headers["set-cookie"]
    for part in ("HttpOnly", "SameSite=Strict", "Path=/dashboard/", f"{gate.COOKIE}="):
        assert part in cookie
    page = api.get("/dashboard/", headers=HTML)
    assert page.status_code == 200 and "GreenScore sustainability" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"
    bad = api.post("/dashboard/login", data={"token": _token(mfa=False)})
    assert bad.status_code == 401 and gate.NO_MFA in bad.text
    api.cookies.clear()


def _callback(api, output: str, inputs: list[dict], token: str) -> dict:
    body = {
        "output": f"{output}.children",
        "outputs": {"id": output, "property": "children"},
        "inputs": inputs,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
        "state": [],
    }
    answer = api.post(
        "/dashboard/_dash-update-component",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_live_panel_reads_the_service_metrics_and_stored_decisions(api) -> None:
    data = _callback(
        api,
        "live",
        [
            {"id": "tick", "property": "n_intervals", "value": 0},
            {"id": "period", "property": "value", "value": "all"},
        ],
        _token(),
    )
    text = json.dumps(data)
    assert "p99 latency" in text and "decisions since start" in text
    assert "no scoring service configured" not in text
    assert "Decisions per hour (prediction store)" in text  # the three stored decisions


def test_content_of_a_home_without_runs_says_no_runs_yet(api) -> None:
    data = _callback(
        api, "content", [{"id": "period", "property": "value", "value": "all"}], _token()
    )
    text = json.dumps(data)
    assert "Grid intensity, typical day: United Kingdom" in text
    assert "No training runs yet." in text and "237.6 gCO2e/kWh" in text
