"""GDPR records: consent history, lineage, prediction cache, retention purge and erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import ConfigError, DataError, NotFoundError, PrivacyError
from greenscore.privacy.at_rest import read_table, write_table
from greenscore.privacy.consent import (
    consent_history,
    consent_status,
    grant_consent,
    has_consent,
    require_consent,
    revoke_consent,
)
from greenscore.privacy.gdpr import erase
from greenscore.privacy.lineage import lineage_for, record_lineage
from greenscore.privacy.object_format import is_encrypted
from greenscore.privacy.registry import list_datasets, register_dataset
from greenscore.privacy.retention import purge, set_retention
from greenscore.privacy.tokens import detokenize, tokenize
from greenscore.security.audit import find_events, verify_chain
from greenscore.security.pseudonym import subject_hash
from greenscore.store import Database, database
from greenscore.store.outcomes import Outcome, record_outcomes
from greenscore.store.predictions import (
    delete_for_subject,
    get_prediction,
    predictions_for_subject,
    record_prediction,
    record_predictions,
)

SUBJECT = "100007"
OTHER = "100008"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "cd" * 32)
    use_settings(Settings(home=tmp_path))
    yield tmp_path
    use_settings(None)


def _s() -> Settings:
    return get_settings()


def _db() -> Database:
    return database(get_settings())


def _h(subject: str) -> str:
    return subject_hash(subject, settings=get_settings())


def _predict(request_id: str, subject: str, when: datetime | None = None) -> None:
    record_prediction(
        request_id=request_id,
        subject_hash=_h(subject),
        model_name="lightgbm",
        model_version="3",
        input_hash="f" * 64,
        decision="approve",
        probability=0.04,
        payload={"income": 52000},
        created_at=when,
        db=_db(),
    )


def _applications(ids: list[int], dates: list[str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "applicant_id": ids,
            "name": [f"Person {i}" for i in ids],
            "income": [40_000.0 + i % 7 for i in ids],
        }
    )
    if dates is not None:
        frame["application_date"] = dates
    return frame


def test_consent_history_and_current_state() -> None:
    grant_consent(_h(SUBJECT), "credit_scoring", actor="ops", source="web form", settings=_s())
    grant_consent(_h(SUBJECT), "marketing", actor="ops", settings=_s())
    revoke_consent(_h(SUBJECT), "marketing", actor="ops", source="email", settings=_s())
    assert consent_status(_h(SUBJECT), db=_db()) == {"credit_scoring": True, "marketing": False}
    assert [(e.purpose, e.granted) for e in consent_history(_h(SUBJECT), db=_db())] == [
        ("credit_scoring", True),
        ("marketing", True),
        ("marketing", False),
    ]
    assert has_consent(_h(SUBJECT), "credit_scoring", db=_db()) and not has_consent(
        _h(OTHER), "credit_scoring", db=_db()
    )
    with pytest.raises(PrivacyError, match="no consent from this subject for purpose 'marketing'"):
        require_consent(_h(SUBJECT), "marketing", db=_db())
    with pytest.raises(ConfigError, match="consent purpose 'Bad Purpose'"):
        grant_consent(_h(SUBJECT), "Bad Purpose", actor="ops", settings=_s())
    events = find_events(subject=SUBJECT, settings=_s())
    assert {e["action"] for e in events} == {"gdpr.consent.grant", "gdpr.consent.revoke"}


def test_prediction_store_keeps_only_the_subject_hash() -> None:
    _predict("req-1", SUBJECT)
    record_predictions(
        [
            dict(request_id=f"req-b{i}", subject_hash=_h(OTHER), model_name="m",
                 model_version="1", input_hash="0" * 64, decision="review", probability=0.2)
            for i in range(3)
        ],
        db=_db(),
    )  # fmt: skip
    stored = get_prediction("req-1", db=_db())
    assert stored.subject_hash == _h(SUBJECT) and stored.payload == {"income": 52000}
    assert len(predictions_for_subject(_h(OTHER), db=_db())) == 3
    with pytest.raises(DataError, match="'req-1' is already recorded"):
        _predict("req-1", SUBJECT)
    with pytest.raises(NotFoundError, match="no prediction with request id 'nope'"):
        get_prediction("nope", db=_db())
    with _db().connect() as conn:
        columns = conn.execute(text("select * from predictions")).keys()
    assert "subject" not in columns and "subject_id" not in columns
    assert (
        delete_for_subject(_h(OTHER), db=_db()) == 3
        and predictions_for_subject(_h(OTHER), db=_db()) == []
    )


def test_erasure_removes_subject_everywhere_with_one_hashed_audit_event(home: Path) -> None:
    ids = [100005, 100006, 100007, 100008]
    plain = write_table(_applications(ids), home / "data" / "apps.csv", encrypt=False)
    secret = write_table(_applications(ids), home / "data" / "apps_enc.parquet", encrypt=True)
    register_dataset(plain, id_column="applicant_id", db=_db())
    register_dataset(secret, id_column="applicant_id", name="apps-encrypted", db=_db())
    grant_consent(_h(SUBJECT), "credit_scoring", actor="ops", settings=_s())
    grant_consent(_h(OTHER), "credit_scoring", actor="ops", settings=_s())
    record_lineage(
        [_h(str(i)) for i in ids],
        action="trained_on",
        dataset_sha="a" * 64,
        model_name="lightgbm",
        model_version="3",
        db=_db(),
    )
    record_lineage(
        [_h(SUBJECT)], action="scored", model_name="lightgbm", model_version="3", db=_db()
    )
    _predict("req-1", SUBJECT)
    _predict("req-2", SUBJECT)
    _predict("req-3", OTHER)
    outcomes = [Outcome(True, datetime.now(UTC), request_id=r) for r in ("req-1", "req-3")]
    record_outcomes(outcomes, db=_db())
    tokens = tokenize(pd.Series([SUBJECT, OTHER]), vault=_db(), column="applicant_id")
    before_events = len(find_events(limit=1000, settings=_s()))

    report = erase(SUBJECT, actor="dpo-alice", settings=_s())

    assert report.datasets == {"apps-encrypted": 1, "apps.csv": 1}
    assert (report.consent, report.lineage, report.predictions, report.token_vault) == (1, 2, 2, 1)
    assert report.outcomes == 1  # req-1's; req-3's is OTHER's
    assert report.models == ["lightgbm:3"] and report.total == 9
    # Stored data: the subject's rows are gone, everyone else's are intact.
    for path in (plain, secret):
        remaining = read_table(path)
        assert remaining["applicant_id"].tolist() == [100005, 100006, 100008]
    assert is_encrypted(secret) and b"Person" not in secret.read_bytes()
    assert {d.name: d.sha256 for d in list_datasets(db=_db())}["apps.csv"] != "a" * 64
    # Consent, lineage, prediction cache and token vault.
    assert consent_status(_h(SUBJECT), db=_db()) == {} and consent_status(_h(OTHER), db=_db()) == {
        "credit_scoring": True
    }
    assert lineage_for(_h(SUBJECT), db=_db()) == [] and len(lineage_for(_h(OTHER), db=_db())) == 1
    assert predictions_for_subject(_h(SUBJECT), db=_db()) == [] and get_prediction(
        "req-3", db=_db()
    )
    with pytest.raises(NotFoundError, match="not in the token vault"):
        detokenize(tokens[:1], db=_db())
    assert detokenize(tokens[1:], db=_db()).tolist() == [OTHER]
    # Exactly one audit event for the erasure, naming the subject only by its hash.
    events = find_events(limit=1000, settings=_s())
    assert len(events) == before_events + 1
    erased = [e for e in events if e["action"] == "gdpr.erase"]
    assert len(erased) == 1 and erased[0]["subject_hash"] == _h(SUBJECT)
    assert erased[0]["actor"] == "dpo-alice" and erased[0]["details"]["predictions"] == 2
    assert verify_chain().ok
    with _db().connect() as conn:
        rows = conn.execute(text("select * from security_audit_log")).all()
    assert len(rows) == len(events)
    for row in rows:
        assert all(SUBJECT not in str(value) for value in row), row


def test_erasure_of_unknown_subject_is_still_audited() -> None:
    report = erase("999999", actor="dpo", settings=_s())
    assert report.total == 0 and report.audit_event_id >= 1
    assert find_events(action="gdpr.erase", settings=_s())[0]["subject_hash"] == _h("999999")


def test_erasure_stops_before_deleting_records_when_a_registered_file_is_missing(
    home: Path,
) -> None:
    path = write_table(_applications([100007]), home / "gone.csv", encrypt=False)
    register_dataset(path, id_column="applicant_id", db=_db())
    grant_consent(_h(SUBJECT), "credit_scoring", actor="ops", settings=_s())
    path.unlink()
    with pytest.raises(NotFoundError, match="missing its file"):
        erase(SUBJECT, actor="dpo", settings=_s())
    assert consent_status(_h(SUBJECT), db=_db()) == {"credit_scoring": True}
    assert find_events(action="gdpr.erase", settings=_s()) == []


def test_erasure_reaches_a_relations_file_on_either_side_of_each_link(home: Path) -> None:
    """A relations file names the subject as source or target: both columns are its ids,
    and erasure removes every link the subject is in, whichever side (a subject left as
    someone's guarantor is still their personal data)."""
    links = pd.DataFrame(
        {
            "source_id": [100007, 100005, 100006, 100008],
            "target_id": [100005, 100007, 100008, 100006],
            "relation": ["guarantor", "co_applicant", "shared_employer", "guarantor"],
        }
    )
    path = write_table(links, home / "data" / "relations.parquet", encrypt=True)
    entry = register_dataset(path, id_column="source_id, target_id", db=_db())
    assert entry.id_column == "source_id,target_id"
    assert entry.id_columns == ("source_id", "target_id")
    report = erase(SUBJECT, actor="dpo", settings=_s())
    assert report.datasets == {"relations.parquet.enc": 2}
    left = read_table(path)
    assert left[["source_id", "target_id"]].values.tolist() == [[100006, 100008], [100008, 100006]]
    with pytest.raises(ConfigError, match="id column 'target' is not in"):
        register_dataset(path, id_column="source_id,target", db=_db())


def test_register_refuses_unknown_columns(home: Path) -> None:
    path = write_table(_applications([1]), home / "a.csv", encrypt=False)
    with pytest.raises(ConfigError, match="id column 'customer' is not in"):
        register_dataset(path, id_column="customer", db=_db())
    with pytest.raises(ConfigError, match="no id column given"):
        register_dataset(path, id_column=" , ", db=_db())
    with pytest.raises(NotFoundError):
        register_dataset(home / "missing.csv", id_column="applicant_id", db=_db())


def test_purge_deletes_only_what_is_past_retention(home: Path) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=800), now - timedelta(days=10)
    _predict("old", OTHER, when=old)
    _predict("new", OTHER, when=recent)
    dates = [old.date().isoformat(), recent.date().isoformat(), "not a date"]
    path = write_table(_applications([1, 2, 3], dates), home / "dated.parquet", encrypt=True)
    register_dataset(path, id_column="applicant_id", time_column="application_date", db=_db())
    undated = write_table(_applications([4]), home / "undated.csv", encrypt=False)
    register_dataset(undated, id_column="applicant_id", db=_db())
    set_retention("lineage", 0, db=_db())
    record_lineage([_h(OTHER)], action="scored", db=_db())

    dry = purge(actor="ops", dry_run=True, now=now + timedelta(seconds=1), settings=_s())
    assert dry.deleted["predictions"] == 1 and get_prediction("old", db=_db())

    report = purge(actor="ops", now=now + timedelta(seconds=1), settings=_s())
    assert report.deleted["predictions"] == 1 and report.deleted["lineage"] == 1
    assert report.deleted["dataset:dated.parquet.enc"] == 1
    assert report.skipped == {"dataset:undated.csv": "no time column registered"}
    with pytest.raises(NotFoundError):
        get_prediction("old", db=_db())
    assert get_prediction("new", db=_db())
    assert read_table(path)["applicant_id"].tolist() == [2, 3]  # undatable row kept
    assert (
        find_events(action="gdpr.purge", settings=_s())[0]["details"]["deleted"]["predictions"] == 1
    )
    with pytest.raises(ConfigError, match="retention target 'everything'"):
        set_retention("everything", 3, db=_db())


