"""The admin API's model reload, in-process: who may reload, and what may be loaded.

Only an MFA-verified admin reaches it, with a token ``greenscore tokens issue --user``
gives after a TOTP check (API keys and service tokens never carry MFA). It loads only
signed bundles from allowed folders (or the registry): a crafted pickle runs nothing, and
the live database is never opened (closing any descriptor of a SQLite file drops the
process's locks on it, which once made later audit writes vanish). Every refusal reads
the same, so the API does not tell which paths exist.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import shutil
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import shared  # noqa: E402

from greenscore import cli  # noqa: E402
from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.models.bundle import BUNDLE_FILE  # noqa: E402
from greenscore.security import (  # noqa: E402
    create_key,
    enroll,
    find_events,
    record_event,
    verify_chain,
)
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.model_store import REFUSED  # noqa: E402

_opened: list[str] = []
_watching: list[Path] = []


def _audit_opens(event: str, args: tuple) -> None:
    # Python-level opens only (SQLite's own are in C): exactly what a model load would do.
    if _watching and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        path = os.fsdecode(args[0])
        if any(path.startswith(str(w)) for w in _watching):
            _opened.append(path)


sys.addaudithook(_audit_opens)


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        cli.main(list(args))
    out = capsys.readouterr()
    return int(stopped.value.code or 0), out.out, out.err


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("reload")
    settings = Settings(home=home, environment="test")
    settings.serving.energy_calibration = False
    settings.serving.job_worker = False
    use_settings(settings)
    _, bundle = shared()
    bundle.save(home / "model-v1")
    bundle.save(home / "model-v2")
    # One operator per TOTP code used below: a code is good once.
    roles = {"alice": "admin", "bob": "analyst", "dave": "admin", "erin": "admin"}
    totp = {
        user: pyotp.TOTP(enroll(user, role=role, settings=get_settings())[0])
        for user, role in roles.items()
    }
    admin_key = create_key(name="ops", role="admin", settings=get_settings())[1]
    # The service starts with model-v1: its folder (the home) is where a reload may look.
    app = create_app(settings, model=str(home / "model-v1"))
    with TestClient(app) as client:
        yield client, home, totp, admin_key
    use_settings(None)


def issue(totp: dict[str, pyotp.TOTP], user: str, *args: str) -> str:
    """``greenscore tokens issue --user USER --totp CODE [ARGS]``, in-process; the token."""
    buffer = io.StringIO()
    with redirect_stdout(buffer), pytest.raises(SystemExit) as stopped:
        cli.main(["tokens", "issue", "--user", user, "--totp", totp[user].now(), *args])
    assert stopped.value.code in (0, None), buffer.getvalue()
    return buffer.getvalue().strip()


@pytest.fixture(scope="module")
def tokens(service) -> dict[str, str]:
    """Each operator's own token (MFA) and a service token an admin issued (no MFA)."""
    _, _, totp, _ = service
    return {
        "alice": issue(totp, "alice"),
        "bob": issue(totp, "bob"),
        "service": issue(totp, "dave", "--subject", "svc", "--role", "admin"),
    }


