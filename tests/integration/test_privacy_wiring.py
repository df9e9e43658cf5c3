"""Privacy promises wired through the product (issue 21, point 5): encrypted datasets read
in place by the data commands, consent enforced when a setting asks, ``scored`` lineage
written with every served decision, and the audit log searched and exported from the CLI
and ``GET /v1/audit`` (``audit:read``)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.data.io import read_table, register_decryptor  # noqa: E402
from greenscore.data.synthetic import generate  # noqa: E402
from greenscore.errors import DataError  # noqa: E402
from greenscore.privacy.at_rest import install_dataset_reader, write_table  # noqa: E402
from greenscore.privacy.consent import grant_consent, revoke_consent  # noqa: E402
from greenscore.privacy.lineage import lineage_for  # noqa: E402
from greenscore.security import create_key, record_event  # noqa: E402
from greenscore.security.audit import verify_chain  # noqa: E402
from greenscore.security.pseudonym import subject_hash  # noqa: E402
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.store import database  # noqa: E402

DATA = Path("/work/shared/data")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "ef" * 32)
    use_settings(Settings(home=tmp_path / "home", environment="test"))
    yield tmp_path
    use_settings(None)


# ---------------------------------------------------------------- encrypted datasets
def test_validate_and_profile_read_an_encrypted_file_in_place(home: Path, run_cli) -> None:
    import pandas as pd

    frame = pd.read_csv(DATA / "german_credit.csv").head(300)
    stored = write_table(frame, home / "german.csv", encrypt=True)
    assert stored.name == "german.csv.enc" and b"checking_status" not in stored.read_bytes()
    code, out, err = run_cli("validate", "-d", stored, "-p", "german")
    assert code == 0, err
    code, out, err = run_cli("profile", "-d", stored, "-p", "german", "-o", home / "profile.html")
    assert code == 0, err
    assert not list(home.rglob("german.csv"))  # no plaintext copy was made on the way


def test_without_a_key_source_the_reader_names_the_encrypted_file(home: Path) -> None:
    import greenscore.data.io as io_module

    stored = write_table(generate(200, seed=3).applications, home / "a.parquet", encrypt=True)
    saved = list(io_module._decryptor)
    io_module._decryptor.clear()
    try:
        with pytest.raises(DataError, match="is a GreenScore encrypted file"):
            read_table(stored)
        register_decryptor(lambda path: b"not,a\n")  # a decryptor decides what the bytes are
        with pytest.raises(DataError, match="not a Parquet file"):
            read_table(stored)
    finally:
        io_module._decryptor[:] = saved
    install_dataset_reader()
    assert len(read_table(stored)) == 200


# ---------------------------------------------------------------- the service
@pytest.fixture
def api():
    settings = get_settings()
    ds, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    keys = {
        role: {"X-API-Key": create_key(name=role, role=role, settings=settings)[1]}
        for role in ("scorer", "analyst")
    }
    with TestClient(create_app(settings, store=store)) as client:
        yield client, ds, keys


def test_consent_is_enforced_when_the_setting_asks(api) -> None:
    client, ds, keys = api
    settings = get_settings()
    body = applicant(ds, 3)
    subject = str(body[ds.spec.id_column])
    ok = client.post("/v1/score", json=body, headers=keys["scorer"])
    assert ok.status_code == 200, ok.text  # not asked for: scored

    settings.privacy.require_consent = "credit_scoring"
    refused = client.post("/v1/score", json=applicant(ds, 4), headers=keys["scorer"])
    assert refused.status_code == 403
    assert "purpose 'credit_scoring'" in refused.json()["detail"]
    nameless = {k: v for k, v in body.items() if k != ds.spec.id_column}
    refused = client.post("/v1/score", json=nameless, headers=keys["scorer"])
    assert refused.status_code == 403 and ds.spec.id_column in refused.json()["detail"]

    hashed = subject_hash(subject, settings=settings)
    grant_consent(hashed, "credit_scoring", actor="dpo", settings=settings)
    assert client.post("/v1/score", json=body, headers=keys["scorer"]).status_code == 200
    batch = client.post(
        "/v1/score/batch", json={"applicants": [body, applicant(ds, 5)]}, headers=keys["scorer"]
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert results[0]["status"] == 200 and results[0]["error"] is None
    assert results[1]["status"] == 403 and "credit_scoring" in json.dumps(results[1]["error"])
    revoke_consent(hashed, "credit_scoring", actor="dpo", settings=settings)
    assert client.post("/v1/score", json=body, headers=keys["scorer"]).status_code == 403


def test_consent_is_asked_once_per_batch_off_the_event_loop(api, monkeypatch) -> None:
    """The consent lookup is one query for a whole batch, and for a single request it runs
    on the decisions' writing thread, not on the event loop."""
    import threading

    from greenscore.serving import service as service_module

    client, ds, keys = api
    settings = get_settings()
    calls: list[tuple[str, int]] = []
    real = service_module.without_consent

    def counted(hashes, purpose, *, db):
        calls.append((threading.current_thread().name, len(list(hashes))))
        return real(hashes, purpose, db=db)

    monkeypatch.setattr(service_module, "without_consent", counted)
    settings.privacy.require_consent = "credit_scoring"
    batch = [applicant(ds, i) for i in (11, 12, 13)]
    r = client.post("/v1/score/batch", json={"applicants": batch}, headers=keys["scorer"])
    assert r.status_code == 200 and [x["status"] for x in r.json()["results"]] == [403] * 3
    assert [n for _, n in calls] == [3]
    calls.clear()
    assert client.post("/v1/score", json=batch[0], headers=keys["scorer"]).status_code == 403
    assert calls == [("greenscore-decisions", 1)]


