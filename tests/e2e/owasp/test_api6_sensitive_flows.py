"""OWASP API6 (unrestricted access to sensitive business flows): contests and erasure.

Contest (GDPR Art. 22): a decision is contested once — repeating it, or flooding it,
queues nothing more and cannot change the first reason; each contest takes a rate-limit
token, so a tenant cannot flood the review staff faster than its rate; it is audited
under the subject's pseudonym only. Erasure (``greenscore gdpr erase``): refused without a
valid, unreplayed second factor of an enrolled admin (refusals are audited, nothing is
erased), repeated wrong codes lock the operator out, and an accepted erasure removes the
subject's decisions so the service no longer answers about them.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from sqlalchemy import text

from greenscore.errors import AuthError
from greenscore.privacy.gdpr import authorize_erasure
from greenscore.security import enroll, find_events, subject_hash
from greenscore.store import database

from .owasp_env import BURST, PER_MINUTE, Owasp


def test_a_decision_is_contested_once_however_often_it_is_sent(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api6-contest")) as a:
        request_id = a.post("/v1/score", json=owasp.applicant(20)).json()["request_id"]
        answers = [
            a.post(f"/v1/decisions/{request_id}/contest", json={"reason": f"try {k}"})
            for k in range(5)
        ]
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["id"] for r in answers}) == 1
    assert {r.json()["comment"] for r in answers} == {"try 0"}
    with database(owasp.settings).connect() as conn:
        queued = conn.execute(
            text("SELECT COUNT(*) FROM serving_review_queue WHERE request_id = :r"),
            {"r": request_id},
        ).scalar_one()
    assert queued == 1
    events = [
        e
        for e in find_events(action="decision.contest", limit=10_000, settings=owasp.settings)
        if e["details"].get("request_id") == request_id
    ]
    assert len(events) == 1
    applicant_id = str(owasp.applicant(20)[owasp.ds.spec.id_column])
    assert events[0]["subject_hash"] == subject_hash(applicant_id, settings=owasp.settings)
    assert applicant_id not in json.dumps(events[0]["details"])


def test_contests_take_rate_tokens_so_they_cannot_be_flooded(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api6-flood")) as a:
        started = time.monotonic()
        request_id = a.post("/v1/score", json=owasp.applicant(21)).json()["request_id"]

        def contest(_: int) -> int:
            return a.post(
                f"/v1/decisions/{request_id}/contest", json={"reason": "again"}
            ).status_code

        with ThreadPoolExecutor(8) as pool:  # faster than the bucket refills
            statuses = list(pool.map(contest, range(3 * BURST)))
        refilled = (time.monotonic() - started) * PER_MINUTE / 60
    assert 429 in statuses and set(statuses) <= {202, 429}, statuses
    # The burst (less the score's token) plus what refilled meanwhile, and no more.
    assert statuses.count(202) <= BURST - 1 + refilled + 1, (statuses.count(202), refilled)


def test_contest_reasons_are_bounded(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api6-bounded")) as a:
        request_id = a.post("/v1/score", json=owasp.applicant(22)).json()["request_id"]
        for reason in ("", "x" * 2001):
            r = a.post(f"/v1/decisions/{request_id}/contest", json={"reason": reason})
            assert r.status_code == 422, r.text
            assert r.json()["detail"][0]["loc"] == ["body", "reason"]


def test_erasure_needs_an_enrolled_admins_fresh_second_factor(owasp: Owasp) -> None:
    secret, _ = enroll("api6-admin", role="admin", settings=owasp.settings)
    enroll("api6-analyst", role="analyst", settings=owasp.settings)
    applicant = owasp.applicant(23)
    subject = str(applicant[owasp.ds.spec.id_column])
    with owasp.client(owasp.key("api6-erase")) as a:
        request_id = a.post("/v1/score", json=applicant).json()["request_id"]
    hashed = subject_hash(subject, settings=owasp.settings)

    def predictions() -> int:
        with database(owasp.settings).connect() as conn:
            return conn.execute(
                text("SELECT COUNT(*) FROM predictions WHERE subject_hash = :h"), {"h": hashed}
            ).scalar_one()

    assert predictions() >= 1
    refused_before = len(find_events(action="cli.refused", limit=10_000, settings=owasp.settings))
    for user, code in (
        ("api6-admin", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"),
        ("api6-analyst", "123456"),  # a role that may not erase, whatever its code
        ("nobody", "123456"),
    ):
        run = owasp.cli("gdpr", "erase", "--subject", subject, "--user", user, "--totp", code)
        assert run.returncode != 0, run.stdout
        assert predictions() >= 1  # nothing erased
    refused = find_events(action="cli.refused", limit=10_000, settings=owasp.settings)
    assert len(refused) - refused_before == 3
    assert all(e["details"]["action"] == "gdpr:erase" for e in refused[:3])  # newest first

    # The right code works once (after the wrong code's back-off); replaying it is refused.
    # The CLI takes seconds to start on a loaded machine: the code is the one of 20 s from
    # now, which a one-step window accepts when checked anywhere from 0 to about 40 s later.
    time.sleep(owasp.settings.security.totp_backoff_seconds * 2)
    code = pyotp.TOTP(secret).at(time.time() + 20)
    run = owasp.cli("gdpr", "erase", "--subject", subject, "--user", "api6-admin", "--totp", code)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["predictions"] >= 1
    assert predictions() == 0
    replay = owasp.cli(
        "gdpr", "erase", "--subject", subject, "--user", "api6-admin", "--totp", code
    )
    assert replay.returncode != 0
    # The service no longer answers about the erased subject's decision.
    with owasp.client(owasp.key("api6-erase")) as a:
        r = a.post(f"/v1/decisions/{request_id}/contest", json={"reason": "after erasure"})
        assert r.status_code == 404


def test_a_wrong_code_makes_the_next_attempt_wait(owasp: Owasp) -> None:
    """Guessing codes is throttled: right after a wrong code even the right one is refused."""
    secret, _ = enroll("api6-throttled", role="admin", settings=owasp.settings)
    totp = pyotp.TOTP(secret)
    wrong = "000000" if totp.now() != "000000" else "111111"
    with pytest.raises(AuthError):
        authorize_erasure("api6-throttled", wrong, settings=owasp.settings)
    with pytest.raises(AuthError) as refused:
        authorize_erasure("api6-throttled", totp.now(), settings=owasp.settings)
    assert "retry in" in refused.value.message
