"""Privacy records against the real PostgreSQL server, each run in a throw-away schema:
the epsilon ledger under concurrent releases, consent purge and erasure.

Skips with its reason when no server answers, unless GREENSCORE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import PrivacyError
from greenscore.privacy.at_rest import read_table, write_table
from greenscore.privacy.budget import budget_status, spend
from greenscore.privacy.consent import consent_status, grant_consent, revoke_consent
from greenscore.privacy.gdpr import erase
from greenscore.privacy.registry import register_dataset
from greenscore.privacy.retention import purge
from greenscore.security.audit import verify_chain
from greenscore.security.pseudonym import subject_hash
from greenscore.store import database
from greenscore.store.predictions import predictions_for_subject, record_prediction

pytestmark = pytest.mark.services


@pytest.fixture
def pg(postgres_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = postgres_schema_url
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "9a" * 32)
    settings = Settings(home=tmp_path, database_url=url)
    settings.privacy.dp_epsilon_budget = 1.0
    use_settings(settings)
    try:
        yield url
    finally:
        use_settings(None)


def test_concurrent_releases_never_overspend(pg: str) -> None:
    # The schema first (the store's own concern), before the threads race on the budget.
    spend("warm-up", 0.1, query="count", settings=get_settings())
    outcomes: list[str] = []
    lock = threading.Lock()

    def release() -> None:
        for _ in range(5):
            try:
                spend("apps", 0.1, query="count", settings=get_settings())
                result = "ok"
            except PrivacyError:
                result = "refused"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=release) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 10 and outcomes.count("refused") == 10
    assert budget_status("apps", settings=get_settings()).spent == pytest.approx(1.0)


def test_erasure_and_purge_on_postgres(pg: str, tmp_path: Path) -> None:
    path = write_table(
        pd.DataFrame({"applicant_id": [1, 2, 3], "income": [1.0, 2.0, 3.0]}),
        tmp_path / "apps.parquet",
        encrypt=True,
    )
    register_dataset(path, id_column="applicant_id", db=database(get_settings()))
    grant_consent(
        subject_hash("2", settings=get_settings()),
        "credit_scoring",
        actor="ops",
        settings=get_settings(),
    )
    grant_consent(
        subject_hash("3", settings=get_settings()),
        "marketing",
        actor="ops",
        settings=get_settings(),
    )
    revoke_consent(
        subject_hash("3", settings=get_settings()),
        "marketing",
        actor="ops",
        settings=get_settings(),
    )
    record_prediction(
        request_id="r1", subject_hash=subject_hash("2", settings=get_settings()),
        model_name="m", model_version="1",
        input_hash="0" * 64, decision="approve", probability=0.1, db=database(get_settings()),
    )  # fmt: skip
    report = erase("2", actor="dpo", settings=get_settings())
    assert report.datasets == {"apps.parquet.enc": 1} and report.predictions == 1
    assert read_table(path)["applicant_id"].tolist() == [1, 3]
    assert (
        consent_status(subject_hash("2", settings=get_settings()), db=database(get_settings()))
        == {}
        and predictions_for_subject(
            subject_hash("2", settings=get_settings()), db=database(get_settings())
        )
        == []
    )
    later = purge(now=datetime.now(UTC) + timedelta(days=10_000), settings=get_settings())
    assert (
        later.deleted["consent"] == 2
        and consent_status(subject_hash("3", settings=get_settings()), db=database(get_settings()))
        == {}
    )
    assert verify_chain().ok
