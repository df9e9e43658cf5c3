"""The middleware in front of every route: request id, body limits, security headers, metrics.

For each HTTP request, before any route sees it:

- a request id (``X-Request-ID`` on the answer, ``scope["state"]["request_id"]``);
- the body read in full, counting as it comes (a missing or false Content-Length cannot
  get past ``serving.max_body_bytes``: 413) and within ``serving.body_timeout_seconds``
  of the headers (a client that trickles its body is answered 408 and its connection
  closed), then kept for the dead-letter table;
- a body sent to the API (``/v1/``) that is not JSON (another ``Content-Type``) or is
  compressed (a ``Content-Encoding``) refused with 415 saying so: read as JSON it was a
  puzzling 422 ("input should be a valid dictionary"), or garbage (the dashboard's login
  form is not the API's);
- a JSON body holding a non-finite number or a NUL character refused with 422 naming the
  field, and one whose bytes are not UTF-8 refused with 400 as a syntax error is
  (:mod:`greenscore.serving.json_guard` says why one rule), so nothing of it is stored;
- the security headers of :mod:`greenscore.serving.security_headers` on every answer;
- the request's route, status and latency counted in the metrics.

Pure ASGI rather than ``BaseHTTPMiddleware``, which costs a task and a stream per request.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from greenscore.serving.json_guard import unreadable_json, unsafe_json_errors
from greenscore.serving.monitoring import Monitor
from greenscore.serving.security_headers import security_headers, with_security_headers
from greenscore.serving.service import new_request_id

BODY_TOO_LARGE = "request body is over {limit} bytes (serving.max_body_bytes)"
BODY_TOO_SLOW = "request body not received within {seconds:g} s (serving.body_timeout_seconds)"
NOT_JSON_TYPE = "the body must be JSON: send Content-Type: application/json, not '{media}'"
ENCODED = "Content-Encoding '{encoding}' is not accepted: send the body uncompressed"
#: Routes whose bodies must be (uncompressed) JSON.
API_PREFIX = "/v1/"
#: Where the body read by the guard is kept in the ASGI scope (for the dead-letter table).
BODY_KEY = "greenscore.body"


class RequestGuard:
    """Pure ASGI middleware; see the module docstring.

    Parameters
    ----------
    app : ASGI app
    monitor : Monitor
    max_body : int
        Most bytes of a request body.
    body_timeout : float
        Seconds the whole body may take to arrive.
    tls : bool
        Whether the service terminates TLS itself (adds ``Strict-Transport-Security``).
    """

    def __init__(
        self, app: Any, *, monitor: Monitor, max_body: int, body_timeout: float, tls: bool
    ) -> None:
        self.app = app
        self.monitor = monitor
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.headers = security_headers(tls=tls)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        length = _content_length(scope)
        if length is not None and length > self.max_body:
            await self._refuse(send, request_id, 413, _too_large(self.max_body, request_id))
            self._observe(scope, 413, started)
            return
        chunks: list[bytes] = []
        seen = 0
        disconnected = False
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        disconnected = True
                        break
                    body = message.get("body", b"")
                    seen += len(body)
                    if seen > self.max_body:
                        await self._refuse(
                            send, request_id, 413, _too_large(self.max_body, request_id)
                        )
                        self._observe(scope, 413, started)
                        return
                    chunks.append(body)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await self._refuse(send, request_id, 408, _too_slow(self.body_timeout, request_id))
            self._observe(scope, 408, started)
            return
        raw = b"".join(chunks)
        # The API's routes read JSON only (the dashboard's login is a form).
        api = str(scope.get("path", "")).startswith(API_PREFIX)
        unsupported = _unsupported(scope) if raw and api else None
        if unsupported is not None:
            answer = {
                "error": "UnsupportedMediaTypeError",
                "detail": unsupported,
                "request_id": request_id,
            }
            await self._refuse(send, request_id, 415, answer, close=False)
            self._observe(scope, 415, started)
            return
        unreadable = unreadable_json(raw) if _json_body(scope) else None
        if unreadable is not None:
            answer = {"error": "BadRequestError", "detail": unreadable, "request_id": request_id}
            await self._refuse(send, request_id, 400, answer, close=False)
            self._observe(scope, 400, started)
            return
        errors = unsafe_json_errors(raw)
        if errors:
            await self._refuse(send, request_id, 422, {"detail": errors}, close=False)
            self._observe(scope, 422, started)
            return
        scope[BODY_KEY] = chunks
        replay = [{"type": "http.request", "body": raw, "more_body": False}]

        async def buffered_receive() -> dict:
            if replay:
                return replay.pop()
            if disconnected:
                return {"type": "http.disconnect"}
            return await receive()

        status = 500
        extra = ((b"x-request-id", request_id.encode()),)

        async def tagged_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = with_security_headers(
                    [*message.get("headers", []), *extra], self.headers
                )
            await send(message)

        try:
            await self.app(scope, buffered_receive, tagged_send)
        except Exception:
            status = 503
            raise
        finally:
            self._observe(scope, status, started)

    async def _refuse(
        self, send: Any, request_id: str, status: int, body: dict, *, close: bool = True
    ) -> None:
        """Answer before the app: 413, 408 (closing the connection), 415, 400 or 422."""
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
            (b"x-request-id", request_id.encode()),
        ]
        if close:
            # The rest of the body is not read: the connection cannot carry another request.
            headers.append((b"connection", b"close"))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": with_security_headers(headers, self.headers),
            }
        )
        await send({"type": "http.response.body", "body": data})

    def _observe(self, scope: dict, status: int, started: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        self.monitor.observe_request(
            path, scope.get("method", ""), status, time.perf_counter() - started
        )


def _content_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _header(scope: dict, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value)
    return None


def _unsupported(scope: dict) -> str | None:
    """Why a request's body cannot be read (not JSON, or compressed), or None."""
    if not _json_body(scope):
        media = (_header(scope, b"content-type") or b"").split(b";", 1)[0].strip()
        return NOT_JSON_TYPE.format(media=media.decode("latin-1")[:100])
    encoding = (_header(scope, b"content-encoding") or b"identity").strip().lower()
    if encoding != b"identity":
        return ENCODED.format(encoding=encoding.decode("latin-1")[:100])
    return None


def _json_body(scope: dict) -> bool:
    """Whether the app reads the body as JSON: as FastAPI decides, a JSON media type
    (``application/json``, ``application/*+json``) or none at all."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            main, _, sub = media.partition(b"/")
            return main == b"application" and (sub == b"json" or sub.endswith(b"+json"))
    return True


def _too_large(limit: int, request_id: str) -> dict[str, Any]:
    return {
        "error": "PayloadTooLargeError",
        "detail": BODY_TOO_LARGE.format(limit=limit),
        "request_id": request_id,
    }


def _too_slow(seconds: float, request_id: str) -> dict[str, Any]:
    return {
        "error": "RequestTimeoutError",
        "detail": BODY_TOO_SLOW.format(seconds=seconds),
        "request_id": request_id,
    }
