"""TLS: self-signed pair, TLS-1.3-only contexts, and a real uvicorn server on loopback."""

from __future__ import annotations

import http.client
import socket
import ssl
import stat
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509

from greenscore.config import Settings
from greenscore.errors import ConfigError
from greenscore.security import generate_self_signed, server_ssl_context, uvicorn_ssl_kwargs


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_self_signed(tmp_path_factory.mktemp("tls"))


def test_self_signed_pair(pair: tuple[Path, Path]) -> None:
    cert_path, key_path = pair
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def test_self_signed_certificate_is_a_server_leaf(pair: tuple[Path, Path]) -> None:
    cert = x509.load_pem_x509_certificate(pair[0].read_bytes())
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False  # it can sign no other certificate
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment
    assert not usage.key_cert_sign and not usage.crl_sign
    extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(extended) == [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]


def test_server_context_is_tls13_only(pair: tuple[Path, Path], tmp_path: Path) -> None:
    ctx = server_ssl_context(*pair)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    with pytest.raises(ConfigError, match="certificate file not found"):
        server_ssl_context(tmp_path / "none.pem", pair[1])
    (tmp_path / "bad.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        server_ssl_context(tmp_path / "bad.pem", pair[1])


def test_uvicorn_kwargs(pair: tuple[Path, Path], tmp_path: Path) -> None:
    assert uvicorn_ssl_kwargs(Settings(home=tmp_path)) == {}
    with pytest.raises(ConfigError, match="must be set together"):
        uvicorn_ssl_kwargs(Settings(home=tmp_path, serving={"tls_cert": pair[0]}))
    kwargs = uvicorn_ssl_kwargs(
        Settings(home=tmp_path, serving={"tls_cert": pair[0], "tls_key": pair[1]})
    )
    assert kwargs["ssl_certfile"] == str(pair[0]) and callable(kwargs["ssl_context_factory"])


async def _app(scope, receive, send) -> None:  # noqa: ANN001 - a bare ASGI app
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _client(cert: Path, *, max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def test_real_uvicorn_refuses_tls12_and_serves_tls13(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, serving={"tls_cert": pair[0], "tls_key": pair[1]})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(_app, log_level="error", lifespan="off", **uvicorn_ssl_kwargs(settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)

        conn = http.client.HTTPSConnection("127.0.0.1", port, context=_client(pair[0]), timeout=5)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"ok")
        assert conn.sock.version() == "TLSv1.3"
        conn.close()

        old = _client(pair[0], max_version=ssl.TLSVersion.TLSv1_2)
        with pytest.raises(ssl.SSLError):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with old.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
