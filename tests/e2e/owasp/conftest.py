"""The one real server of the OWASP API Security Top 10 suite, started once per session.

See ``owasp_env.py`` for its limits and the ``Owasp`` handle the tests get. Settings are
made current around every test of the folder, since saving and signing bundles read them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import HTTPServer

import pytest

from greenscore.config import Settings, use_settings
from greenscore.security import issue_token

from .owasp_env import (
    BURST,
    CHUNK_ROWS,
    MAX_ACTIVE_JOBS,
    MAX_BATCH,
    MAX_BODY,
    MAX_JOB_RECORDS,
    METRICS_TOKEN,
    PER_MINUTE,
    START_TIMEOUT,
    TIMEOUT,
    Owasp,
    Receiver,
    Server,
)


@pytest.fixture(scope="session")
def owasp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Owasp]:
    home = tmp_path_factory.mktemp("owasp")
    settings = Settings(home=home, environment="test")
    use_settings(settings)
    Receiver.hits = []
    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        from serving_bundle import shared  # on the path once owasp_env is imported

        ds, bundle = shared()
        bundle.save(home / "model")
        server = Server(
            home,
            ["--model", str(home / "model")],
            env={
                "GREENSCORE_SERVING__HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
                "GREENSCORE_SERVING__BODY_TIMEOUT_SECONDS": str(TIMEOUT),
                "GREENSCORE_SERVING__METRICS_TOKEN": METRICS_TOKEN,
                "GREENSCORE_SERVING__RATE_LIMIT_PER_MINUTE": str(PER_MINUTE),
                "GREENSCORE_SERVING__RATE_LIMIT_BURST": str(BURST),
                "GREENSCORE_SERVING__MAX_BATCH": str(MAX_BATCH),
                "GREENSCORE_SERVING__MAX_BODY_BYTES": str(MAX_BODY),
                "GREENSCORE_SERVING__JOB_MAX_RECORDS": str(MAX_JOB_RECORDS),
                "GREENSCORE_SERVING__JOB_MAX_ACTIVE_PER_KEY": str(MAX_ACTIVE_JOBS),
                "GREENSCORE_SERVING__JOB_CHUNK_ROWS": str(CHUNK_ROWS),
                "GREENSCORE_SERVING__JOB_POLL_SECONDS": "0.1",
                "GREENSCORE_SERVING__CALLBACK_ALLOW_HOSTS": '["localhost"]',
                "GREENSCORE_SERVING__CALLBACK_BACKOFF_SECONDS": "0.05",
                "GREENSCORE_SECURITY__API_KEY_CACHE_SECONDS": "1",
                "GREENSCORE_SECURITY__KEYRING_CACHE_SECONDS": "1",
            },
        )
        # The keyring and the first signing key are made here, before the server reads them.
        issue_token(subject="warm-up", role="scorer", settings=settings)
        server.start(timeout=START_TIMEOUT)
        try:
            yield Owasp(server=server, ds=ds, home=home, settings=settings, receiver=receiver)
        finally:
            server.stop()
    finally:
        receiver.shutdown()
        receiver.server_close()
        use_settings(None)


@pytest.fixture(autouse=True)
def _owasp_settings(owasp: Owasp) -> Iterator[None]:
    """This suite's settings are the current ones while each of its tests runs."""
    use_settings(owasp.settings)
    yield
    use_settings(None)
