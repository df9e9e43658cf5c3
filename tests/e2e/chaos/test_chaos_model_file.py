"""Chaos: the model file is corrupted, or swapped for another model's, while a reload reads it.

A reload is vetted (its folder's signature checked) when it is asked for, and the bundle
is read in a background thread afterwards; the file changing in between is the race this
covers. The change is made at the OS boundary — the read of the bundle's bytes by the
reload thread (``greenscore.privacy.signing._read_regular``) first rewrites the file on
disk, then reads it for real — so the service sees exactly what a concurrent writer would
leave. The service runs in this process (FastAPI's test client, with its lifespan).

Expected: the reload fails (its status says why), the served model stays and keeps
answering — every request during and after is decided by the old version, audited and
stored — and a reload of an intact copy still succeeds afterwards. A service started on a
corrupted file refuses to start, naming the file. After all of it, ``greenscore audit
verify`` passes and decisions answered = audit events = predictions.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from chaos_env import ledger
from fastapi.testclient import TestClient
from serving_bundle import applicant, build_bundle, shared

import greenscore.privacy.signing as signing
from greenscore.config import Settings, use_settings
from greenscore.errors import ModelError
from greenscore.models.bundle import BUNDLE_FILE
from greenscore.security import create_key, issue_token
from greenscore.serving.app import create_app


def _reload(c: TestClient, admin: str, folder: Path) -> dict:
    r = c.post(
        "/v1/admin/models/reload",
        json={"model": str(folder)},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert r.status_code == 202, r.text[:300]
    deadline = time.monotonic() + 120
    while True:
        status = c.get("/v1/admin/models", headers={"Authorization": f"Bearer {admin}"}).json()
        if status["reload"]["state"] != "loading":
            return status
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_model_file_changed_during_a_reload_is_refused_and_the_old_model_serves(
    tmp_path, monkeypatch
) -> None:
    home = tmp_path / "home"
    settings = Settings(
        home=home,
        environment="test",
        serving={"job_worker": False, "energy_calibration": False},
    )
    use_settings(settings)
    ds, bundle = shared()
    bundle.save(home / "model")
    other = build_bundle(ds, n_estimators=20, seed=3, name="other")
    other.save(home / "other")
    for name in ("corrupted", "swapped", "intact"):
        shutil.copytree(home / "model", home / name)
    key = create_key(name="chaos-model", role="scorer", settings=settings)[1]
    admin = issue_token(subject="chaos-ops", role="admin", mfa=True, settings=settings)

    # The reload thread's read of the bundle rewrites it first: garbage, or another model.
    edits = {
        home / "corrupted": lambda path: path.write_bytes(path.read_bytes()[:1000] + b"\0" * 64),
        home / "swapped": lambda path: shutil.copyfile(home / "other" / BUNDLE_FILE, path),
    }
    done: set[Path] = set()
    real_read = signing._read_regular

    def racing_read(path: Path) -> bytes:
        folder = Path(path).parent
        if (
            threading.current_thread().name == "greenscore-reload"
            and folder in edits
            and folder not in done
        ):
            done.add(folder)
            edits[folder](Path(path))
        return real_read(path)

    monkeypatch.setattr(signing, "_read_regular", racing_read)
    accepted = 0
    app = create_app(settings, model=str(home / "model"))
    scorer = {"X-API-Key": key}
    with TestClient(app) as c:
        first = c.post("/v1/score", json=applicant(ds, 0), headers=scorer)
        assert first.status_code == 200
        accepted += 1
        version = first.json()["model"]["version"]
        for k, folder in enumerate((home / "corrupted", home / "swapped")):
            status = _reload(c, admin, folder)
            assert folder in done, "the reload never read the file: the race was not run"
            assert status["reload"]["state"] == "failed", status["reload"]
            assert "changed" in status["reload"]["error"] or "not" in status["reload"]["error"]
            for i in range(3):
                r = c.post("/v1/score", json=applicant(ds, 10 * k + i), headers=scorer)
                assert r.status_code == 200, r.text[:300]
                assert r.json()["model"]["version"] == version  # still the old model
                accepted += 1
        status = _reload(c, admin, home / "intact")  # the control: an untouched copy loads
        assert status["reload"]["state"] == "done", status["reload"]
        assert c.post("/v1/score", json=applicant(ds, 40), headers=scorer).status_code == 200
        accepted += 1
    book = ledger(home)
    assert book.verify_ok, book.verify_output
    assert book.decision_events == book.predictions == accepted, book
    assert book.dead_letters == 0
    use_settings(None)


def test_a_service_started_on_a_corrupted_model_file_refuses_to_start(tmp_path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, environment="test", serving={"job_worker": False})
    use_settings(settings)
    try:
        _, bundle = shared()
        bundle.save(home / "model")
        target = home / "model" / BUNDLE_FILE
        target.write_bytes(target.read_bytes()[:-100])
        with pytest.raises(ModelError) as refused:
            create_app(settings, model=str(home / "model"))
        assert BUNDLE_FILE in refused.value.message
    finally:
        use_settings(None)