def reload(client: TestClient, headers: dict[str, str], model: str):  # noqa: ANN201
    return client.post("/v1/admin/models/reload", json={"model": model}, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ who may reload
def test_an_mfa_token_from_the_cli_can_reload_and_nothing_else_can(service, tokens) -> None:
    client, home, _, admin_key = service
    target = str(home / "model-v2")
    r = reload(client, {"X-API-Key": admin_key}, target)
    assert r.status_code == 401 and "multi-factor" in r.json()["detail"]
    r = reload(client, bearer(tokens["service"]), target)  # an admin's service token: no MFA
    assert r.status_code == 401 and "multi-factor" in r.json()["detail"]
    r = reload(client, bearer(tokens["bob"]), target)  # MFA, but an analyst
    assert r.status_code == 403
    r = reload(client, bearer(tokens["alice"]), target)
    assert r.status_code == 202, r.text
    status = client.app.state.store.wait_reload()
    assert status["state"] == "done", status
    assert client.app.state.store.deployment.primary.model.uri == target
    issued = [e for e in find_events(action="tokens.issue", limit=10, settings=get_settings())]
    assert {(e["details"]["token_subject"], e["details"]["mfa"]) for e in issued} == {
        ("alice", True),
        ("bob", True),
        ("svc", False),
    }


# ------------------------------------------------------------------ what may be loaded
def _refused(r, uri: str) -> None:  # noqa: ANN001
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == REFUSED.format(uri=uri)


def test_crafted_pickles_run_nothing(service, tokens, tmp_path: Path) -> None:
    client, home, _, _ = service
    before = client.app.state.store.reload_status
    marker = tmp_path / "pwned"
    # Unsigned, in an allowed folder.
    evil = home / "evil"
    evil.mkdir(exist_ok=True)
    (evil / BUNDLE_FILE).write_bytes(pickle.dumps(Payload(marker)))
    _refused(reload(client, bearer(tokens["alice"]), str(evil)), str(evil))
    # A signed bundle whose pickle was swapped for the payload afterwards.
    swapped = home / "swapped"
    shutil.copytree(home / "model-v1", swapped, dirs_exist_ok=True)
    (swapped / BUNDLE_FILE).write_bytes(pickle.dumps(Payload(marker)))
    _refused(reload(client, bearer(tokens["alice"]), str(swapped)), str(swapped))
    assert not marker.exists()
    assert client.app.state.store.reload_status is before  # nothing was even started
    refused = find_events(action="models.reload.refused", limit=10, settings=get_settings())
    assert {e["details"]["model"] for e in refused} >= {str(evil), str(swapped)}


@pytest.mark.parametrize("field", ["model", "fallback", "ab"])
def test_an_empty_uri_is_422_and_starts_nothing(service, tokens, field: str) -> None:
    client, _, _, _ = service
    before = client.app.state.store.reload_status
    r = client.post("/v1/admin/models/reload", json={field: ""}, headers=bearer(tokens["alice"]))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field], r.text
    assert client.app.state.store.reload_status is before  # no background load failed later


def test_refusals_do_not_tell_which_paths_exist(service, tokens, tmp_path: Path) -> None:
    client, home, _, _ = service
    outside = tmp_path / "outside"
    shutil.copytree(home / "model-v1", outside)  # signed, but not in an allowed folder
    for uri in (str(outside), str(home / "no-such-model"), "/etc", str(home / "evil")):
        _refused(reload(client, bearer(tokens["alice"]), uri), uri)


def test_the_live_database_is_never_opened_and_audit_writes_survive(
    service, tokens, tmp_path: Path
) -> None:
    client, home, _, _ = service
    db = home / "greenscore.db"
    linked = home / "linked"
    linked.mkdir(exist_ok=True)
    if not (linked / BUNDLE_FILE).exists():
        os.link(db, linked / BUNDLE_FILE)  # a hard link: the same file under a bundle's name
    symlinked = home / "symlinked"
    symlinked.mkdir(exist_ok=True)
    if not (symlinked / BUNDLE_FILE).exists():
        (symlinked / BUNDLE_FILE).symlink_to(db)
    before = verify_chain().checked
    _watching[:] = [db.resolve()]
    try:
        for uri in (str(db), str(home), str(linked), str(symlinked), str(home / "keys")):
            _refused(reload(client, bearer(tokens["alice"]), uri), uri)
    finally:
        _watching.clear()
    assert _opened == []
    for i in range(3):
        record_event("score", actor="k1", details={"i": i})
    result = verify_chain()
    assert result.ok and result.checked == before + 5 + 3  # five refusals, three events


def test_an_admin_signs_an_old_bundle_then_it_reloads(
    service, tokens, capsys: pytest.CaptureFixture[str]
) -> None:
    client, home, totp, _ = service
    old = home / "model-old"
    shutil.copytree(home / "model-v1", old, dirs_exist_ok=True)
    (old / "signature.json").unlink()  # as saved by release 0.1.0
    _refused(reload(client, bearer(tokens["alice"]), str(old)), str(old))
    status, out, err = run_cli(
        capsys, "model", "sign", "--model", str(old), "--user", "erin", "--totp", totp["erin"].now()
    )
    assert status == 0, err
    assert re.match(r"signed .*model-old \(\d+ files\)", out)
    [signed] = find_events(action="models.sign", limit=1, settings=get_settings())
    assert signed["actor"] == "erin" and "bundle.joblib" in signed["details"]["files"]
    assert reload(client, bearer(tokens["alice"]), str(old)).status_code == 202
    assert client.app.state.store.wait_reload()["state"] == "done"
