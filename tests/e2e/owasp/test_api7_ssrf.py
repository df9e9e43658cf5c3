"""OWASP API7 (server-side request forgery): every place a caller names something to fetch.

Three inputs name a location: a job's ``callback_url`` (the server POSTs to it), a job's
``file`` (the server reads it) and a model reload's URIs (the server loads them). For
each, the forms an attacker uses to reach inside — loopback and private addresses in
every spelling, the cloud metadata address, credentials in the URL, other schemes, path
traversal, absolute paths, URLs where a path is expected — are refused with a 4xx before
anything is stored, and a loopback listener named by them is never contacted. (The
server under test allows callbacks to the host name ``localhost`` only; the forms below
spell the loopback address otherwise.)
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from greenscore.store import database

from .owasp_env import Owasp, Receiver


def _forms(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/cb",
        f"http://127.1:{port}/cb",
        f"http://2130706433:{port}/cb",
        f"http://0x7f.0.0.1:{port}/cb",
        f"http://0177.0.0.1:{port}/cb",
        f"http://[::1]:{port}/cb",
        f"http://[::ffff:127.0.0.1]:{port}/cb",
        f"http://[::ffff:7f00:1]:{port}/cb",
        f"http://0.0.0.0:{port}/cb",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.1/cb",
        "http://192.168.1.1/cb",
        "http://172.16.0.1/cb",
        "http://100.64.0.1/cb",
        f"http://user:pass@localhost:{port}/cb",
        f"http://localhost.:{port}@127.0.0.1:{port}/cb",
        f"file:///etc/passwd#{port}",
        f"gopher://127.0.0.1:{port}/_x",
        f"ftp://127.0.0.1:{port}/x",
        f"dict://127.0.0.1:{port}/x",
        "http://no-such-host.invalid/cb",
    ]


def _jobs(owasp: Owasp) -> int:
    with database(owasp.settings).connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM serving_jobs")).scalar_one()


def test_callback_urls_that_reach_inside_are_refused_and_never_called(owasp: Owasp) -> None:
    before_hits, before_jobs = len(Receiver.hits), _jobs(owasp)
    accepted = []
    with owasp.client(owasp.key("api7-callbacks")) as c:
        for url in _forms(owasp.receiver_port):
            r = c.post("/v1/jobs", json={"records": [owasp.applicant(0)], "callback_url": url})
            if r.status_code != 422:
                accepted.append((url, r.status_code, r.text[:200]))
            else:  # named: a field error (FastAPI's shape) or the product's own message
                assert "callback_url" in str(r.json()["detail"]), (url, r.text[:300])
    assert not accepted, accepted
    assert _jobs(owasp) == before_jobs  # nothing stored for a refused job
    time.sleep(1.0)  # a callback, had one been queued, would be sent by now
    assert Receiver.hits[before_hits:] == []


def test_job_files_outside_the_input_folder_are_refused(owasp: Owasp) -> None:
    port = owasp.receiver_port
    (owasp.home / "secret.csv").write_text("income\n1\n")
    before_hits, before_jobs = len(Receiver.hits), _jobs(owasp)
    with owasp.client(owasp.key("api7-files")) as c:
        for name in (
            "../secret.csv",
            "../../../../etc/passwd",
            "/etc/passwd",
            str(owasp.home / "secret.csv"),
            "inputs/../../secret.csv",
            "file:///etc/passwd",
            f"http://127.0.0.1:{port}/data.csv",
            "\\\\server\\share\\x.csv",
            "..%2Fsecret.csv",
        ):
            r = c.post("/v1/jobs", json={"file": name})
            assert r.status_code == 422, (name, r.status_code, r.text)
            assert "root:" not in r.text  # nothing of a file is echoed
    assert _jobs(owasp) == before_jobs
    assert Receiver.hits[before_hits:] == []


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:{port}/model",
        "https://169.254.169.254/model",
        "s3://bucket/model",
        "runs:/0123456789abcdef/model",
        "file:///etc/passwd",
        "/etc",
        "/etc/passwd",
        "../../../../etc",
        "{home}",
        "{home}/keys",
        "models:/no-such-model/1",
        "models:/../../etc/1",
    ],
)
def test_model_uris_that_reach_elsewhere_are_refused_with_one_message(owasp: Owasp, uri) -> None:
    uri = uri.format(port=owasp.receiver_port, home=owasp.home)
    admin = owasp.token("api7-admin", "admin", mfa=True)
    before_hits = len(Receiver.hits)
    with owasp.client(token=admin) as c:
        generation = c.get("/health/ready").json()["checks"]["generation"]
        r = c.post("/v1/admin/models/reload", json={"model": uri})
        if uri.startswith("models:/"):
            # The home's own registry: looked up there (never fetched from elsewhere), and a
            # name it does not hold fails the reload in the background.
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 300  # the registry's first use sets up its store
            while (reload := c.get("/v1/admin/models").json()["reload"])["state"] == "loading":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert reload["state"] == "failed", reload
        else:  # one message whatever the reason: no oracle of which paths exist
            assert r.status_code == 409, r.text
            detail = r.json()["detail"]
            assert detail.startswith(f"model '{uri}' cannot be loaded: it is not a signed bundle")
        assert c.get("/health/ready").json()["checks"]["generation"] == generation
    assert Receiver.hits[before_hits:] == []
