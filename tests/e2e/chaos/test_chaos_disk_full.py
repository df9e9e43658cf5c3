"""Chaos: the disk fills up under a running service, during the audit append, then frees.

The service's home (its SQLite database: audit log, predictions, dead letters) is a small
tmpfs mounted for this test, so "disk full" is the real ENOSPC from the kernel, not a
patched write. A filler file takes the free space; the next decisions' transaction (audit
event and prediction row together) cannot be written. Mounting needs root (CAP_SYS_ADMIN);
where the test cannot mount, it is skipped with that reason printed (or fails under
GREENSCORE_REQUIRE_SERVICES=1).

Expected: while the disk is full the service answers 503 (nothing decided is answered
unaudited) and stays up; once space is freed it answers 200 again with no restart, and
``greenscore audit verify`` passes with decisions answered = audit events = predictions.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from chaos_env import START_TIMEOUT, Server, ledger
from serving_bundle import applicant, shared

from conftest import service_missing
from greenscore.config import Settings, use_settings
from greenscore.security import create_key

SIZE = "256m"


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    run = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        service_missing(f"cannot mount a tmpfs for the disk-full test: {run.stderr.strip()}")
    (mount / "filler").touch()
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Take every free byte of the file system holding ``folder``."""
    filler = folder / "filler"  # made empty when the disk was mounted
    used = subprocess.run(["df", "-h", "-i", str(folder)], capture_output=True, text=True).stdout
    assert shutil.disk_usage(folder).free > 1 << 20, f"full before the filler:\n{used}"
    # Unbuffered: a buffered file's last flush, at close, would hit the full disk itself.
    with filler.open("r+b", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            try:
                while f.write(b"\0" * size):
                    pass
            except OSError:
                pass
    assert shutil.disk_usage(folder).free < 64 * 1024
    return filler


def test_disk_full_during_the_audit_append_refuses_then_recovers(
    small_disk: Path, tmp_path
) -> None:
    home = small_disk / "home"
    settings = Settings(home=home, environment="test")
    use_settings(settings)
    try:
        ds, bundle = shared()
        bundle.save(home / "model")
        key = create_key(name="chaos-disk", role="scorer", settings=settings)[1]
        server = Server(
            home,
            ["--model", str(home / "model")],
            env={"GREENSCORE_SERVING__JOB_WORKER": "false"},
        )
        server.log = tmp_path / "server.log"  # the log must not need the full disk
        server.start(timeout=START_TIMEOUT)
        accepted = 0
        try:
            with server.client(**{"X-API-Key": key, "Connection": "close"}) as c:
                for i in range(5):
                    assert c.post("/v1/score", json=applicant(ds, i)).status_code == 200
                    accepted += 1
                filler = _fill(small_disk)
                # SQLite appends to its write-ahead log, which may still have room; decide
                # until the log needs a block the disk no longer has (3 refusals in a row).
                refused = streak = 0
                for i in range(5, 400):
                    r = c.post("/v1/score", json=applicant(ds, i % 1000))
                    assert r.status_code in (200, 503), r.text[:300]
                    if r.status_code == 200:
                        accepted += 1
                        streak = 0
                    else:
                        assert r.json()["error"] == "ServiceUnavailableError"
                        refused += 1
                        streak += 1
                        if streak == 3:
                            break
                assert refused > 0, "the full disk never refused a decision"
                assert c.get("/health/live").status_code == 200
                filler.unlink()
                for i in range(400, 405):
                    r = c.post("/v1/score", json=applicant(ds, i))
                    assert r.status_code == 200, r.text[:300]
                    accepted += 1
        finally:
            server.stop()
        assert "database or disk is full" in server.tail() or "No space" in server.tail()
    finally:
        use_settings(None)
    book = ledger(home)
    assert book.verify_ok, book.verify_output
    assert book.decision_events == book.predictions == accepted, book
