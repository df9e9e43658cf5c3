"""OWASP API10 (unsafe consumption of APIs): what the service takes from other systems.

Callbacks: the receiver is another system, so its answers are not trusted — a redirect
(to an inside address) is a failed delivery, never followed; the summary sent carries no
applicant data; a failing receiver does not fail or hold the job. Models from a folder or
registry are another system's output too: a bundle whose pickle was replaced, or whose
signature is gone, is refused before a byte of it is unpickled (a payload that would run
code on unpickling leaves no trace), and the served model stays.
"""

from __future__ import annotations

import pickle
import shutil
import time
from pathlib import Path

from greenscore.models.bundle import BUNDLE_FILE

from .owasp_env import Owasp, Receiver


def _wait_callback(c, job: str) -> dict:
    deadline = time.monotonic() + 90
    while True:
        status = c.get(f"/v1/jobs/{job}").json()
        if status["status"] in ("done", "failed") and status["callback"]["status"] in (
            "delivered",
            "failed",
        ):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def test_a_callback_redirect_is_a_failed_delivery_not_followed(owasp: Owasp) -> None:
    port = owasp.receiver_port
    before = len(Receiver.hits)
    Receiver.status, Receiver.location = 302, f"http://127.0.0.1:{port}/inside"
    try:
        with owasp.client(owasp.key("api10-redirect")) as c:
            r = c.post(
                "/v1/jobs",
                json={
                    "records": [owasp.applicant(0)],
                    "callback_url": f"http://localhost:{port}/done",
                },
            )
            assert r.status_code == 202, r.text
            status = _wait_callback(c, r.json()["id"])
    finally:
        Receiver.status, Receiver.location = 204, None
    assert status["status"] == "done"  # the job itself is not failed by its receiver
    assert status["callback"]["status"] == "failed" and status["callback"]["attempts"] >= 1
    paths = [p for _, p in Receiver.hits[before:]]
    assert paths and set(paths) == {"/done"}, paths  # /inside was never requested
    assert "127.0.0.1" not in (status["callback"]["last_error"] or "")


def test_a_callback_carries_no_applicant_data(owasp: Owasp) -> None:
    port = owasp.receiver_port
    before = len(Receiver.bodies)
    applicant = owasp.applicant(3)
    with owasp.client(owasp.key("api10-summary")) as c:
        r = c.post(
            "/v1/jobs",
            json={"records": [applicant], "callback_url": f"http://localhost:{port}/summary"},
        )
        status = _wait_callback(c, r.json()["id"])
    assert status["callback"]["status"] == "delivered", status
    sent = b"".join(Receiver.bodies[before:]).decode()
    assert r.json()["id"] in sent  # the summary names the job
    assert applicant["email"] not in sent
    assert str(applicant[owasp.ds.spec.id_column]) not in sent


class _Payload:
    """Unpickling this creates a file: the proof that a bundle's bytes were unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - pickle's protocol
        return (Path.touch, (self.marker,))


def test_a_tampered_or_unsigned_bundle_is_refused_before_unpickling(owasp: Owasp) -> None:
    marker = owasp.home / "pwned"
    tampered = owasp.home / "tampered-model"
    unsigned = owasp.home / "unsigned-model"
    for folder in (tampered, unsigned):
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(owasp.home / "model", folder)
    (tampered / BUNDLE_FILE).write_bytes(pickle.dumps(_Payload(marker)))
    (unsigned / BUNDLE_FILE).write_bytes(pickle.dumps(_Payload(marker)))
    for extra in unsigned.iterdir():
        if extra.name != BUNDLE_FILE:
            extra.unlink() if extra.is_file() else shutil.rmtree(extra)
    admin = owasp.token("api10-admin", "admin", mfa=True)
    with owasp.client(token=admin) as c:
        generation = c.get("/health/ready").json()["checks"]["generation"]
        for folder in (tampered, unsigned):
            r = c.post("/v1/admin/models/reload", json={"model": str(folder)})
            assert r.status_code == 409, r.text
        # The untouched copy's signature still holds: the refusals were the tampering's.
        good = owasp.home / "copy-model"
        shutil.rmtree(good, ignore_errors=True)
        shutil.copytree(owasp.home / "model", good)
        ok = c.post("/v1/admin/models/reload", json={"model": str(good)})
        assert ok.status_code == 202, ok.text
        deadline = time.monotonic() + 60
        while (reload := c.get("/v1/admin/models").json()["reload"])["state"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert reload["state"] == "done", reload
        assert c.get("/health/ready").json()["checks"]["generation"] > generation
    assert not marker.exists()
