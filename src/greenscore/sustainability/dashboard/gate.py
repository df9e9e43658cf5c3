"""The dashboard's door: operator login with an MFA token, and the page's security headers.

An ASGI wrapper around the dashboard. With ``require_login`` (always inside the API, and
for ``greenscore dashboard`` on a non-loopback address) every request needs a GreenScore
bearer token that carries the ``mfa`` claim and a role allowed ``models:read`` (analyst or
admin): the one ``greenscore tokens issue --user NAME --totp CODE`` gives an operator
(docs/security.md). A browser pastes it once into ``login``; it is kept in an HttpOnly,
SameSite=Strict cookie scoped to the dashboard's path for the token's own lifetime, and
checked again (signature, expiry, key not retired) on every request. Scripts and API
clients may send ``Authorization: Bearer`` instead.

Every answer gets a Content-Security-Policy that allows only the dashboard's own scripts
(Dash's inline bootstrap by its hash), styles (Plotly sets inline styles) and requests,
plus ``no-store``, ``nosniff``, no framing and no referrer. The API's own security
headers leave a header an answer already has as it is, so these hold under the API too.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import anyio

from greenscore.config import Settings
from greenscore.errors import AuthError
from greenscore.logging import get_logger

log = get_logger(__name__)

COOKIE = "greenscore_dashboard"
ACTION = "models:read"
NO_TOKEN = "the dashboard needs an operator token (greenscore tokens issue --user NAME --totp CODE)"
NO_MFA = "the dashboard needs a token issued after a second factor (greenscore tokens issue --user NAME --totp CODE)"
MAX_LOGIN_BYTES = 16_384

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def page_headers(csp_hashes: list[str], *, tls: bool) -> list[tuple[bytes, bytes]]:
    """Security headers of every dashboard answer."""
    scripts = " ".join(["'self'", *csp_hashes])
    csp = (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    )
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if tls:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


def check_token(token: str, settings: Settings) -> Any:
    """The principal of an operator token allowed to read the dashboard.

    Raises
    ------
    AuthError
        If the token is invalid or expired, carries no second factor, or its role may
        not read models (:class:`~greenscore.errors.PermissionDeniedError`).
    """
    from greenscore.security.rbac import authorize
    from greenscore.security.tokens import verify_token

    principal = verify_token(token, settings=settings)
    if not principal.mfa_verified:
        raise AuthError(NO_MFA)
    authorize(principal, ACTION)
    return principal


def _login_page(prefix: str, message: str = "") -> bytes:
    note = f'<p style="color:#b3261e">{html.escape(message)}</p>' if message else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>GreenScore dashboard: operator login</title></head>"
        '<body style="font-family:system-ui,sans-serif;max-width:40em;margin:3em auto">'
        "<h1>GreenScore dashboard</h1>"
        "<p>Paste an operator token: <code>greenscore tokens issue --user NAME --totp CODE</code>.</p>"
        f"{note}"
        f'<form method="post" action="{html.escape(prefix)}login">'
        '<textarea name="token" rows="5" cols="70" required></textarea><br>'
        '<button type="submit">Open the dashboard</button></form></body></html>'
    ).encode()


class OperatorGate:
    """ASGI wrapper: security headers always; operator login when ``require_login``.

    Parameters
    ----------
    app : ASGI app (the dashboard through a2wsgi).
    settings : whose keyring verifies tokens and whose audit chain records logins.
    prefix : path of the dashboard as the browser sees it, ending in ``/``.
    require_login : whether requests need an operator token.
    csp_hashes : hashes of the page's inline scripts (``dash_app.csp_hashes()``).
    tls : whether the site is served over HTTPS (cookie ``Secure``, HSTS).
    """

    def __init__(
        self,
        app: Any,
        *,
        settings: Settings,
        prefix: str,
        require_login: bool,
        csp_hashes: list[str],
        tls: bool = False,
    ) -> None:
        self.app = app
        self.settings = settings
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.require_login = require_login
        self.tls = tls
        self.headers = page_headers(csp_hashes, tls=tls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"][len(root) :] if scope["path"].startswith(root) else scope["path"]
        if self.require_login:
            if path == "/login":
                await self._login(scope, receive, send)
                return
            if path == "/logout":
                await self._answer(
                    send, 303, b"", location=self.prefix + "login", cookie=self._cookie("", 0)
                )
                return
            denied = await self._denied(scope)
            if denied is not None:
                if scope["method"] == "GET" and b"text/html" in _header(scope, b"accept"):
                    await self._answer(send, 303, b"", location=self.prefix + "login")
                else:
                    body = json.dumps({"detail": denied.message}).encode()
                    await self._answer(
                        send, denied.http_status, body, content_type=b"application/json"
                    )
                return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    pair for pair in self.headers if pair[0] not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _denied(self, scope: Scope) -> AuthError | None:
        """Why the request may not pass (401 or 403), or None."""
        token = _bearer(scope) or _cookies(scope).get(COOKIE)
        if not token:
            return AuthError(NO_TOKEN)
        try:
            await anyio.to_thread.run_sync(check_token, token, self.settings)
        except AuthError as exc:
            return exc
        return None

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await self._answer(
                send, 200, _login_page(self.prefix), content_type=b"text/html; charset=utf-8"
            )
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_LOGIN_BYTES:
                await self._answer(send, 413, b"login form too large")
                return
            if not message.get("more_body"):
                break
        token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0].strip()
        try:
            principal = await anyio.to_thread.run_sync(check_token, token, self.settings)
        except AuthError as exc:
            page = _login_page(self.prefix, exc.message)
            await self._answer(
                send, exc.http_status, page, content_type=b"text/html; charset=utf-8"
            )
            return
        import jwt

        expires = int(jwt.decode(token, options={"verify_signature": False}).get("exp", 0))
        await anyio.to_thread.run_sync(_audit_login, principal, self.settings)
        cookie = self._cookie(token, max(expires - int(time.time()), 0))
        await self._answer(send, 303, b"", location=self.prefix, cookie=cookie)

    def _cookie(self, value: str, max_age: int) -> bytes:
        parts = [
            f"{COOKIE}={value}",
            f"Path={self.prefix}",
            f"Max-Age={max_age}",
            "HttpOnly",
            "SameSite=Strict",
        ]
        if self.tls:
            parts.append("Secure")
        return "; ".join(parts).encode()

    async def _answer(
        self,
        send: Send,
        status: int,
        body: bytes,
        *,
        content_type: bytes = b"text/plain; charset=utf-8",
        location: str | None = None,
        cookie: bytes | None = None,
    ) -> None:
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if location is not None:
            headers.append((b"location", location.encode()))
        if cookie is not None:
            headers.append((b"set-cookie", cookie))
        headers += self.headers
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _audit_login(principal: Any, settings: Settings) -> None:
    from greenscore.security.audit import record_event

    record_event(
        "dashboard.login", actor=principal.id, details={"role": principal.role}, settings=settings
    )


def _header(scope: Scope, name: bytes) -> bytes:
    return b",".join(v for k, v in scope.get("headers", []) if k.lower() == name)


def _bearer(scope: Scope) -> str | None:
    value = _header(scope, b"authorization").decode("latin-1")
    return value[7:].strip() if value.lower().startswith("bearer ") else None


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(_header(scope, b"cookie").decode("latin-1").replace(",", ";"))
    except Exception:  # noqa: BLE001 - a malformed cookie header is no cookie
        return {}
    return {k: m.value for k, m in jar.items()}
