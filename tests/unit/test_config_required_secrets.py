"""Settings checked at start-up: outside local and test use, every required secret is named.

A service that would generate a secret refuses to be made instead, with one line naming
each missing setting and its environment variable (the app factory and the job worker
here; ``greenscore serve`` in ``tests/integration/test_serving_faults.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from greenscore.config import (
    MISSING_SETTINGS,
    Settings,
    env_name,
    missing_secrets,
    require_secrets,
)
from greenscore.errors import ConfigError
from greenscore.serving.app import create_app
from greenscore.serving.job_worker import JobWorker

PEPPER = "security.audit_pepper (GREENSCORE_SECURITY__AUDIT_PEPPER)"
JWT = "security.jwt_secret (GREENSCORE_SECURITY__JWT_SECRET)"
MASTER = (
    "the master key (GREENSCORE_MASTER_KEY, or privacy.master_key_file: "
    "GREENSCORE_PRIVACY__MASTER_KEY_FILE)"
)
SECRET_ENV = (
    "GREENSCORE_SECURITY__AUDIT_PEPPER",
    "GREENSCORE_SECURITY__JWT_SECRET",
    "GREENSCORE_MASTER_KEY",
    "GREENSCORE_PRIVACY__MASTER_KEY_FILE",
)


@pytest.fixture(autouse=True)
def no_secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)


def production(home: Path, **security: str) -> Settings:
    return Settings(home=home, environment="production", security=security)


def test_env_name_is_the_variable_pydantic_settings_reads(monkeypatch, tmp_path) -> None:
    assert env_name("security.audit_pepper") == "GREENSCORE_SECURITY__AUDIT_PEPPER"
    monkeypatch.setenv(env_name("security.audit_pepper"), "from-the-environment")
    got = Settings(home=tmp_path).security.audit_pepper
    assert got is not None and got.get_secret_value() == "from-the-environment"


def test_production_without_secrets_names_every_one_in_one_line(tmp_path: Path) -> None:
    settings = production(tmp_path)
    assert missing_secrets(settings) == [PEPPER, JWT, MASTER]
    with pytest.raises(ConfigError) as refused:
        require_secrets(settings)
    message = refused.value.message
    assert message == MISSING_SETTINGS.format(
        environment="production", missing="; ".join([PEPPER, JWT, MASTER])
    )
    assert "\n" not in message


def test_only_the_missing_ones_are_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "ab" * 32)
    settings = production(tmp_path, jwt_secret="j" * 32)
    assert missing_secrets(settings) == [PEPPER]
    with pytest.raises(ConfigError, match=r"GREENSCORE_SECURITY__AUDIT_PEPPER"):
        require_secrets(settings)
    # An empty value is no secret either.
    assert missing_secrets(production(tmp_path, jwt_secret="j" * 32, audit_pepper="")) == [PEPPER]


def test_a_short_jwt_secret_and_a_missing_key_file_are_named(tmp_path: Path) -> None:
    settings = production(tmp_path, audit_pepper="p" * 32, jwt_secret="short")
    settings.privacy.master_key_file = tmp_path / "absent.key"
    missing = missing_secrets(settings)
    assert missing == [
        "security.jwt_secret of 32 bytes or more (GREENSCORE_SECURITY__JWT_SECRET)",
        f"privacy.master_key_file, a file that exists (not {tmp_path / 'absent.key'}) "
        "(GREENSCORE_PRIVACY__MASTER_KEY_FILE)",
    ]
    (tmp_path / "absent.key").write_text("ab" * 32)
    settings.security.jwt_secret = production(tmp_path, jwt_secret="j" * 32).security.jwt_secret
    assert missing_secrets(settings) == []
    require_secrets(settings)  # nothing missing: no error


@pytest.mark.parametrize("environment", ["local", "test"])
def test_local_and_test_use_keep_generating_secrets(tmp_path: Path, environment: str) -> None:
    settings = Settings(home=tmp_path, environment=environment)
    assert missing_secrets(settings) == []
    require_secrets(settings)


def test_the_app_factory_refuses_before_opening_anything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with pytest.raises(ConfigError) as refused:
        create_app(production(home), model="never-loaded")
    assert PEPPER in refused.value.message and MASTER in refused.value.message
    assert not home.exists()  # no database, no generated key


def test_the_job_worker_refuses_to_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with pytest.raises(ConfigError, match=r"security\.audit_pepper"):
        JobWorker(
            production(home, jwt_secret="j" * 32),
            decide=lambda *a, **k: [],
            validate=dict,
        )
    assert not home.exists()
