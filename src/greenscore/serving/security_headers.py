"""The security headers on every answer of the scoring service.

- ``X-Content-Type-Options: nosniff``: a browser must not guess a JSON answer is a page.
- ``Cache-Control: no-store``: answers carry decisions, probabilities of default and
  applicants' reasons; no browser, proxy or CDN may keep one. The documentation's static
  assets set their own (cacheable) header and keep it.
- ``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'``: an API answer
  is never a document that may load anything or be framed. The documentation pages send
  their own policy (:mod:`greenscore.serving.docs`), which is kept.
- ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``;
  ``Referrer-Policy: no-referrer``.
- ``Strict-Transport-Security`` when the service itself terminates TLS
  (``serving.tls_cert``).

A header the answer already has is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Seconds browsers remember to use HTTPS only (one year).
HSTS_SECONDS = 31_536_000

_COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def security_headers(*, tls: bool) -> tuple[tuple[bytes, bytes], ...]:
    """The headers (lower-case ASGI pairs) every answer gets."""
    if not tls:
        return _COMMON
    return (*_COMMON, (b"strict-transport-security", f"max-age={HSTS_SECONDS}".encode()))


def with_security_headers(
    headers: Iterable[tuple[bytes, bytes]], defaults: tuple[tuple[bytes, bytes], ...]
) -> list[tuple[bytes, bytes]]:
    """``headers`` plus each of ``defaults`` whose name they do not already have."""
    out = list(headers)
    present = {name.lower() for name, _ in out}
    out.extend(pair for pair in defaults if pair[0] not in present)
    return out