def test_every_served_decision_writes_scored_lineage(api) -> None:
    client, ds, keys = api
    settings = get_settings()
    body = applicant(ds, 7)
    assert client.post("/v1/score", json=body, headers=keys["scorer"]).status_code == 200
    hashed = subject_hash(str(body[ds.spec.id_column]), settings=settings)
    records = lineage_for(hashed, db=database(settings))
    assert [(r["action"], r["model_name"]) for r in records] == [("scored", "lightgbm")]


def test_get_audit_filters_pages_and_needs_audit_read(api) -> None:
    client, ds, keys = api
    settings = get_settings()
    body = applicant(ds, 9)
    for _ in range(3):
        assert client.post("/v1/score", json=body, headers=keys["scorer"]).status_code == 200
    hashed = subject_hash(str(body[ds.spec.id_column]), settings=settings)
    assert client.get("/v1/audit", headers=keys["scorer"]).status_code == 403
    assert client.get("/v1/audit").status_code == 401

    page = client.get(
        "/v1/audit", params={"subject_hash": hashed, "limit": 2}, headers=keys["analyst"]
    )
    assert page.status_code == 200, page.text
    first = page.json()
    assert [e["action"] for e in first["events"]] == ["decision", "decision"]
    assert first["events"][0]["id"] > first["events"][1]["id"]  # newest first
    rest = client.get(
        "/v1/audit",
        params={"subject_hash": hashed, "before_id": first["next_before_id"]},
        headers=keys["analyst"],
    ).json()
    assert len(rest["events"]) == 1 and rest["next_before_id"] is None

    reads = client.get("/v1/audit", params={"action": "audit.*"}, headers=keys["analyst"]).json()[
        "events"
    ]
    assert reads and {e["action"] for e in reads} == {"audit.read"}  # reading is audited
    empty = client.get(
        "/v1/audit",
        params={"since": "2030-01-01T00:00:00", "until": "2029-01-01T00:00:00"},
        headers=keys["analyst"],
    )
    assert empty.status_code == 400 and "after" in empty.json()["detail"]
    edge = client.get(
        "/v1/audit", params={"until": "9999-12-31T23:59:59-05:00"}, headers=keys["analyst"]
    )
    assert edge.status_code == 400 and "years 1 to 9999" in edge.json()["detail"]
    assert (
        client.get("/v1/audit", params={"since": "yesterday"}, headers=keys["analyst"]).status_code
        == 422
    )
    assert verify_chain(settings=settings).ok


