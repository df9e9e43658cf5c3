"""TLS for the scoring service: TLS 1.3 only, and a self-signed pair for local use.

uvicorn builds its own ``SSLContext`` from file names and has no minimum-version option;
since uvicorn 0.47 it accepts ``ssl_context_factory``, through which
:func:`uvicorn_ssl_kwargs` raises the floor to TLS 1.3 on uvicorn's own context (so its
ALPN and cipher settings stay as they are).
"""

from __future__ import annotations

import inspect
import ipaddress
import os
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from greenscore.config import Settings
from greenscore.errors import ConfigError

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
UVICORN_TOO_OLD = (
    "uvicorn {version} cannot force TLS 1.3; install uvicorn>=0.47 (ssl_context_factory)"
)
HALF_CONFIGURED = "settings 'serving.tls_cert' and 'serving.tls_key' must be set together"


def _require_tls13() -> None:
    if not ssl.HAS_TLSv1_3:
        raise ConfigError(f"this Python's OpenSSL ({ssl.OPENSSL_VERSION}) has no TLS 1.3")


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context that refuses anything older than TLS 1.3.

    Parameters
    ----------
    cert, key : Path
        PEM certificate (chain) and private key.

    Raises
    ------
    ConfigError
        If a file is missing or the pair cannot be loaded, or OpenSSL lacks TLS 1.3.
    """
    _require_tls13()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    _load_pair(ctx, Path(cert), Path(key))
    return ctx


def _load_pair(ctx: ssl.SSLContext, cert: Path, key: Path) -> None:
    for label, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            raise ConfigError(f"TLS {label} file not found: {path}")
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        raise ConfigError(f"TLS certificate {cert} and key {key} cannot be loaded: {exc}") from exc


def generate_self_signed(out_dir: Path, host: str = "localhost") -> tuple[Path, Path]:
    """Write a self-signed leaf certificate and key (EC P-256, one year) for ``host``.

    For local use and tests; production certificates come from the bank's CA. The
    certificate is a server leaf (``CA:FALSE``; key usage digitalSignature and
    keyEncipherment; extended key usage serverAuth; the host in subjectAltName), so a
    client told to trust it trusts this server only.

    Parameters
    ----------
    out_dir : Path
        Folder to write ``cert.pem`` and ``key.pem`` (key readable by the owner only).
    host : str
        DNS name or IP address the certificate is for; ``localhost`` also covers
        ``127.0.0.1`` and ``::1``.

    Returns
    -------
    (cert_path, key_path) : tuple of Path
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    if host == "localhost":
        names += [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, host),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GreenScore (self-signed)"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # A leaf: it may identify this server, never sign other certificates. A CA:TRUE
        # certificate trusted by a client would let its key vouch for any host.
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = out_dir / CERT_FILE, out_dir / KEY_FILE
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # Create the key file owner-only from the start rather than chmod after writing it.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    os.chmod(key_path, 0o600)
    return cert_path, key_path


def tls13_context_factory(
    config: Any, default_factory: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    """uvicorn ``ssl_context_factory``: uvicorn's own context with TLS 1.3 as the minimum.

    Module-level so uvicorn can pickle it into worker processes.
    """
    ctx = default_factory()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def uvicorn_ssl_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` serving TLS 1.3 only.

    Parameters
    ----------
    settings : Settings
        Reads ``serving.tls_cert`` and ``serving.tls_key``.

    Returns
    -------
    dict
        ``ssl_certfile``, ``ssl_keyfile`` and ``ssl_context_factory``; empty when no
        certificate is configured (plain HTTP, e.g. behind a TLS-terminating proxy).

    Raises
    ------
    ConfigError
        If only one of cert/key is set, a file is unreadable, or uvicorn is too old to
        force TLS 1.3.
    """
    cert, key = settings.serving.tls_cert, settings.serving.tls_key
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise ConfigError(HALF_CONFIGURED)
    # Load once here so a bad file fails at startup with our message, not uvicorn's.
    server_ssl_context(Path(cert), Path(key))
    import uvicorn

    if "ssl_context_factory" not in inspect.signature(uvicorn.Config).parameters:
        raise ConfigError(UVICORN_TOO_OLD.format(version=uvicorn.__version__))
    return {
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
        "ssl_context_factory": tls13_context_factory,
    }
