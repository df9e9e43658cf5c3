"""The security core against the real PostgreSQL server: audit chain (row-locked head),
API keys and JWT rotation, each run in a throw-away schema.

Skips with its reason when no server answers, unless GREENSCORE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import AuthError
from greenscore.security import (
    api_keys,
    create_key,
    issue_token,
    record_event,
    retire_signing_key,
    revoke_key,
    rotate_signing_key,
    tokens,
    verify_chain,
    verify_key,
    verify_token,
)
from greenscore.store import open_database

pytestmark = pytest.mark.services


@pytest.fixture
def pg(postgres_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = postgres_schema_url
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    use_settings(Settings(home=tmp_path, database_url=url))
    api_keys.clear_cache()
    tokens._forget()
    try:
        yield url
    finally:
        use_settings(None)
        api_keys.clear_cache()
        tokens._forget()


def test_audit_chain_on_postgres(pg: str) -> None:
    def work(n: int) -> None:
        for i in range(10):
            record_event("score", actor=f"t{n}", subject=f"APP-{n}-{i}", details={"i": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = verify_chain()
    assert (result.ok, result.checked) == (True, 40)
    with open_database(pg).begin() as conn:
        conn.execute(text("UPDATE security_audit_log SET details = '{}' WHERE id = 17"))
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, 17)
    with open_database(pg).begin() as conn:
        conn.execute(text("DELETE FROM security_audit_log WHERE id >= 17"))
    result = verify_chain()
    assert (result.ok, result.first_bad_id, result.checked) == (False, 17, 16)
    assert "missing" in result.reason


def test_keys_and_tokens_on_postgres(pg: str) -> None:
    key_id, plaintext = create_key(name="svc", role="scorer", settings=get_settings())
    assert verify_key(plaintext, settings=get_settings()).id == key_id
    revoke_key(key_id, settings=get_settings())
    with pytest.raises(AuthError, match="revoked"):
        verify_key(plaintext, settings=get_settings())
    old = issue_token(subject="alice", role="analyst", settings=get_settings())
    first_kid = tokens.active_kid(settings=get_settings())
    rotate_signing_key(settings=get_settings())
    assert verify_token(old, settings=get_settings()).id == "alice"
    retire_signing_key(first_kid, settings=get_settings())
    with pytest.raises(AuthError, match="retired"):
        verify_token(old, settings=get_settings())