def test_audit_search_and_export_from_the_cli(home: Path, run_cli) -> None:
    settings = get_settings()
    record_event("gdpr.consent.grant", actor="dpo", subject="S-1", details={}, settings=settings)
    record_event("models.reload", actor="admin", details={"model": "m"}, settings=settings)
    record_event("gdpr.erase", actor="dpo", subject="S-2", details={}, settings=settings)

    code, out, err = run_cli("audit", "search", "--action", "gdpr.*", "--json")
    assert code == 0, err
    found = [json.loads(line) for line in out.splitlines()]
    assert [e["action"] for e in found] == ["gdpr.erase", "gdpr.consent.grant"]
    code, out, _ = run_cli("audit", "search", "--subject", "S-1", "--json")
    assert [json.loads(line)["action"] for line in out.splitlines()] == ["gdpr.consent.grant"]
    code, out, _ = run_cli("audit", "search", "--actor", "admin", "--since", "2000-01-01", "--json")
    assert [json.loads(line)["action"] for line in out.splitlines()] == ["models.reload"]
    code, out, _ = run_cli("audit", "search", "--until", "2000-01-01", "--json")
    assert code == 0 and out == ""

    code, out, err = run_cli("audit", "export", "-o", home / "gdpr.csv", "--action", "gdpr.*")
    assert code == 0, err
    rows = list(csv.DictReader((home / "gdpr.csv").open(encoding="utf-8")))
    assert [r["action"] for r in rows] == ["gdpr.consent.grant", "gdpr.erase"]  # oldest first
    assert all(len(r["hash"]) == 64 for r in rows)
    code, _, err = run_cli("audit", "export", "-o", home / "all.jsonl")
    assert code == 0, err
    lines = [json.loads(x) for x in (home / "all.jsonl").read_text("utf-8").splitlines()]
    assert {"audit.search", "models.reload"} <= {e["action"] for e in lines}
    for before, after in zip(lines, lines[1:], strict=False):
        assert after["prev_hash"] == before["hash"]  # a full export is the chain itself

    code, _, err = run_cli("audit", "export", "-o", home / "x.xml")
    assert code == 2 and ".jsonl or .csv" in err
    code, _, err = run_cli("audit", "search", "--since", "last week")
    assert code == 2 and "ISO 8601" in err


# ---------------------------------------------------------------- greenscore score
def test_scoring_a_file_reads_it_encrypted_records_lineage_and_honours_consent(
    home: Path,
) -> None:
    from greenscore.privacy.registry import list_datasets
    from greenscore.workflows.score import score_file

    settings = get_settings()
    ds, bundle = shared()
    rows = ds.frame.head(6)
    data = write_table(rows, home / "in.parquet", encrypt=True)
    out = home / "out.csv"
    summary = score_file(bundle, data, out)
    assert len(summary.scored) == 6
    ids = [str(v) for v in rows[ds.spec.id_column]]
    db = database(settings)
    for subject in ids:
        records = lineage_for(subject_hash(subject, settings=settings), db=db)
        assert [(r["action"], r["model_name"], r["model_version"]) for r in records] == [
            ("scored", bundle.model_name, bundle.version)
        ]
    (entry,) = [e for e in list_datasets(db=db) if e.name == f"scored:{out.resolve()}"]
    assert entry.id_column == ds.spec.id_column

    settings.privacy.require_consent = "credit_scoring"
    for subject in ids[:5]:
        grant_consent(subject_hash(subject, settings=settings), "credit_scoring", actor="dpo",
                      settings=settings)  # fmt: skip
    with pytest.raises(DataError, match=r"row 5 has not consented to purpose 'credit_scoring'"):
        score_file(bundle, data, home / "again.csv")
    assert not (home / "again.csv").exists()
    grant_consent(subject_hash(ids[5], settings=settings), "credit_scoring", actor="dpo",
                  settings=settings)  # fmt: skip
    assert len(score_file(bundle, data, home / "again.csv").scored) == 6


def test_a_file_of_integer_ids_read_as_floats_is_checked_as_the_integers(home: Path) -> None:
    """A CSV can hold integer ids as floats (``7.0``: a column that had a gap); consent is
    looked up, and lineage written, by the integer, as everywhere else the id is hashed."""
    from greenscore.workflows.score import score_file

    settings = get_settings()
    ds, bundle = shared()
    rows = ds.frame.head(3).copy()
    column = ds.spec.id_column
    rows[column] = rows[column].astype(float)
    rows.to_csv(home / "floats.csv", index=False)
    settings.privacy.require_consent = "credit_scoring"
    ids = [str(int(v)) for v in rows[column]]
    for subject in ids:
        grant_consent(subject_hash(subject, settings=settings), "credit_scoring", actor="dpo",
                      settings=settings)  # fmt: skip
    assert len(score_file(bundle, home / "floats.csv", home / "floats-out.csv").scored) == 3
    db = database(settings)
    assert all(lineage_for(subject_hash(s, settings=settings), db=db) for s in ids)