def test_purge_keeps_consent_still_in_force(home: Path) -> None:
    grant_consent(_h(SUBJECT), "credit_scoring", actor="ops", settings=_s())
    grant_consent(_h(OTHER), "marketing", actor="ops", settings=_s())
    revoke_consent(_h(OTHER), "marketing", actor="ops", settings=_s())
    settings = get_settings()
    report = purge(
        now=datetime.now(UTC) + timedelta(days=settings.privacy.retention_days + 1), settings=_s()
    )
    assert report.deleted["consent"] == 2  # OTHER's grant and revocation; SUBJECT's grant stays
    assert (
        consent_status(_h(SUBJECT), db=_db()) == {"credit_scoring": True}
        and consent_status(_h(OTHER), db=_db()) == {}
    )


def test_a_folder_of_parquet_parts_is_registered_purged_and_erased_part_by_part(
    home: Path,
) -> None:
    """What ``score --engine dask`` writes: retention and erasure reach every part, rewrite
    only the parts holding marked rows (an encrypted part stays encrypted), and count first."""
    now = datetime.now(UTC)
    old, recent = (now - timedelta(days=800)).date(), (now - timedelta(days=10)).date()
    folder = home / "scores"
    first = write_table(
        _applications([1, 2], [old.isoformat(), recent.isoformat()]),
        folder / "part-00000.parquet",
        encrypt=False,
    )
    second = write_table(
        _applications([3, int(SUBJECT)], [recent.isoformat(), recent.isoformat()]),
        folder / "part-00001.parquet",
        encrypt=True,
    )
    (folder / "_manifest.json").write_text("{}", "utf-8")  # not a part
    with pytest.raises(ConfigError, match="time column 'when' is not in"):
        register_dataset(folder, id_column="applicant_id", time_column="when", db=_db())
    entry = register_dataset(
        folder, id_column="applicant_id", time_column="application_date", db=_db()
    )
    assert entry.path == folder.resolve() and not entry.encrypted
    untouched = second.read_bytes()

    dry = purge(actor="ops", dry_run=True, now=now, settings=_s())
    assert dry.deleted["dataset:scores"] == 1
    assert read_table(first)["applicant_id"].tolist() == [1, 2]  # a dry run changes nothing
    report = purge(actor="ops", now=now, settings=_s())
    assert report.deleted["dataset:scores"] == 1
    assert read_table(first)["applicant_id"].tolist() == [2]
    assert second.read_bytes() == untouched  # no row of it was old: not rewritten

    erased = erase(SUBJECT, actor="dpo", settings=_s())
    assert erased.datasets["scores"] == 1
    assert is_encrypted(second) and read_table(second)["applicant_id"].tolist() == [3]
    assert read_table(first)["applicant_id"].tolist() == [2]
    (after,) = list_datasets(db=_db())
    assert after.sha256 != entry.sha256  # the folder's fingerprint follows its parts

    empty = home / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="folder without Parquet parts"):
        register_dataset(empty, id_column="applicant_id", db=_db())
