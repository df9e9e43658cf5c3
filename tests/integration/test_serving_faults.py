"""Errors by where they happen: a fault after a caller's input was validated is the service's.

Whatever its class — a ConfigError for a secret missing on the server, a ModelError from
a model that cannot predict, a RuntimeError — a failure after the request was validated
answers 503 and leaves a dead letter holding the request, over the real app; a caller's
own mistake stays a 4xx with nothing kept. And ``greenscore serve`` in production refuses
to start without its secrets, in one line naming each.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, quiet_app, shared  # noqa: E402

from greenscore import cli as cli_module  # noqa: E402
from greenscore.config import Settings, use_settings  # noqa: E402
from greenscore.errors import ConfigError, ModelError  # noqa: E402
from greenscore.privacy import sealed  # noqa: E402
from greenscore.security import create_key  # noqa: E402
from greenscore.security.api_keys import verify_key  # noqa: E402
from greenscore.security.pseudonym import subject_hash  # noqa: E402
from greenscore.serving import dlq, jobs  # noqa: E402
from greenscore.store import database  # noqa: E402

NO_PEPPER = (
    "settings field 'security.audit_pepper' must be set when environment is 'production' "
    "(GREENSCORE_SECURITY__AUDIT_PEPPER); only local and test generate one"
)


def _raise(error: BaseException) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    return fail


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Any, dict[str, str], Settings]]:
    settings = Settings(home=tmp_path, environment="test")
    use_settings(settings)
    ds, bundle = shared()
    app = quiet_app(settings, bundle)
    key = {"X-API-Key": create_key(name="lender", role="scorer", settings=settings)[1]}
    with TestClient(app) as client:
        yield client, ds, key, settings
    use_settings(None)


def _letters(settings: Settings) -> list[dict[str, Any]]:
    db = database(settings)
    return [
        dlq.get_dead_letter(x["id"], db=db)
        for x in dlq.list_dead_letters(status=None, limit=100, db=db)
    ]


def _answered_503_and_kept(r: Any, settings: Settings) -> dict[str, Any]:
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["error"] == "ServiceUnavailableError" and "kept for replay" in body["detail"]
    (letter,) = _letters(settings)
    assert letter["request_id"] == body["request_id"] == r.headers["x-request-id"]
    return letter


def _holds(letter: dict[str, Any], ds: Any, i: int) -> None:
    """The letter holds applicant ``i`` as sent (its id and what the model reads)."""
    payload = letter["payload"]
    kept = payload["applicants"][0] if "applicants" in payload else payload
    sent = applicant(ds, i)
    assert kept[ds.spec.id_column] == sent[ds.spec.id_column]
    assert kept["income"] == sent["income"]


# ---------------------------------------------------------------- single applicant
def test_a_config_error_inside_the_model_is_503_with_a_dead_letter(api, monkeypatch) -> None:
    client, ds, key, settings = api
    model = client.app.state.store.deployment.primary.model
    monkeypatch.setattr(model, "score", _raise(ConfigError(NO_PEPPER)))
    r = client.post("/v1/score", json=applicant(ds, 0), headers=key)
    letter = _answered_503_and_kept(r, settings)  # was 400, with nothing kept
    assert letter["kind"] == "score" and letter["route"] == "/v1/score"
    assert "ConfigError" in letter["error"] and "security.audit_pepper" in letter["error"]
    _holds(letter, ds, 0)


def test_a_model_error_while_scoring_is_503_not_409(api, monkeypatch) -> None:
    client, ds, key, settings = api
    model = client.app.state.store.deployment.primary.model
    monkeypatch.setattr(model, "score", _raise(ModelError("booster file unreadable")))
    r = client.post("/v1/score", json=applicant(ds, 1), headers=key)
    _holds(_answered_503_and_kept(r, settings), ds, 1)


@pytest.mark.parametrize("error", [ConfigError(NO_PEPPER), RuntimeError("audit head missing")])
def test_a_failing_pseudonym_or_audit_writer_is_503_with_a_dead_letter(
    api, monkeypatch, error
) -> None:
    client, ds, key, settings = api
    target = "pseudonym" if isinstance(error, ConfigError) else "record_decisions"
    monkeypatch.setattr(f"greenscore.serving.service.{target}", _raise(error))
    r = client.post("/v1/score", json=applicant(ds, 2), headers=key)
    letter = _answered_503_and_kept(r, settings)
    assert type(error).__name__ in letter["error"]
    _holds(letter, ds, 2)
    if target == "record_decisions":  # scored, then not written: not the model's fault
        assert "could not be recorded" in r.json()["detail"], r.text


def test_a_fault_in_a_route_after_validation_is_503_with_a_dead_letter(api, monkeypatch) -> None:
    client, ds, key, settings = api
    r = client.post("/v1/score", json=applicant(ds, 3), headers=key)
    assert r.status_code == 200, r.text
    monkeypatch.setattr(
        "greenscore.serving.routers.decisions.record_event", _raise(ConfigError(NO_PEPPER))
    )
    contest = client.post(
        f"/v1/decisions/{r.json()['request_id']}/contest", json={"reason": "wrong"}, headers=key
    )
    letter = _answered_503_and_kept(contest, settings)  # was 400
    assert letter["kind"] == "http" and letter["payload"] == {"reason": "wrong"}


@pytest.mark.parametrize("route", ["/v1/score", "/v1/score/batch"])
def test_a_letter_kept_by_the_error_handler_is_replayable_and_erasable(
    api, monkeypatch, route
) -> None:
    client, ds, key, settings = api
    service = client.app.state.service
    failing = ConfigError(NO_PEPPER)
    if route == "/v1/score":
        monkeypatch.setattr(service, "item", _raise(failing))
        body: Any = applicant(ds, 8)
    else:
        monkeypatch.setattr(service, "decide_payloads", _raise(failing))
        body = {"applicants": [applicant(ds, 8)]}
    letter = _answered_503_and_kept(client.post(route, json=body, headers=key), settings)
    assert letter["kind"] == "http" and letter["model"] == "good"  # replay needs no --model
    _holds(letter, ds, 8)
    subject = subject_hash(applicant(ds, 8)[ds.spec.id_column], settings=settings)
    assert sealed.erase_subject(subject, db=database(settings)) == {dlq.SEALED_KIND: 1}


# ---------------------------------------------------------------- batch and job
def test_a_batch_whose_model_fails_answers_503_per_applicant_each_kept(api, monkeypatch) -> None:
    client, ds, key, settings = api
    model = client.app.state.store.deployment.primary.model
    monkeypatch.setattr(model, "score", _raise(ConfigError(NO_PEPPER)))
    r = client.post(
        "/v1/score/batch", json={"applicants": [applicant(ds, 4), applicant(ds, 5)]}, headers=key
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [503, 503]  # were 400 each, nothing kept
    letters = _letters(settings)
    assert len(letters) == 2 and {x["route"] for x in letters} == {"/v1/score/batch"}
    ids = {x["payload"]["applicants"][0][ds.spec.id_column] for x in letters}
    assert ids == {applicant(ds, i)[ds.spec.id_column] for i in (4, 5)}


def test_a_job_that_cannot_be_stored_is_503_with_a_dead_letter(api, monkeypatch) -> None:
    client, ds, key, settings = api
    monkeypatch.setattr("greenscore.serving.jobs.subject_hashes", _raise(ConfigError(NO_PEPPER)))
    linked = applicant(ds, 7) | {"links": [{"id": applicant(ds, 6)[ds.spec.id_column]}]}
    r = client.post("/v1/jobs", json={"records": [applicant(ds, 6), linked]}, headers=key)
    letter = _answered_503_and_kept(r, settings)  # was 400
    assert letter["kind"] == "http" and letter["route"] == "/v1/jobs"
    record, _ = letter["payload"]["records"]
    assert record[ds.spec.id_column] == applicant(ds, 6)[ds.spec.id_column]
    assert "email" not in record  # only what the model reads, and the id, is kept
    # The body is one letter row holding every record: erasing an applicant finds it
    # inside, as a record and as another record's link, and takes out both, no more.
    subject = subject_hash(applicant(ds, 6)[ds.spec.id_column], settings=settings)
    assert sealed.erase_mentions(subject, db=database(settings)) == {dlq.SEALED_KIND: 2}
    (letter,) = _letters(settings)
    erased, other = letter["payload"]["records"]
    assert erased == sealed.ERASED and other["links"] == [sealed.ERASED]
    assert other[ds.spec.id_column] == linked[ds.spec.id_column]


def test_the_callers_own_mistakes_stay_4xx_and_keep_nothing(api) -> None:
    client, ds, key, settings = api
    assert client.get("/v1/jobs/no-such-job", headers=key).status_code == 404
    folder = jobs.input_dir(settings, verify_key(key["X-API-Key"], settings=settings).id)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([applicant(ds, 7)]).drop(columns="income").to_csv(folder / "x.csv", index=False)
    r = client.post("/v1/jobs", json={"file": "x.csv"}, headers=key)
    assert r.status_code == 422 and "['income']" in r.json()["detail"], r.text
    assert client.post("/v1/jobs", json={"records": []}, headers=key).status_code == 422
    bad = applicant(ds, 7) | {"income": "lots"}
    assert client.post("/v1/score", json=bad, headers=key).status_code == 422
    assert client.post("/v1/score", json=applicant(ds, 7)).status_code == 401
    assert _letters(settings) == []


# ---------------------------------------------------------------- start-up
def test_serve_in_production_without_secrets_refuses_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("GREENSCORE_MASTER_KEY", "GREENSCORE_PRIVACY__MASTER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    use_settings(Settings(home=home, environment="production", security={"jwt_secret": "j" * 40}))
    try:
        with pytest.raises(SystemExit) as stopped:
            cli_module.main(["serve", "--model", str(tmp_path / "model")])
    finally:
        use_settings(None)
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: environment 'production' cannot start without:")
    assert "security.audit_pepper (GREENSCORE_SECURITY__AUDIT_PEPPER)" in line
    assert "GREENSCORE_MASTER_KEY" in line and "jwt_secret" not in line
    assert not home.exists()  # refused before the database was opened


def test_serve_names_a_relative_model_folder_absolutely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead letter names the model the service ran, for ``greenscore dlq replay``, which
    runs from anywhere: a folder given relative to where ``serve`` started failed there
    ("no model bundle at train1/model")."""
    _, bundle = shared()
    bundle.save(tmp_path / "runs" / "model")
    monkeypatch.chdir(tmp_path)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        "greenscore.serving.app.create_app", lambda settings, **kw: seen.update(kw) or object()
    )
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: None)
    use_settings(Settings(home=tmp_path / "home", environment="test"))
    try:
        cli_module.main(["serve", "--model", "runs/model", "--fallback", "runs/model"])
    except SystemExit as stopped:
        assert not stopped.code
    finally:
        use_settings(None)
    where = str((tmp_path / "runs" / "model").resolve())
    assert seen["model"] == seen["fallback"] == where
